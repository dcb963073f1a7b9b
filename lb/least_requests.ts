/**
 * {@linkcode LeastRequests}: power-of-two-choices over in-flight requests.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { BackendIter, BackendSelection } from "./backend_selection.ts";
import { buildWeighted, EMPTY_TABLE, type WeightedTable } from "./_weighted.ts";

/** Options of {@linkcode LeastRequests}. */
export interface LeastRequestsOptions {
  /**
   * Source of uniform numbers in [0, 1) (inject a seeded one in tests).
   * @default {Math.random}
   */
  random?: () => number;
  /**
   * How many weighted-random candidates to compare (Envoy's `choice_count`).
   * @default {2}
   */
  choices?: number;
}

class LeastRequestsIter implements BackendIter {
  #backends: readonly Backend[];
  #first: number;
  #step = -1;

  constructor(backends: readonly Backend[], first: number) {
    this.#backends = backends;
    this.#first = first;
  }

  next(): Backend | undefined {
    const n = this.#backends.length;
    if (n === 0) return undefined;
    this.#step++;
    return this.#backends[(this.#first + this.#step) % n];
  }
}

/**
 * Least requests, Envoy's default: draw `choices` candidates in proportion to
 * weight (a draw that repeats the best so far is replaced by a uniform draw
 * among the others) and take the one with the fewest in-flight requests per unit of
 * weight (the first drawn on a tie). Fallbacks walk the remaining backends in
 * order. Report in-flight requests with {@linkcode LeastRequests.start} and
 * {@linkcode LeastRequests.end}; counts survive `build()` for backends that
 * stay.
 *
 * @example
 * ```ts
 * import { LeastRequests } from "@cirque/lb/least-requests";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const lr = new LeastRequests();
 * const b = new Backend("127.0.0.1:1");
 * lr.build([b]);
 * lr.start(b);
 * assert.equal(lr.inflight(b), 1);
 * lr.end(b);
 * assert.equal(lr.inflight(b), 0);
 * ```
 */
export class LeastRequests implements BackendSelection {
  #table: WeightedTable = EMPTY_TABLE;
  #index = new Map<string, number>();
  #inflight = new Int32Array(0);
  #random: () => number;
  #choices: number;

  /** Creates the algorithm. */
  constructor(options: LeastRequestsOptions = {}) {
    this.#random = options.random ?? Math.random;
    this.#choices = options.choices ?? 2;
    if (!Number.isInteger(this.#choices) || this.#choices < 1) {
      throw new RangeError(`Cannot create LeastRequests: choices ${this.#choices} is not >= 1`);
    }
  }

  /** Replaces the backend set, keeping in-flight counts of backends that stay. */
  build(backends: readonly Backend[]): void {
    const table = buildWeighted(backends);
    const index = new Map<string, number>();
    const inflight = new Int32Array(table.backends.length);
    table.backends.forEach((b, i) => {
      index.set(b.address, i);
      const old = this.#index.get(b.address);
      if (old !== undefined) inflight[i] = this.#inflight[old]!;
    });
    this.#table = table;
    this.#index = index;
    this.#inflight = inflight;
  }

  /** Starts a failover sequence; `key` is ignored. */
  select(_key: string | Uint8Array): BackendIter {
    const backends = this.#table.backends;
    return new LeastRequestsIter(backends, backends.length === 0 ? 0 : this.#pick());
  }

  // The index of the least-loaded of `choices` weighted draws.
  #pick(): number {
    const { backends, weighted } = this.#table;
    if (backends.length === 1) return 0;
    let best = weighted[Math.floor(this.#random() * weighted.length)]!;
    let bestLoad = this.#inflight[best]! / backends[best]!.weight;
    for (let c = 1; c < this.#choices; c++) {
      let i = weighted[Math.floor(this.#random() * weighted.length)]!;
      if (i === best) {
        // A repeat is replaced by a uniformly drawn other backend, so two
        // choices always compare two different backends.
        i = (i + 1 + Math.floor(this.#random() * (backends.length - 1))) % backends.length;
      }
      const load = this.#inflight[i]! / backends[i]!.weight;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return best;
  }

  /** Records a request sent to `backend`. Unknown backends are ignored. */
  start(backend: Backend): void {
    const i = this.#index.get(backend.address);
    if (i !== undefined) this.#inflight[i]!++;
  }

  /** Records the end of a request to `backend` (never goes below zero). */
  end(backend: Backend): void {
    const i = this.#index.get(backend.address);
    if (i !== undefined && this.#inflight[i]! > 0) this.#inflight[i]!--;
  }

  /** The in-flight count of `backend` (0 when unknown). */
  inflight(backend: Backend): number {
    const i = this.#index.get(backend.address);
    return i === undefined ? 0 : this.#inflight[i]!;
  }
}
