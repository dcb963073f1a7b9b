/**
 * {@linkcode Random}: weighted random selection.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { BackendIter, BackendSelection } from "./backend_selection.ts";
import { buildWeighted, EMPTY_TABLE, type WeightedTable } from "./_weighted.ts";

/** Options of {@linkcode Random}. */
export interface RandomOptions {
  /**
   * Source of uniform numbers in [0, 1) (inject a seeded one in tests).
   * @default {Math.random}
   */
  random?: () => number;
}

class RandomIter implements BackendIter {
  #table: WeightedTable;
  #random: () => number;
  #first = true;

  constructor(table: WeightedTable, random: () => number) {
    this.#table = table;
    this.#random = random;
  }

  next(): Backend | undefined {
    const { backends, weighted } = this.#table;
    if (backends.length === 0) return undefined;
    if (this.#first) {
      this.#first = false;
      return backends[weighted[Math.floor(this.#random() * weighted.length)]!];
    }
    return backends[Math.floor(this.#random() * backends.length)];
  }
}

/**
 * Weighted random: the first pick is drawn in proportion to weight,
 * fallbacks uniformly (as Pingora's `Random`). The key is ignored.
 *
 * @example
 * ```ts
 * import { Random } from "@cirque/lb/random";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const random = new Random({ random: () => 0.99 });
 * random.build([new Backend("127.0.0.1:1"), new Backend("127.0.0.1:2", { weight: 3 })]);
 * assert.equal(random.select("").next()?.address, "127.0.0.1:2");
 * ```
 */
export class Random implements BackendSelection {
  #table: WeightedTable = EMPTY_TABLE;
  #random: () => number;

  /** Creates the algorithm. */
  constructor(options: RandomOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  /** Replaces the backend set. */
  build(backends: readonly Backend[]): void {
    this.#table = buildWeighted(backends);
  }

  /** Starts a failover sequence; `key` is ignored. */
  select(_key: string | Uint8Array): BackendIter {
    return new RandomIter(this.#table, this.#random);
  }
}
