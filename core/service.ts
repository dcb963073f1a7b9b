/**
 * The service contract: anything a `Server` (`@cirque/core/server`) starts
 * and stops: listening services (HTTP, the proxy, the admin API) and
 * background services (health checks, service discovery, cache eviction).
 *
 * One method, two signals, two phases:
 *
 * | phase | trigger | `signal` | `deadline` | what the service does |
 * |---|---|---|---|---|
 * | running | `start()` called | live | live | serve / loop |
 * | draining | SIGTERM, `server.shutdown("graceful")`, another service failed | **aborted** | live | stop accepting new work; let in-flight work finish; then resolve |
 * | hard stop | grace period over, SIGINT, a second signal, `server.shutdown("fast")` | aborted | **aborted** | cut in-flight work at once; then resolve |
 *
 * `deadline` never aborts before `signal`; on a fast stop both abort
 * together. `start()` resolves once the service has fully stopped. A rejected
 * `start()` means the service failed: the server logs it, stops the other
 * services gracefully and exits with code 1. A `start()` that resolves before
 * `signal` aborts means the service finished on its own (fine for one-shot
 * jobs); the server keeps running the others.
 *
 * @example A background service that ticks until the server stops
 * ```ts
 * import type { BackgroundService } from "@cirque/core/service";
 * import assert from "node:assert/strict";
 *
 * let ticks = 0;
 * const ticker: BackgroundService = {
 *   name: "ticker",
 *   async start(signal) {
 *     while (!signal.aborted) {
 *       ticks++;
 *       await new Promise<void>((resolve) => {
 *         const id = setTimeout(resolve, 1000);
 *         signal.addEventListener("abort", () => { clearTimeout(id); resolve(); }, { once: true });
 *       });
 *     }
 *   },
 * };
 * const stop = new AbortController();
 * const running = ticker.start(stop.signal, new AbortController().signal);
 * stop.abort();
 * await running;
 * assert.equal(ticks, 1);
 * ```
 *
 * @module
 */

/**
 * Something the server starts and stops. See the module documentation for
 * the phases.
 *
 * @example A service that holds a resource until the server stops
 * ```ts
 * import type { Service } from "@cirque/core/service";
 * import assert from "node:assert/strict";
 *
 * const events: string[] = [];
 * const svc: Service = {
 *   name: "holder",
 *   async start(signal) {
 *     events.push("open");
 *     await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
 *     events.push("close");
 *   },
 * };
 * const stop = new AbortController();
 * const done = svc.start(stop.signal, new AbortController().signal);
 * stop.abort();
 * await done;
 * assert.deepEqual(events, ["open", "close"]);
 * ```
 */
export interface Service {
  /** A short name for logs, for example `"http 0.0.0.0:8080"` or `"health-check api"`. */
  readonly name: string;
  /**
   * Runs the service until it has fully stopped.
   *
   * @param signal Aborts when the server begins to stop: stop accepting new
   *   work and let in-flight work finish.
   * @param deadline Aborts when in-flight work must be cut (grace period
   *   over, or a fast stop). Services without in-flight work may ignore it.
   */
  start(signal: AbortSignal, deadline: AbortSignal): Promise<void>;
}

/**
 * A service without listeners: it runs a loop until `signal` aborts. The
 * same shape as {@linkcode Service}; it usually ignores `deadline`.
 *
 * @example
 * ```ts
 * import { backgroundService, type BackgroundService } from "@cirque/core/service";
 * import assert from "node:assert/strict";
 *
 * const svc: BackgroundService = backgroundService("noop", async () => {});
 * assert.equal(svc.name, "noop");
 * ```
 */
export type BackgroundService = Service;

/**
 * Makes a {@linkcode BackgroundService} from a name and a function that runs
 * until its signal aborts.
 *
 * @example
 * ```ts
 * import { backgroundService } from "@cirque/core/service";
 * import assert from "node:assert/strict";
 *
 * let stopped = false;
 * const svc = backgroundService("waiter", async (signal) => {
 *   await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
 *   stopped = true;
 * });
 * const stop = new AbortController();
 * const done = svc.start(stop.signal, new AbortController().signal);
 * stop.abort();
 * await done;
 * assert.ok(stopped);
 * ```
 */
export function backgroundService(
  name: string,
  run: (signal: AbortSignal, deadline: AbortSignal) => Promise<void>,
): BackgroundService {
  return {
    name,
    start: function startBackgroundService(signal, deadline) {
      return run(signal, deadline);
    },
  };
}
