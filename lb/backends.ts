/**
 * {@linkcode Backends}: the discovered set plus health and enablement.
 *
 * @module
 */

import { Backend } from "./backend.ts";
import { Health, type HealthCheck } from "./health_check.ts";
import type { ServiceDiscovery } from "./service_discovery.ts";

/** Options of {@linkcode Backends}. */
export interface BackendsOptions {
  /** Health check run by {@linkcode Backends.runHealthCheck}. */
  healthCheck?: HealthCheck;
  /**
   * Clock in milliseconds, recorded as `Health.lastCheckedAt`.
   * @default {Date.now}
   */
  now?: () => number;
}

/** Options of {@linkcode Backends.runHealthCheck}. */
export interface RunHealthCheckOptions {
  /**
   * Check all backends at once rather than one after another.
   * @default {false}
   */
  parallel?: boolean;
  /** Aborts the checks in progress. */
  signal?: AbortSignal;
}

function sameSet(a: readonly Backend[], b: readonly Backend[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.address !== y.address || x.weight !== y.weight) return false;
    if (x.metadata !== y.metadata && JSON.stringify(x.metadata) !== JSON.stringify(y.metadata)) {
      return false;
    }
  }
  return true;
}

/**
 * The backends of one load balancer: discovery results (sorted with
 * {@linkcode Backend.compare}, one per address: the first discovered wins), the
 * {@linkcode Health} of each, and operator enablement. New backends start
 * healthy, as in Pingora.
 *
 * @example
 * ```ts
 * import { Backends } from "@cirque/lb/backends";
 * import { StaticDiscovery } from "@cirque/lb/service-discovery";
 * import assert from "node:assert/strict";
 *
 * const backends = new Backends(StaticDiscovery.fromAddresses(["127.0.0.1:1"]), {
 *   healthCheck: { check: () => Promise.reject(new Error("down")), healthThreshold: () => 1 },
 * });
 * await backends.update();
 * await backends.runHealthCheck();
 * assert.equal(backends.health("127.0.0.1:1")?.healthy, false);
 * ```
 */
export class Backends {
  #discovery: ServiceDiscovery;
  #healthCheck: HealthCheck | undefined;
  #now: () => number;
  #items: readonly Backend[] = [];
  #health = new Map<string, Health>();

  /** Creates an empty set; call {@linkcode Backends.update} to fill it. */
  constructor(discovery: ServiceDiscovery, options: BackendsOptions = {}) {
    this.#discovery = discovery;
    this.#healthCheck = options.healthCheck;
    this.#now = options.now ?? Date.now;
  }

  /** The current backends, sorted. */
  get items(): readonly Backend[] {
    return this.#items;
  }

  /** The health check, if any. */
  get healthCheck(): HealthCheck | undefined {
    return this.#healthCheck;
  }

  /** Replaces the health check. */
  set healthCheck(check: HealthCheck | undefined) {
    this.#healthCheck = check;
  }

  /**
   * Runs discovery and applies the result. Returns whether the set changed
   * (address, weight or metadata); enablement from discovery is applied
   * either way. Rejects when discovery rejects, keeping the current set.
   */
  async update(signal?: AbortSignal): Promise<boolean> {
    const found = await this.#discovery.discover(signal);
    const seen = new Set<string>();
    const next: Backend[] = [];
    for (const b of found.backends) {
      if (seen.has(b.address)) continue;
      seen.add(b.address);
      next.push(b);
    }
    next.sort(Backend.compare);
    const changed = !sameSet(this.#items, next);
    if (changed) {
      const health = new Map<string, Health>();
      for (const b of next) health.set(b.address, this.#health.get(b.address) ?? new Health());
      this.#health = health;
      this.#items = next;
    }
    if (found.enabled !== undefined) {
      for (const [address, enabled] of found.enabled) {
        const h = this.#health.get(address);
        if (h !== undefined) h.enabled = enabled;
      }
    }
    return changed;
  }

  /**
   * Whether `backend` may receive traffic: healthy and enabled. A backend
   * this set does not know is ready only when there is no health check.
   */
  ready(backend: Backend): boolean {
    const h = this.#health.get(backend.address);
    return h === undefined ? this.#healthCheck === undefined : h.healthy && h.enabled;
  }

  /** The health record of an address, or `undefined` when unknown. */
  health(address: string): Health | undefined {
    return this.#health.get(address);
  }

  /**
   * Enables or disables a backend by address (kept until the backend leaves
   * the set). Throws `RangeError` for an unknown address.
   */
  setEnabled(address: string, enabled: boolean): void {
    const h = this.#health.get(address);
    if (h === undefined) {
      throw new RangeError(`Cannot set enablement of "${address}": no such backend`);
    }
    h.enabled = enabled;
  }

  /**
   * Checks every backend once and applies the flip rule; calls the check's
   * `onHealthChange` for each flip. Does nothing without a health check.
   */
  async runHealthCheck(options: RunHealthCheckOptions = {}): Promise<void> {
    const check = this.#healthCheck;
    if (check === undefined) return;
    const items = this.#items;
    const one = async (b: Backend): Promise<void> => {
      let ok = true;
      let error: string | undefined;
      try {
        await check.check(b, options.signal);
      } catch (err) {
        ok = false;
        error = err instanceof Error ? err.message : String(err);
      }
      if (options.signal?.aborted) return;
      const h = this.#health.get(b.address);
      if (h === undefined) return; // left the set while checking
      h.lastError = error;
      h.lastCheckedAt = this.#now();
      if (h.observe(ok, check.healthThreshold(ok)) && check.onHealthChange !== undefined) {
        try {
          await check.onHealthChange(b, ok);
        } catch {
          // A failing callback must not stop the checks.
        }
      }
    };
    if (options.parallel) await Promise.all(items.map(one));
    else for (const b of items) await one(b);
  }
}
