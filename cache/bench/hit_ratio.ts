// deno run -A cache/bench/hit_ratio.ts [--ops 5000000] [--seed 1] [--zipf 1.0] [--json out.json]
/**
 * Reproduces TinyUFO's published hit-ratio experiment (Pingora's
 * `tinyufo/benches/bench_hit_ratio.rs`): 10,000 keys, Zipf over ranks 1..10,000,
 * cache sizes 0.5–25% of the keys, get-then-put-on-miss. Prints Cirque TinyUFO,
 * Cirque LRU and npm `lru-cache` beside the published TinyUFO and LRU figures,
 * and checks the targets (TinyUFO within ±1.5 pp of the published figure in every
 * cell; ahead of LRU in every cell with zipf ≤ 1.1).
 *
 * @module
 */

import { LRUCache } from "lru-cache";
import { Lru } from "../lru.ts";
import { TinyUfo } from "../tinyufo.ts";
import { zipfSamples } from "./_workload.ts";

const ITEMS = 10_000;
const EXPONENTS = [0.9, 1.0, 1.05, 1.1, 1.5];
const SIZES = [0.005, 0.01, 0.05, 0.1, 0.25];

/** Published figures (latest run recorded in bench_hit_ratio.rs): [lru, tinyufo] in %. */
const PUBLISHED: Record<string, [number, number]> = {
  "0.9/0.005": [19.24, 33.35],
  "0.9/0.01": [26.23, 40.06],
  "0.9/0.05": [45.58, 57.80],
  "0.9/0.1": [55.72, 66.36],
  "0.9/0.25": [71.16, 78.53],
  "1/0.005": [31.08, 45.15],
  "1/0.01": [39.17, 52.30],
  "1/0.05": [58.71, 68.79],
  "1/0.1": [67.59, 75.92],
  "1/0.25": [79.94, 85.28],
  "1.05/0.005": [37.66, 51.12],
  "1.05/0.01": [46.07, 58.41],
  "1.05/0.05": [65.06, 73.93],
  "1.05/0.1": [73.13, 80.24],
  "1.05/0.25": [83.74, 88.14],
  "1.1/0.005": [44.49, 57.28],
  "1.1/0.01": [52.97, 64.24],
  "1.1/0.05": [70.95, 78.55],
  "1.1/0.1": [78.05, 84.01],
  "1.1/0.25": [87.12, 90.66],
  "1.5/0.005": [85.27, 89.69],
  "1.5/0.01": [89.86, 92.94],
  "1.5/0.05": [96.01, 97.23],
  "1.5/0.1": [97.51, 98.24],
  "1.5/0.25": [98.81, 99.09],
};

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i < 0 ? undefined : Deno.args[i + 1];
}

const ops = Number(arg("ops") ?? 5_000_000);
const seed = Number(arg("seed") ?? 1);
const onlyZipf = arg("zipf");
const jsonOut = arg("json");

function runTinyUfo(keys: Uint32Array, size: number): number {
  const cache = new TinyUfo<number, boolean>({ weightLimit: size, estimatedSize: size, seed });
  let hits = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (cache.get(k) !== undefined) hits++;
    else cache.put(k, true, 1);
  }
  return hits / keys.length;
}

function runLru(keys: Uint32Array, size: number): number {
  const cache = new Lru<number, boolean>({ weightLimit: size });
  let hits = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (cache.get(k) !== undefined) hits++;
    else {
      cache.admit(k, true, 1);
      cache.evictToLimit();
    }
  }
  return hits / keys.length;
}

function runLruCache(keys: Uint32Array, size: number): number {
  const cache = new LRUCache<number, boolean>({ max: size });
  let hits = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (cache.get(k) !== undefined) hits++;
    else cache.set(k, true);
  }
  return hits / keys.length;
}

const pct = (x: number) => (x * 100).toFixed(2).padStart(6) + "%";
const rows: Record<string, unknown>[] = [];
let withinTolerance = 0, aheadOfLru = 0, aheadCells = 0;
const started = performance.now();
console.log(`TinyUFO hit ratio, ${ITEMS} keys, ${ops} ops per cell, seed ${seed}`);
console.log(
  "zipf  size   | published | Cirque TinyUFO   Δpp  | Cirque LRU  lru-cache | published LRU",
);
for (const s of EXPONENTS) {
  if (onlyZipf !== undefined && Number(onlyZipf) !== s) continue;
  const keys = zipfSamples(ITEMS, s, ops, seed);
  for (const f of SIZES) {
    const size = Math.round(f * ITEMS);
    const ufo = runTinyUfo(keys, size);
    const lru = runLru(keys, size);
    const npm = runLruCache(keys, size);
    const [pubLru, pubUfo] = PUBLISHED[`${s}/${f}`]!;
    const delta = ufo * 100 - pubUfo;
    if (Math.abs(delta) <= 1.5) withinTolerance++;
    if (s <= 1.1) {
      aheadCells++;
      if (ufo > lru) aheadOfLru++;
    }
    rows.push({
      zipf: s,
      size: f,
      publishedTinyUfo: pubUfo,
      tinyUfo: ufo * 100,
      lru: lru * 100,
      lruCache: npm * 100,
      publishedLru: pubLru,
    });
    console.log(
      `${s.toFixed(2)}  ${String(f).padEnd(5)}  |  ${pubUfo.toFixed(2).padStart(6)}%  |   ${
        pct(ufo)
      }    ${(delta >= 0 ? "+" : "") + delta.toFixed(2)}  |  ${pct(lru)}   ${pct(npm)}  |   ${
        pubLru.toFixed(2).padStart(6)
      }%`,
    );
  }
}
const cells = rows.length;
console.log(
  `\nTinyUFO within ±1.5 pp of published: ${withinTolerance}/${cells}; ` +
    `ahead of Cirque LRU (zipf ≤ 1.1): ${aheadOfLru}/${aheadCells}; ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s`,
);
if (jsonOut !== undefined) {
  await Deno.writeTextFile(jsonOut, JSON.stringify({ ops, seed, rows }, null, 2));
}
