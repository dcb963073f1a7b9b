/**
 * {@linkcode Consistent}: ketama consistent hashing over backends.
 *
 * @module
 */

import { Backend } from "./backend.ts";
import type { BackendIter, BackendSelection } from "./backend_selection.ts";
import { Continuum, type ContinuumOptions } from "./ketama.ts";

/** Options of {@linkcode Consistent}: those of the ketama {@linkcode Continuum}. */
export type ConsistentOptions = ContinuumOptions;

class ConsistentIter implements BackendIter {
  #ring: Continuum;
  #backends: readonly Backend[];
  #point: number;

  constructor(ring: Continuum, backends: readonly Backend[], key: string | Uint8Array) {
    this.#ring = ring;
    this.#backends = backends;
    this.#point = ring.pointIndex(key);
  }

  next(): Backend | undefined {
    if (this.#point === -1) return undefined;
    const b = this.#backends[this.#ring.bucketAt(this.#point)];
    this.#point = this.#point + 1 === this.#ring.size ? 0 : this.#point + 1;
    return b;
  }
}

/**
 * Ketama consistent hashing (nginx's `hash $key consistent`): the first pick
 * owns the key's ring point, fallbacks walk the ring (repeats included; the
 * load balancer's {@linkcode UniqueIterator} drops them). Unix-socket
 * backends are left off the ring, as in Pingora. Backends are placed in
 * {@linkcode Backend.compare} order, which only matters on a point tie.
 *
 * @example Adding a backend moves only part of the keys
 * ```ts
 * import { Consistent } from "@cirque/lb/consistent";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const ketama = new Consistent();
 * const list = Array.from({ length: 10 }, (_, i) => new Backend(`127.0.0.${i + 1}:6443`));
 * ketama.build(list);
 * assert.equal(ketama.select("a").next()?.address, "127.0.0.10:6443");
 * ketama.build([...list, new Backend("127.0.0.11:6443")]);
 * assert.equal(ketama.select("a").next()?.address, "127.0.0.10:6443");
 * ```
 */
export class Consistent implements BackendSelection {
  #options: ContinuumOptions;
  #ring: Continuum = new Continuum([]);
  #backends: readonly Backend[] = [];

  /** Creates the algorithm; options are passed to each ring. */
  constructor(options: ConsistentOptions = {}) {
    this.#options = options;
  }

  /** Rebuilds the ring. */
  build(backends: readonly Backend[]): void {
    const sorted = backends.filter((b) => b.kind !== "unix").sort(Backend.compare);
    this.#ring = new Continuum(sorted, this.#options);
    this.#backends = sorted;
  }

  /** Starts the ring walk at `key`'s point. */
  select(key: string | Uint8Array): BackendIter {
    return new ConsistentIter(this.#ring, this.#backends, key);
  }
}
