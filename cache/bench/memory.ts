// deno run -A --v8-flags=--expose-gc cache/bench/memory.ts [--entries 1000000]
/**
 * Memory per entry of TinyUFO, Cirque's Lru and npm `lru-cache` holding N
 * entries with small-integer keys and a shared value (so only the cache's own
 * bookkeeping is measured): V8 heap plus ArrayBuffer memory after a full GC.
 *
 * @module
 */

import { LRUCache } from "lru-cache";
import { Lru } from "../lru.ts";
import { TinyUfo } from "../tinyufo.ts";

const i = Deno.args.indexOf("--entries");
const N = i < 0 ? 1_000_000 : Number(Deno.args[i + 1]);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Cannot measure: run with --v8-flags=--expose-gc");

function used(): number {
  gc!();
  gc!();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

function measure(name: string, build: () => unknown, note = ""): void {
  const before = used();
  const kept = build();
  const after = used();
  const per = (after - before) / N;
  console.log(`${name.padEnd(40)} ${per.toFixed(1).padStart(7)} B/entry ${note}`);
  if (kept === null) console.log("unreachable");
}

console.log(`${N} entries, number keys, shared value`);
measure("TinyUfo (estimatedSize = N)", () => {
  const c = new TinyUfo<number, boolean>({ weightLimit: N, estimatedSize: N, seed: 1 });
  for (let k = 0; k < N; k++) c.forcePut(k, true, 1);
  return c;
}, "(includes the count-min sketch)");
measure("TinyUfo (estimatedSize = N / 100)", () => {
  const c = new TinyUfo<number, boolean>({
    weightLimit: N,
    estimatedSize: Math.max(1, N / 100),
    seed: 1,
  });
  for (let k = 0; k < N; k++) c.forcePut(k, true, 1);
  return c;
}, "(sketch ~1% of the above)");
measure("Lru", () => {
  const c = new Lru<number, boolean>({ weightLimit: N });
  for (let k = 0; k < N; k++) c.admit(k, true, 1);
  return c;
});
measure("lru-cache", () => {
  const c = new LRUCache<number, boolean>({ max: N });
  for (let k = 0; k < N; k++) c.set(k, true);
  return c;
});
measure("Map<number, boolean> (floor)", () => {
  const m = new Map<number, boolean>();
  for (let k = 0; k < N; k++) m.set(k, true);
  return m;
});
