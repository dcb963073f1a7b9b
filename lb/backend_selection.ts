/**
 * The contract every selection algorithm implements.
 *
 * @example
 * ```ts
 * import type { BackendSelection } from "@cirque/lb/backend-selection";
 * import { Backend, RoundRobin } from "@cirque/lb";
 * import assert from "node:assert/strict";
 *
 * const selection: BackendSelection = new RoundRobin();
 * selection.build([new Backend("127.0.0.1:80")]);
 * assert.equal(selection.select("").next()?.address, "127.0.0.1:80");
 * ```
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
 */
export interface BackendSelection {
  /** Replaces the set of backends to choose from. */
  build(backends: readonly Backend[]): void;
  /** Starts a failover sequence for `key` (ignored by key-less algorithms). */
  select(key: string | Uint8Array): BackendIter;
}
