/**
 * The contract every selection algorithm implements.
 *
 * @module
 */

import type { Backend } from "./backend.ts";

/**
 * A failover sequence of backends: the first call is the pick, later calls
 * are the alternatives. May repeat backends and may never end; wrap it in a
 * {@linkcode UniqueIterator} (or use `LoadBalancer.select`) to bound it.
 */
export interface BackendIter {
  /** The next candidate, or `undefined` when there is none. */
  next(): Backend | undefined;
}

/**
 * A load-balancing algorithm: `build()` takes the current backend set (called
 * again whenever it changes), `select(key)` starts a failover sequence.
 * `select` must be synchronous and cheap: it runs on every request.
 *
 * @example A custom algorithm: always the first backend, then the others
 * ```ts
 * import type { BackendIter, BackendSelection } from "@cirque/lb/backend-selection";
 * import { Backend, LoadBalancer, StaticDiscovery } from "@cirque/lb";
 * import assert from "node:assert/strict";
 *
 * class Primary implements BackendSelection {
 *   #list: readonly Backend[] = [];
 *   build(backends: readonly Backend[]): void {
 *     this.#list = backends;
 *   }
 *   select(): BackendIter {
 *     let i = 0;
 *     return { next: () => this.#list[i++] };
 *   }
 * }
 * const lb = new LoadBalancer(new Primary(), StaticDiscovery.fromAddresses(["127.0.0.1:1", "127.0.0.1:2"]));
 * await lb.update();
 * lb.setEnabled("127.0.0.1:1", false);
 * assert.equal(lb.select()?.address, "127.0.0.1:2");
 * ```
 */
export interface BackendSelection {
  /** Replaces the set of backends to choose from. */
  build(backends: readonly Backend[]): void;
  /** Starts a failover sequence for `key` (ignored by key-less algorithms). */
  select(key: string | Uint8Array): BackendIter;
}
