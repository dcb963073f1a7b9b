/**
 * The structural contract of a background service, matching `@cirque/core`'s
 * `BackgroundService` (which a server starts and stops).
 *
 * @example
 * ```ts
 * import type { BackgroundService } from "@cirque/lb/background-service";
 *
 * const ticker: BackgroundService = {
 *   name: "noop",
 *   start: (signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve())),
 * };
 * const ac = new AbortController();
 * const done = ticker.start(ac.signal);
 * ac.abort();
 * await done;
 * ```
 *
 * @module
 */

/** Work that runs until the server's signal aborts. */
export interface BackgroundService {
  /** Name for logs and the admin API. */
  readonly name: string;
  /** Runs until `signal` aborts, then resolves. */
  start(signal: AbortSignal): Promise<void>;
}
