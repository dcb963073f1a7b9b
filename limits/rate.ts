/**
 * Events per key per interval, with two count-min sketches (current and previous interval).
 *
 * @module
 */
import { Estimator, type EstimatorOptions, type SketchKey } from "./estimator.ts";

/**
 * A time source in milliseconds: a function, or an object with `now()` (such as
 * a hand-driven test clock). Only differences matter; the default is
 * `performance.now()` (monotonic).
 */
export type TimeSource = (() => number) | { now(): number };

/** Options of {@linkcode Rate}. */
export interface RateOptions extends EstimatorOptions {
  /**
   * The time source, in milliseconds (tests pass a fake one).
   * @default {() => performance.now()}
   */
  clock?: TimeSource;
}

/**
 * What {@linkcode Rate.rateWith} hands to its function: the samples of the
 * previous and of the current interval for one key, and how far into the
 * current interval we are.
 */
export interface RateComponents {
  /** Events of the previous interval (0 if it ended two or more intervals ago). */
  prevSamples: number;
  /** Events of the current interval so far. */
  currSamples: number;
  /** The interval in milliseconds. */
  interval: number;
  /** Elapsed part of the current interval, in [0, 1). */
  currentIntervalFraction: number;
}

/**
 * The sliding-window estimate in events per second: the previous interval
 * weighted by the part of it still inside a one-interval window ending now, plus
 * the current interval: `(prev·(1 − fraction) + curr) / intervalSeconds`.
 * This is Pingora's `PROPORTIONAL_RATE_ESTIMATE_CALC_FN` (Cloudflare's
 * "counting things" estimate).
 *
 * @example
 * ```ts
 * import { proportionalRateEstimate } from "@cirque/limits/rate";
 * import assert from "node:assert/strict";
 *
 * const perSecond = proportionalRateEstimate({
 *   prevSamples: 10,
 *   currSamples: 4,
 *   interval: 1000,
 *   currentIntervalFraction: 0.25,
 * });
 * assert.equal(perSecond, 11.5);
 * ```
 */
export function proportionalRateEstimate(c: Readonly<RateComponents>): number {
  return (c.prevSamples * (1 - c.currentIntervalFraction) + c.currSamples) * 1000 / c.interval;
}

function defaultClock(): number {
  return performance.now();
}

/**
 * Counts events per key in fixed intervals, keeping the current and the
 * previous interval, like Pingora's `Rate`: two {@linkcode Estimator}s
 * (default 4 × 1024 each, 16 KiB each) that swap roles when an interval ends.
 *
 * Resets are lazy: no timer runs; each call first checks the clock and, if one
 * or more intervals have ended, rolls the windows (the current becomes the
 * previous, or both are cleared after two intervals of silence). Interval
 * boundaries stay on the grid `start + k·interval`, where `start` is the time
 * the `Rate` was created. A key is hashed once per call, and a repeated string
 * key (the same key as the last call) is not hashed again.
 *
 * @example Count requests per client and read the last full second's rate
 * ```ts
 * import { Rate } from "@cirque/limits/rate";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const rate = new Rate(1000, { clock: () => now });
 * rate.observe("10.0.0.1", 3);
 * assert.equal(rate.observe("10.0.0.1", 2), 5);
 * assert.equal(rate.rate("10.0.0.1"), 0); // no full interval yet
 * now = 1000;
 * assert.equal(rate.rate("10.0.0.1"), 5); // 5 events in the last interval
 * ```
 */
export class Rate {
  #current: Estimator;
  #previous: Estimator;
  #interval: number;
  #clock: () => number;
  #start: number;
  #lastKey = "";
  #lastHash: number;
  #components: RateComponents;

  /** Creates a rate counter with intervals of `interval` milliseconds. */
  constructor(interval: number, options: RateOptions = {}) {
    if (!(interval > 0) || !Number.isFinite(interval)) {
      throw new RangeError(
        `Cannot create Rate: interval must be a positive number of milliseconds, got ${interval}`,
      );
    }
    const { clock, ...sketch } = options;
    this.#current = new Estimator(sketch);
    this.#previous = new Estimator(sketch);
    this.#interval = interval;
    this.#clock = clock === undefined
      ? defaultClock
      : typeof clock === "function"
      ? clock
      : function objectClock(): number {
        return clock.now();
      };
    this.#start = this.#clock();
    this.#lastHash = this.#current.hash("");
    this.#components = {
      prevSamples: 0,
      currSamples: 0,
      interval,
      currentIntervalFraction: 0,
    };
  }

  /** The interval in milliseconds. */
  get interval(): number {
    return this.#interval;
  }

  /** Bytes of counter memory (both windows), fixed at construction. */
  get memoryBytes(): number {
    return this.#current.memoryBytes * 2;
  }

  #hash(key: SketchKey): number {
    if (typeof key === "string") {
      if (key === this.#lastKey) return this.#lastHash;
      const h = this.#current.hash(key);
      this.#lastKey = key;
      this.#lastHash = h;
      return h;
    }
    return this.#current.hash(key);
  }

  /** Rolls the windows if intervals have ended; answers the clock reading. */
  #roll(): number {
    const now = this.#clock();
    const elapsed = now - this.#start;
    if (elapsed < this.#interval) return now;
    const ended = Math.floor(elapsed / this.#interval);
    const old = this.#previous;
    old.reset();
    this.#previous = this.#current;
    this.#current = old;
    if (ended >= 2) this.#previous.reset();
    this.#start += ended * this.#interval;
    return now;
  }

  /**
   * Records `n` events for `key` and answers the key's count in the current interval.
   *
   * @example
   * ```ts
   * import { Rate } from "@cirque/limits/rate";
   * import assert from "node:assert/strict";
   *
   * const rate = new Rate(1000);
   * assert.equal(rate.observe("k"), 1);
   * assert.equal(rate.observe("k", 2), 3);
   * ```
   */
  observe(key: SketchKey, n: number = 1): number {
    this.#roll();
    return this.#current.incrHashed(this.#hash(key), n);
  }

  /**
   * The key's events per second over the last completed interval (Pingora's
   * `rate()`); 0 if that interval ended two or more intervals ago.
   *
   * @example
   * ```ts
   * import { Rate } from "@cirque/limits/rate";
   * import assert from "node:assert/strict";
   *
   * let now = 0;
   * const rate = new Rate(500, { clock: () => now });
   * rate.observe("k", 4);
   * now = 500;
   * assert.equal(rate.rate("k"), 8); // 4 events in half a second
   * ```
   */
  rate(key: SketchKey): number {
    this.#roll();
    return this.#previous.getHashed(this.#hash(key)) * 1000 / this.#interval;
  }

  /**
   * Calls `fn` with the key's {@linkcode RateComponents} and answers its result.
   * The components object is reused between calls: read it inside `fn`, do not keep it.
   *
   * @example A custom weighting
   * ```ts
   * import { Rate } from "@cirque/limits/rate";
   * import assert from "node:assert/strict";
   *
   * let now = 0;
   * const rate = new Rate(1000, { clock: () => now });
   * rate.observe("k", 5);
   * now = 1000;
   * rate.observe("k", 4);
   * const weighted = rate.rateWith("k", (c) => c.prevSamples * 0.1 + c.currSamples * 0.9);
   * assert.ok(Math.abs(weighted - 4.1) < 1e-9);
   * ```
   */
  rateWith<T>(key: SketchKey, fn: (components: Readonly<RateComponents>) => T): T {
    const now = this.#roll();
    const h = this.#hash(key);
    const c = this.#components;
    c.prevSamples = this.#previous.getHashed(h);
    c.currSamples = this.#current.getHashed(h);
    c.currentIntervalFraction = Math.max(0, (now - this.#start) / this.#interval);
    return fn(c);
  }

  /**
   * Calls `fn` with the key's {@linkcode RateComponents}, then records the
   * number of events it answers (0 records nothing), and answers the key's
   * count in the current interval. One clock read and one hash for a
   * read-decide-count step, as a limiter needs. The components object is
   * reused between calls.
   *
   * @example Count an event only while under 3 per interval
   * ```ts
   * import { Rate } from "@cirque/limits/rate";
   * import assert from "node:assert/strict";
   *
   * const rate = new Rate(1000);
   * const underThree = (c: { currSamples: number }) => (c.currSamples < 3 ? 1 : 0);
   * for (let i = 0; i < 5; i++) rate.observeWith("k", underThree);
   * assert.equal(rate.rateWith("k", (c) => c.currSamples), 3);
   * ```
   */
  observeWith(key: SketchKey, fn: (components: Readonly<RateComponents>) => number): number {
    const now = this.#roll();
    const h = this.#hash(key);
    const c = this.#components;
    const current = this.#current;
    c.prevSamples = this.#previous.getHashed(h);
    c.currSamples = current.getHashed(h);
    c.currentIntervalFraction = Math.max(0, (now - this.#start) / this.#interval);
    const n = fn(c);
    return n === 0 ? c.currSamples : current.incrHashed(h, n);
  }

  /**
   * The key's sliding-window estimate in events per second
   * ({@linkcode proportionalRateEstimate}).
   *
   * @example
   * ```ts
   * import { Rate } from "@cirque/limits/rate";
   * import assert from "node:assert/strict";
   *
   * let now = 0;
   * const rate = new Rate(1000, { clock: () => now });
   * rate.observe("k", 8);
   * now = 1500;
   * rate.observe("k", 1);
   * assert.equal(rate.estimate("k"), 8 * 0.5 + 1);
   * ```
   */
  estimate(key: SketchKey): number {
    return this.rateWith(key, proportionalRateEstimate);
  }

  /**
   * Milliseconds until the current interval ends (in (0, interval]).
   *
   * @example
   * ```ts
   * import { Rate } from "@cirque/limits/rate";
   * import assert from "node:assert/strict";
   *
   * let now = 0;
   * const rate = new Rate(1000, { clock: () => now });
   * now = 2300;
   * assert.equal(rate.timeToNextInterval(), 700);
   * ```
   */
  timeToNextInterval(): number {
    const now = this.#roll();
    return Math.min(this.#interval, this.#start + this.#interval - now);
  }
}
