/**
 * {@linkcode RoundRobin}: weighted round robin, as Pingora's `RoundRobin`.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { BackendIter, BackendSelection } from "./backend_selection.ts";
import { buildWeighted, EMPTY_TABLE, type WeightedTable } from "./_weighted.ts";

/** The counter shared by a RoundRobin and its iterators. */
interface Counter {
  value: number;
}

class RoundRobinIter implements BackendIter {
  #counter: Counter;
  #table: WeightedTable;
  #first = true;

  constructor(counter: Counter, table: WeightedTable) {
    this.#counter = counter;
    this.#table = table;
  }

  next(): Backend | undefined {
    const { backends, weighted } = this.#table;
    if (backends.length === 0) return undefined;
    const n = this.#counter.value;
    this.#counter.value = n >= Number.MAX_SAFE_INTEGER ? 0 : n + 1;
    if (this.#first) {
      this.#first = false;
      return backends[weighted[n % weighted.length]!];
    }
    return backends[n % backends.length];
  }
}

/**
 * Weighted round robin: one shared counter; the first pick walks the
 * weight-expanded list (`[a, a, a, b, c]` for weights 3, 1, 1), fallbacks
 * walk the plain list and advance the same counter. The key is ignored.
 *
 * @example
 * ```ts
 * import { RoundRobin } from "@cirque/lb/round-robin";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const rr = new RoundRobin();
 * rr.build([new Backend("127.0.0.1:1", { weight: 2 }), new Backend("127.0.0.1:2")]);
 * const picks = [0, 1, 2].map(() => rr.select("").next()?.address);
 * assert.deepEqual(picks, ["127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:2"]);
 * ```
 */
export class RoundRobin implements BackendSelection {
  #table: WeightedTable = EMPTY_TABLE;
  #counter: Counter = { value: 0 };

  /** Replaces the backend set (the counter carries on). */
  build(backends: readonly Backend[]): void {
    this.#table = buildWeighted(backends);
  }

  /** Starts a failover sequence; `key` is ignored. */
  select(_key: string | Uint8Array): BackendIter {
    return new RoundRobinIter(this.#counter, this.#table);
  }
}
