/**
 * The clock behind every TTL and lock timer of the in-memory caches, so that
 * tests can drive time by hand instead of sleeping.
 *
 * @example
 * ```ts
 * import { systemClock } from "@cirque/cache/clock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(typeof systemClock.now(), "number");
 * ```
 *
 * @module
 */

/** A source of time in milliseconds plus timers on the same time line. */
export interface Clock {
  /** Current time in milliseconds (only differences matter; should not go backwards). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for {@linkcode Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer from {@linkcode Clock.setTimeout}; a no-op for fired or unknown handles. */
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock: `performance.now()` (monotonic) and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "@cirque/cache/clock";
 * import assert from "node:assert/strict";
 *
 * const a = systemClock.now();
 * assert.ok(systemClock.now() >= a);
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

/**
 * A hand-driven clock for tests: time moves only through {@linkcode ManualClock.advance},
 * which fires due timers in deadline order.
 *
 * @example
 * ```ts
 * import { ManualClock } from "@cirque/cache/clock";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * let fired = false;
 * clock.setTimeout(() => fired = true, 100);
 * clock.advance(99);
 * assert.equal(fired, false);
 * clock.advance(1);
 * assert.equal(fired, true);
 * assert.equal(clock.now(), 100);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();

  /** Starts at `start` milliseconds. */
  constructor(start = 0) {
    this.#now = start;
  }

  /** The current manual time. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at `now() + ms`. */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** Cancels a timer. */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Number of timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const t of this.#timers) if (t[1].at <= end && (!next || t[1].at < next[1].at)) next = t;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
    }
    this.#now = end;
  }
}

/**
 * Wall-clock time (`Date.now()`, epoch milliseconds) with the global timers:
 * the clock of the HTTP cache, whose freshness rules compare against `Date`
 * and `Expires` fields. Tests use a {@linkcode ManualClock} started at an
 * epoch time instead.
 *
 * @example
 * ```ts
 * import { wallClock } from "@cirque/cache/clock";
 * import assert from "node:assert/strict";
 *
 * assert.ok(Math.abs(wallClock.now() - Date.now()) < 1000);
 * ```
 */
export const wallClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
