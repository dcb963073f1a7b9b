/**
 * The structural contract of a background service, matching `@cirque/core`'s
 * `BackgroundService` (which a server starts and stops).
 *
 * @module
 */

/**
 * Work that runs until the server's signal aborts.
 *
 * @example
 * ```ts
 * import type { BackgroundService } from "@cirque/lb/background-service";
 *
 * const idle: BackgroundService = {
 *   name: "idle",
 *   start: (signal) =>
 *     new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true })),
 * };
 * const ac = new AbortController();
 * const running = idle.start(ac.signal);
 * ac.abort();
 * await running;
 * ```
 */
export interface BackgroundService {
  /** Name for logs and the admin API. */
  readonly name: string;
  /** Runs until `signal` aborts, then resolves. */
  start(signal: AbortSignal): Promise<void>;
}
