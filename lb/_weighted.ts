// Shared table of Pingora's `Weighted<H>` selection: backends in Backend.compare
// order, and an index array repeating each backend `weight` times.

import { Backend } from "./backend.ts";

/** The built state of a weighted selection. */
export interface WeightedTable {
  backends: readonly Backend[];
  weighted: Uint32Array;
}

/** An empty table. */
export const EMPTY_TABLE: WeightedTable = { backends: [], weighted: new Uint32Array(0) };

/** Sorts the backends and expands weights. */
export function buildWeighted(input: readonly Backend[]): WeightedTable {
  const backends = [...input].sort(Backend.compare);
  let total = 0;
  for (const b of backends) total += b.weight;
  const weighted = new Uint32Array(total);
  let n = 0;
  for (let i = 0; i < backends.length; i++) {
    for (let w = backends[i]!.weight; w > 0; w--) weighted[n++] = i;
  }
  return { backends, weighted };
}

/** (hi·2³² + lo) mod n for 32-bit hi/lo and n < 2²¹. */
export function mod64(hi: number, lo: number, n: number): number {
  return ((hi % n) * (4294967296 % n) + (lo % n)) % n;
}
