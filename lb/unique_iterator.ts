/**
 * {@linkcode UniqueIterator}: bounds a failover sequence and drops repeats.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { BackendIter } from "./backend_selection.ts";

/**
 * Yields each backend of an inner {@linkcode BackendIter} once (by address), and stops
 * after `maxIterations` inner steps (repeats count as steps), as Pingora's
 * `UniqueIterator` does.
 *
 * @example
 * ```ts
 * import { UniqueIterator } from "@cirque/lb/unique-iterator";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const list = ["127.0.0.1:1", "127.0.0.1:2"].map((a) => new Backend(a));
 * let i = 0;
 * const it = new UniqueIterator({ next: () => list[i++] }, 1);
 * assert.equal(it.next()?.address, "127.0.0.1:1");
 * assert.equal(it.next(), undefined);
 * ```
 */
export class UniqueIterator implements BackendIter {
  #inner: BackendIter;
  #max: number;
  #steps = 0;
  #first: Backend | undefined;
  #seen: Set<string> | undefined;

  /** Wraps `inner`, allowing at most `maxIterations` steps of it. */
  constructor(inner: BackendIter, maxIterations: number) {
    this.#inner = inner;
    this.#max = maxIterations;
  }

  /** The next backend not seen before, or `undefined`. */
  next(): Backend | undefined {
    while (true) {
      const item = this.#inner.next();
      if (item === undefined || this.#steps >= this.#max) return undefined;
      this.#steps++;
      // Allocation-light: most selections stop at the first backend.
      if (this.#first === undefined) {
        this.#first = item;
        return item;
      }
      if (item.address === this.#first.address) continue;
      this.#seen ??= new Set();
      if (this.#seen.has(item.address)) continue;
      this.#seen.add(item.address);
      return item;
    }
  }
}
