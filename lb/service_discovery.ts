/**
 * The {@linkcode ServiceDiscovery} contract and {@linkcode StaticDiscovery}.
 *
 * @module
 */

import { Backend } from "./backend.ts";

/** What a discovery found. */
export interface Discovered {
  /** The current backends. */
  backends: readonly Backend[];
  /** Per-address enablement; addresses not listed keep their current state. */
  enabled?: ReadonlyMap<string, boolean>;
}

/**
 * Finds the current backends. `discover()` is called on every update; an
 * implementation that cannot answer rejects, or returns its last good answer
 * and reports the error its own way.
 *
 * @example A discovery of your own
 * ```ts
 * import type { ServiceDiscovery } from "@cirque/lb/service-discovery";
 * import { Backend, LoadBalancer, RoundRobin } from "@cirque/lb";
 * import assert from "node:assert/strict";
 *
 * const registry: ServiceDiscovery = {
 *   discover: () => Promise.resolve({ backends: [new Backend("127.0.0.1:9000", { weight: 5 })] }),
 * };
 * const lb = new LoadBalancer(new RoundRobin(), registry);
 * await lb.update();
 * assert.equal(lb.select()?.weight, 5);
 * ```
 */
export interface ServiceDiscovery {
  /** Returns the current backends. */
  discover(signal?: AbortSignal): Promise<Discovered>;
}

/**
 * A fixed set of backends that can be replaced at run time with `set()`.
 *
 * @example
 * ```ts
 * import { StaticDiscovery } from "@cirque/lb/service-discovery";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const discovery = new StaticDiscovery([new Backend("127.0.0.1:1")]);
 * discovery.set([new Backend("127.0.0.1:2", { weight: 3 })]);
 * assert.equal((await discovery.discover()).backends[0]?.weight, 3);
 * ```
 */
export class StaticDiscovery implements ServiceDiscovery {
  #backends: readonly Backend[];

  /** Starts with `backends`. */
  constructor(backends: readonly Backend[]) {
    this.#backends = [...backends];
  }

  /** Builds from addresses, each with weight 1. */
  static fromAddresses(addresses: Iterable<string>): StaticDiscovery {
    return new StaticDiscovery([...addresses].map((a) => new Backend(a)));
  }

  /** Replaces the set; the next update picks it up. */
  set(backends: readonly Backend[]): void {
    this.#backends = [...backends];
  }

  /** The current set. */
  get(): readonly Backend[] {
    return this.#backends;
  }

  /** Returns the current set. */
  discover(): Promise<Discovered> {
    return Promise.resolve({ backends: this.#backends });
  }
}
