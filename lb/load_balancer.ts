/**
 * {@linkcode LoadBalancer}: backends, discovery, health and selection in one
 * background service.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { BackendSelection } from "./backend_selection.ts";
import type { BackgroundService } from "@cirque/core/service";
import { Backends } from "./backends.ts";
import type { HealthCheck } from "./health_check.ts";
import { type ServiceDiscovery, StaticDiscovery } from "./service_discovery.ts";
import { UniqueIterator } from "./unique_iterator.ts";

/** Time source and sleeper of a {@linkcode LoadBalancer}; inject a fake one in tests. */
export interface LoadBalancerClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock: `performance.now()` and `setTimeout`. */
export const SYSTEM_CLOCK: LoadBalancerClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(id);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const id = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    }),
};

/** Options of {@linkcode LoadBalancer}. */
export interface LoadBalancerOptions {
  /** Health check of the backends; without one, every known backend is ready. */
  healthCheck?: HealthCheck;
  /**
   * How often `start()` runs discovery, in ms; `undefined` runs it once.
   * @default {undefined}
   */
  updateFrequencyMs?: number;
  /**
   * How often `start()` runs health checks, in ms; `undefined` runs them once.
   * @default {undefined}
   */
  healthCheckFrequencyMs?: number;
  /**
   * Check all backends at once rather than one after another.
   * @default {false}
   */
  parallelHealthCheck?: boolean;
  /**
   * Service name.
   * @default {"load balancer"}
   */
  name?: string;
  /**
   * Clock for the schedule and `lastCheckedAt`.
   * @default {SYSTEM_CLOCK}
   */
  clock?: LoadBalancerClock;
  /** Called when a background discovery fails (the last good set stays). */
  onError?: (error: unknown) => void;
}

/** A read-only view of one backend for metrics and the admin API. */
export interface BackendState {
  /** Address as given. */
  address: string;
  /** Weight. */
  weight: number;
  /** Free-form metadata. */
  metadata: Readonly<Record<string, unknown>>;
  /** Passed its health checks (by the flip rule). */
  healthy: boolean;
  /** Enabled by discovery or an operator. */
  enabled: boolean;
  /** Healthy and enabled. */
  ready: boolean;
  /** Consecutive observations opposite to `healthy`. */
  consecutive: number;
  /** Message of the last failed check. */
  lastError: string | undefined;
  /** Clock time (ms) of the last check. */
  lastCheckedAt: number | undefined;
}

/** Durations of the last update. */
export interface UpdateTimings {
  /** Time spent in discovery, ms. */
  discoveryMs: number;
  /** Time spent rebuilding the selection (0 when nothing changed), ms. */
  buildMs: number;
}

/** `accept(backend, healthy)`: whether `select()` may return this backend. */
export type AcceptBackend = (backend: Backend, healthy: boolean) => boolean;

const acceptReady: AcceptBackend = (_backend, healthy) => healthy;

/**
 * Owns a backend set, its discovery, its health checks and a selection
 * algorithm. `select()` is synchronous; `start(signal)` keeps discovery and
 * health current until the signal aborts.
 *
 * @example Health-checked, refreshed in the background
 * ```ts
 * import { LoadBalancer, StaticDiscovery, TcpHealthCheck, RoundRobin } from "@cirque/lb";
 * import assert from "node:assert/strict";
 *
 * const lb = new LoadBalancer(new RoundRobin(), StaticDiscovery.fromAddresses(["127.0.0.1:1"]), {
 *   healthCheck: new TcpHealthCheck({ connectTimeoutMs: 500 }),
 *   healthCheckFrequencyMs: 1000,
 * });
 * await lb.update();
 * await lb.runHealthCheck(); // nothing listens on port 1
 * assert.equal(lb.select(), undefined);
 * assert.equal(lb.states()[0]?.healthy, false);
 * ```
 */
export class LoadBalancer<S extends BackendSelection> implements BackgroundService {
  /** Service name. */
  readonly name: string;
  /** The selection algorithm (for algorithm-specific calls such as `LeastRequests.start`). */
  readonly selection: S;
  /** The backend set with health. */
  readonly backends: Backends;
  #options: LoadBalancerOptions;
  #clock: LoadBalancerClock;
  #timings: UpdateTimings = { discoveryMs: 0, buildMs: 0 };
  #built: readonly Backend[] | undefined;
  #updated = Promise.withResolvers<void>();

  /** Creates a balancer; nothing is discovered until `update()` or `start()`. */
  constructor(selection: S, discovery: ServiceDiscovery, options: LoadBalancerOptions = {}) {
    for (const key of ["updateFrequencyMs", "healthCheckFrequencyMs"] as const) {
      const v = options[key];
      if (v !== undefined && !(v > 0)) {
        throw new RangeError(`Cannot create LoadBalancer: ${key} ${v} is not positive`);
      }
    }
    this.name = options.name ?? "load balancer";
    this.selection = selection;
    this.#options = options;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    const clock = this.#clock;
    this.backends = new Backends(discovery, {
      ...(options.healthCheck ? { healthCheck: options.healthCheck } : {}),
      now: () => clock.now(),
    });
    selection.build([]);
  }

  /**
   * A balancer over fixed addresses, already updated once.
   *
   * @example
   * ```ts
   * import { LoadBalancer, FnvHash } from "@cirque/lb";
   * import assert from "node:assert/strict";
   *
   * const lb = await LoadBalancer.fromAddresses(["127.0.0.1:1", "127.0.0.1:2"], new FnvHash());
   * assert.equal(lb.select("user-1"), lb.select("user-1"));
   * ```
   */
  static async fromAddresses<S extends BackendSelection>(
    addresses: Iterable<string>,
    selection: S,
    options: LoadBalancerOptions = {},
  ): Promise<LoadBalancer<S>> {
    const lb = new LoadBalancer(selection, StaticDiscovery.fromAddresses(addresses), options);
    await lb.update();
    return lb;
  }

  /**
   * Runs discovery once and rebuilds the selection when the set changed.
   * Rejects when discovery or the build fails (the previous selection stays).
   */
  async update(signal?: AbortSignal): Promise<void> {
    const t0 = this.#clock.now();
    await this.backends.update(signal);
    const t1 = this.#clock.now();
    // Rebuild whenever the set is not the one last built, so a build that
    // threw is retried on the next update.
    const items = this.backends.items;
    const rebuild = items !== this.#built;
    if (rebuild) {
      this.selection.build(items);
      this.#built = items;
    }
    this.#timings = { discoveryMs: t1 - t0, buildMs: rebuild ? this.#clock.now() - t1 : 0 };
    this.#updated.resolve();
  }

  /**
   * Resolves once the first update succeeded (Pingora's readiness
   * notification): await it after `start()` before taking traffic.
   *
   * @example
   * ```ts
   * import { LoadBalancer, RoundRobin, StaticDiscovery } from "@cirque/lb";
   * import assert from "node:assert/strict";
   *
   * const lb = new LoadBalancer(new RoundRobin(), StaticDiscovery.fromAddresses(["127.0.0.1:1"]));
   * const stop = new AbortController();
   * const running = lb.start(stop.signal);
   * await lb.firstUpdate();
   * assert.equal(lb.select()?.address, "127.0.0.1:1");
   * stop.abort();
   * await running;
   * ```
   */
  firstUpdate(): Promise<void> {
    return this.#updated.promise;
  }

  /** Runs the health check once over all backends. */
  runHealthCheck(signal?: AbortSignal): Promise<void> {
    return this.backends.runHealthCheck({
      parallel: this.#options.parallelHealthCheck ?? false,
      ...(signal ? { signal } : {}),
    });
  }

  /** Durations of the last `update()`. */
  get lastUpdateTimings(): UpdateTimings {
    return this.#timings;
  }

  /**
   * Picks a backend for `key`: walks the selection's failover sequence,
   * skipping repeats, for at most `maxIterations` steps, and returns the first
   * backend `accept` takes (by default: the first ready one).
   *
   * @example Skip a backend the caller just failed on
   * ```ts
   * import { LoadBalancer, Consistent } from "@cirque/lb";
   * import assert from "node:assert/strict";
   *
   * const lb = await LoadBalancer.fromAddresses(["127.0.0.1:1", "127.0.0.1:2"], new Consistent());
   * const first = lb.select("key")!;
   * const other = lb.select("key", 256, (b, healthy) => healthy && b !== first);
   * assert.notEqual(other?.address, first.address);
   * ```
   */
  select(
    key: string | Uint8Array = "",
    maxIterations = 256,
    accept: AcceptBackend = acceptReady,
  ): Backend | undefined {
    const it = new UniqueIterator(this.selection.select(key), maxIterations);
    const backends = this.backends;
    for (let b = it.next(); b !== undefined; b = it.next()) {
      if (accept(b, backends.ready(b))) return b;
    }
    return undefined;
  }

  /** Enables or disables a backend by address; see {@linkcode Backends.setEnabled}. */
  setEnabled(address: string, enabled: boolean): void {
    this.backends.setEnabled(address, enabled);
  }

  /** A snapshot of every backend's state. */
  states(): BackendState[] {
    return this.backends.items.map((b) => {
      const h = this.backends.health(b.address);
      return {
        address: b.address,
        weight: b.weight,
        metadata: b.metadata,
        healthy: h?.healthy ?? true,
        enabled: h?.enabled ?? true,
        ready: this.backends.ready(b),
        consecutive: h?.consecutive ?? 0,
        lastError: h?.lastError,
        lastCheckedAt: h?.lastCheckedAt,
      };
    });
  }

  /**
   * Runs discovery and health checks once at once, then each on its
   * frequency, until `signal` aborts. Returns after the first round when
   * neither frequency is set. A failing discovery is reported to `onError`
   * and leaves the last good set in place.
   */
  async start(signal: AbortSignal): Promise<void> {
    const { updateFrequencyMs: updateEvery, healthCheckFrequencyMs: checkEvery } = this.#options;
    const clock = this.#clock;
    let nextUpdate = clock.now();
    let nextCheck = nextUpdate;
    let first = true;
    while (!signal.aborted) {
      const now = clock.now();
      if (now >= nextUpdate && (first || updateEvery !== undefined)) {
        try {
          await this.update(signal);
        } catch (err) {
          if (signal.aborted) break;
          this.#options.onError?.(err);
        }
        nextUpdate = updateEvery === undefined ? Infinity : now + updateEvery;
      }
      if (signal.aborted) break;
      if (now >= nextCheck && (first || checkEvery !== undefined)) {
        await this.runHealthCheck(signal);
        nextCheck = checkEvery === undefined ? Infinity : now + checkEvery;
      }
      first = false;
      const wake = Math.min(nextUpdate, nextCheck);
      if (wake === Infinity) return;
      const wait = wake - clock.now();
      if (wait > 0) await clock.sleep(wait, signal);
    }
  }
}
