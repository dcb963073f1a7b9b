/**
 * The {@linkcode HealthCheck} contract and the {@linkcode Health} state with
 * Pingora's flip rule.
 *
 * @module
 */

import type { Backend } from "./backend.ts";

/**
 * Checks one backend. A check passes when `check()` resolves and fails when
 * it rejects. A backend's state flips after `healthThreshold(observed)`
 * consecutive observations opposite to its current state.
 *
 * @example A check of your own
 * ```ts
 * import type { HealthCheck } from "@cirque/lb/health-check";
 * import { Backends, StaticDiscovery } from "@cirque/lb";
 * import assert from "node:assert/strict";
 *
 * const drained = new Set(["127.0.0.1:2"]);
 * const check: HealthCheck = {
 *   check: (b) => drained.has(b.address) ? Promise.reject(new Error("drained")) : Promise.resolve(),
 *   healthThreshold: (success) => (success ? 1 : 2),
 * };
 * const backends = new Backends(StaticDiscovery.fromAddresses(["127.0.0.1:1", "127.0.0.1:2"]), {
 *   healthCheck: check,
 * });
 * await backends.update();
 * await backends.runHealthCheck();
 * await backends.runHealthCheck();
 * assert.deepEqual(backends.items.map((b) => backends.ready(b)), [true, false]);
 * ```
 */
export interface HealthCheck {
  /** Probes `backend`; rejects on failure. Must honour `signal`. */
  check(backend: Backend, signal?: AbortSignal): Promise<void>;
  /** Consecutive successes (`true`) or failures (`false`) needed to flip. */
  healthThreshold(success: boolean): number;
  /** Called once per flip, after the state changed. Errors are ignored. */
  onHealthChange?(backend: Backend, healthy: boolean): void | Promise<void>;
}

/**
 * Health of one backend. Starts healthy and enabled. An observation opposite
 * to the current state increments a counter and flips the state once the
 * counter reaches the threshold (then resets it); an observation equal to the
 * current state resets the counter.
 *
 * @example
 * ```ts
 * import { Health } from "@cirque/lb/health-check";
 * import assert from "node:assert/strict";
 *
 * const h = new Health();
 * h.observe(false, 1);
 * assert.equal(h.ready, false);
 * h.observe(true, 3);
 * h.observe(false, 3); // resets the success streak
 * h.observe(true, 3);
 * h.observe(true, 3);
 * assert.equal(h.healthy, false);
 * assert.equal(h.observe(true, 3), true);
 * assert.equal(h.ready, true);
 * ```
 */
export class Health {
  /** Whether the last flip left it healthy. */
  healthy = true;
  /** Whether an operator or the discovery enabled it. */
  enabled = true;
  /** Consecutive observations opposite to `healthy`. */
  consecutive = 0;
  /** Message of the last failed check, cleared by a passing one. */
  lastError: string | undefined = undefined;
  /** Clock value (ms) of the last observation, or `undefined` before the first. */
  lastCheckedAt: number | undefined = undefined;

  /** Healthy and enabled: may receive traffic. */
  get ready(): boolean {
    return this.healthy && this.enabled;
  }

  /** Records one observation; returns whether the state flipped. */
  observe(healthy: boolean, threshold: number): boolean {
    if (this.healthy !== healthy) {
      this.consecutive++;
      if (this.consecutive >= threshold) {
        this.healthy = healthy;
        this.consecutive = 0;
        return true;
      }
    } else {
      this.consecutive = 0;
    }
    return false;
  }
}
