// deno run -A cache/bench/loop_throughput.ts [--rounds 60]
/**
 * A second opinion on `tinyufo_bench.ts`: the mixed workload (1,000-entry caches,
 * 10,000 keys, Zipf 1.3, get then put on miss) in a tight loop, keeping the best of
 * N interleaved rounds of 200,000 operations; plus the cost of a `get` and of a
 * `put` of an absent key on the warmed caches, and each cache's miss ratio.
 *
 * @module
 */

import { LRUCache } from "lru-cache";
import { Lru } from "../lru.ts";
import { TinyUfo } from "../tinyufo.ts";
import { zipfSamples } from "./_workload.ts";

const at = Deno.args.indexOf("--rounds");
const ROUNDS = at < 0 ? 60 : Number(Deno.args[at + 1]);
const keys = zipfSamples(10_000, 1.3, 200_000, 2);
const ufo = new TinyUfo<number, number>({ weightLimit: 1000, estimatedSize: 1000, seed: 1 });
const lru = new Lru<number, number>({ weightLimit: 1000 });
const npm = new LRUCache<number, number>({ max: 1000 });
let sink = 0;

function best(fns: Record<string, () => void>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, f] of Object.entries(fns)) {
      const t = performance.now();
      f();
      out[name] = Math.min(out[name] ?? Infinity, performance.now() - t);
    }
  }
  return out;
}

const misses = { ufo: 0, lru: 0, npm: 0 };
const mixed = best({
  "TinyUfo get/put": () => {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (ufo.get(k) === undefined) {
        misses.ufo++;
        ufo.put(k, k, 1);
      }
    }
  },
  "Lru get/admit": () => {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (lru.get(k) === undefined) {
        misses.lru++;
        lru.admit(k, k, 1);
        lru.evictToLimit();
      }
    }
  },
  "lru-cache get/set": () => {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (npm.get(k) === undefined) {
        misses.npm++;
        npm.set(k, k);
      }
    }
  },
});
console.log(`mixed, best of ${ROUNDS} rounds of ${keys.length} ops:`);
for (const [name, ms] of Object.entries(mixed)) {
  console.log(`  ${name.padEnd(18)} ${(keys.length / ms / 1000).toFixed(1).padStart(6)} M ops/s`);
}
const total = ROUNDS * keys.length;
console.log(
  `  miss ratio: TinyUfo ${(misses.ufo / total * 100).toFixed(2)}%, ` +
    `Lru ${(misses.lru / total * 100).toFixed(2)}%, lru-cache ${
      (misses.npm / total * 100).toFixed(2)
    }%`,
);

const parts = best({
  "TinyUfo get": () => {
    for (let i = 0; i < keys.length; i++) sink += ufo.get(keys[i]!) ?? 0;
  },
  "lru-cache get": () => {
    for (let i = 0; i < keys.length; i++) sink += npm.get(keys[i]!) ?? 0;
  },
  "TinyUfo put (absent key)": () => {
    for (let i = 0; i < keys.length; i++) ufo.put(keys[i]! + 20_000 + (i & 1023), i, 1);
  },
  "lru-cache set (absent key)": () => {
    for (let i = 0; i < keys.length; i++) npm.set(keys[i]! + 20_000 + (i & 1023), i);
  },
});
console.log("per operation on the warmed caches:");
for (const [name, ms] of Object.entries(parts)) {
  console.log(`  ${name.padEnd(26)} ${(ms / keys.length * 1e6).toFixed(1).padStart(6)} ns`);
}
if (sink === -1) console.log(sink);
