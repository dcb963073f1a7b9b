// deno bench -A cache/tinyufo_bench.ts
/**
 * Throughput of TinyUFO, Cirque's Lru and npm `lru-cache`, after Pingora's
 * `tinyufo/benches/bench_perf.rs` (single-threaded here: one isolate, one core).
 * Each bench call runs {@linkcode BATCH} operations, so ops/s = BATCH / time per call.
 *
 * @module
 */

import { LRUCache } from "lru-cache";
import { Lru } from "./lru.ts";
import { TinyUfo } from "./tinyufo.ts";
import { zipfSamples } from "./bench/_workload.ts";

const BATCH = 1000;
const STREAM = 1 << 20;

function stream(): () => number {
  let at = 0;
  return () => {
    const start = at;
    at = (at + BATCH) % STREAM;
    return start;
  };
}

// Pure read: 100 keys, all cached, Zipf(100, 1.03) reads.
const READ_ITEMS = 100;
const readKeys = zipfSamples(READ_ITEMS, 1.03, STREAM, 1);
const readUfo = new TinyUfo<number, number>({ weightLimit: 110, estimatedSize: 10, seed: 1 });
const readLru = new Lru<number, number>({ weightLimit: 110 });
const readNpm = new LRUCache<number, number>({ max: 110 });
for (let k = 1; k <= READ_ITEMS; k++) {
  readUfo.put(k, k, 1);
  readLru.admit(k, k, 1);
  readNpm.set(k, k);
}
const readNext = stream();
let sink = 0;

Deno.bench("TinyUfo get", { group: "read 100 items", n: 20_000 }, () => {
  const s = readNext();
  for (let i = s; i < s + BATCH; i++) sink += readUfo.get(readKeys[i]!)!;
});
Deno.bench("Lru get", { group: "read 100 items", n: 20_000 }, () => {
  const s = readNext();
  for (let i = s; i < s + BATCH; i++) sink += readLru.get(readKeys[i]!)!;
});
Deno.bench("lru-cache get", { group: "read 100 items", baseline: true, n: 20_000 }, () => {
  const s = readNext();
  for (let i = s; i < s + BATCH; i++) sink += readNpm.get(readKeys[i]!)!;
});

// Mixed: 1,000-entry caches over 10,000 keys, Zipf 1.3, get then put on miss.
const CACHE = 1000;
const mixKeys = zipfSamples(10_000, 1.3, STREAM, 2);
const mixUfo = new TinyUfo<number, number>({ weightLimit: CACHE, estimatedSize: CACHE, seed: 1 });
const mixLru = new Lru<number, number>({ weightLimit: CACHE });
const mixNpm = new LRUCache<number, number>({ max: CACHE });
const mixNext = stream();

Deno.bench("TinyUfo get/put", { group: "mixed zipf 1.3", n: 20_000 }, () => {
  const s = mixNext();
  for (let i = s; i < s + BATCH; i++) {
    const k = mixKeys[i]!;
    if (mixUfo.get(k) === undefined) mixUfo.put(k, k, 1);
  }
});
Deno.bench("Lru get/admit", { group: "mixed zipf 1.3", n: 20_000 }, () => {
  const s = mixNext();
  for (let i = s; i < s + BATCH; i++) {
    const k = mixKeys[i]!;
    if (mixLru.get(k) === undefined) {
      mixLru.admit(k, k, 1);
      mixLru.evictToLimit();
    }
  }
});
Deno.bench("lru-cache get/set", { group: "mixed zipf 1.3", baseline: true, n: 20_000 }, () => {
  const s = mixNext();
  for (let i = s; i < s + BATCH; i++) {
    const k = mixKeys[i]!;
    if (mixNpm.get(k) === undefined) mixNpm.set(k, k);
  }
});

globalThis.addEventListener("unload", () => {
  if (sink === -1) console.log(sink);
});
