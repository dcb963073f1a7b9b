/**
 * Coarse, shared deadlines for socket waits: one timer per
 * {@linkcode DeadlineSweeper}, not one per request (as Pingora's
 * pingora-timeout does), so arming a deadline costs a field write.
 *
 * @module
 */

/**
 * The longest duration a timer can wait, in ms (2³¹ − 1, about 24.8 days):
 * `setTimeout` and `AbortSignal.timeout` fire at once for longer ones. Use
 * it as the `max` of every duration key (`Math.floor(MAX_TIMER_MS / 1000)`
 * for keys in seconds).
 *
 * @example
 * ```ts
 * import { integer, MAX_TIMER_MS, parseConfig } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const timeoutMs = integer({ min: 1, max: MAX_TIMER_MS });
 * assert.equal(parseConfig("2147483647", timeoutMs), 2147483647);
 * assert.throws(() => parseConfig("2147483648", timeoutMs), /expected integer from 1 to 2147483647/);
 * ```
 */
export const MAX_TIMER_MS = 2_147_483_647;

let cachedNow = 0;
let cacheValid = false;
let ticker: ReturnType<typeof setInterval> | undefined;
/**
 * Every millisecond while the clock is read: invalidates the cached value, or,
 * when nothing read it since the last tick, stops (the next read starts it
 * again).
 */
function tick(): void {
  if (cacheValid) {
    cacheValid = false;
    return;
  }
  clearInterval(ticker);
  ticker = undefined;
}

/**
 * `performance.now()`, read at most about once per millisecond: the value is
 * cached until the next tick of one shared 1 ms interval timer (a tick per
 * millisecond of activity, not a new timer per millisecond: creating one cost
 * about 3 µs). The interval runs only while the clock is read: a tick that
 * finds no read since the previous one stops it, so an idle process is not
 * woken up, and it is unref'd, so it never keeps the process alive. The value
 * lags the real clock by at most about 1 ms (one event-loop turn when a turn
 * takes longer), and it never runs ahead of it. For deadlines and idle
 * expiry, where a read per socket operation (about 100 ns each in Deno) would
 * otherwise add up; not for latency measurements.
 *
 * @example
 * ```ts
 * import { coarseNow } from "@cirque/core/deadline";
 * import assert from "node:assert/strict";
 *
 * const a = coarseNow();
 * assert.ok(a <= performance.now());
 * await new Promise((r) => setTimeout(r, 5));
 * assert.ok(coarseNow() > a);
 * ```
 */
export function coarseNow(): number {
  if (cacheValid) return cachedNow;
  cachedNow = performance.now();
  cacheValid = true;
  if (ticker === undefined) {
    ticker = setInterval(tick, 1);
    Deno.unrefTimer(ticker);
  }
  return cachedNow;
}

/** Something a deadline can expire. */
export interface Expirable {
  /** Absolute expiry time (on the sweeper's clock, {@linkcode coarseNow} by default), or 0 when disarmed. */
  deadline: number;
  /** Called once when the deadline has passed; should abort the wait (close the socket). */
  expire(): void;
}

/**
 * Checks registered {@linkcode Expirable}s every `resolution` milliseconds and
 * expires those past their deadline. A wait bounded by `t` ms thus ends
 * between `t` and `t + resolution` ms after it began.
 *
 * @example
 * ```ts
 * import { DeadlineSweeper } from "@cirque/core/deadline";
 * import assert from "node:assert/strict";
 *
 * let now = 1000;
 * const sweeper = new DeadlineSweeper({ now: () => now, resolution: 0 });
 * let expired = false;
 * const item = { deadline: 0, expire: () => { expired = true; } };
 * sweeper.add(item);
 * item.deadline = now + 50;
 * now += 60;
 * sweeper.sweep();
 * assert.equal(expired, true);
 * sweeper.close();
 * ```
 */
export class DeadlineSweeper {
  readonly #items = new Set<Expirable>();
  readonly #now: () => number;
  readonly #resolution: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * `resolution` is the sweep period in ms (0: never sweep on a timer; call
   * {@linkcode DeadlineSweeper.sweep} yourself). `now` is the clock.
   */
  constructor(options: { resolution?: number; now?: () => number } = {}) {
    this.#now = options.now ?? coarseNow;
    this.#resolution = options.resolution ?? 250;
  }

  /** The clock this sweeper uses. */
  now(): number {
    return this.#now();
  }

  /** Watches `item` until {@linkcode DeadlineSweeper.delete}. */
  add(item: Expirable): void {
    this.#items.add(item);
    if (this.#timer === undefined && this.#resolution > 0) {
      const timer = setInterval(() => this.sweep(), this.#resolution);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Stops watching `item`. */
  delete(item: Expirable): void {
    this.#items.delete(item);
    if (this.#items.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Expires every item past its deadline (disarming it first). */
  sweep(): void {
    const now = this.#now();
    for (const item of this.#items) {
      if (item.deadline !== 0 && item.deadline <= now) {
        item.deadline = 0;
        try {
          item.expire();
        } catch {
          // An expire hook must not stop the sweep.
        }
      }
    }
  }

  /** Stops the timer; items are forgotten. */
  close(): void {
    this.#items.clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
