/**
 * In-flight (concurrent) counts per key, released by guards.
 *
 * @module
 */
import { Estimator, type EstimatorOptions, type SketchKey } from "./estimator.ts";

/** Options of {@linkcode Inflight}. */
export interface InflightOptions extends EstimatorOptions {
  /**
   * Counters per row, a power of two.
   * @default {8192}
   */
  slots?: number;
}

/**
 * Counts what is in flight per key, like Pingora's `Inflight`: a count-min
 * sketch (default 4 × 8192, 128 KiB) where {@linkcode Inflight.incr} adds and
 * answers an {@linkcode InflightGuard} that subtracts again when released.
 * Guards work with `using`, so the count drops when the scope ends, on return
 * or throw.
 *
 * @example Track a request while it is served
 * ```ts
 * import { Inflight } from "@cirque/limits/inflight";
 * import assert from "node:assert/strict";
 *
 * const inflight = new Inflight();
 * {
 *   using guard = inflight.incr("10.0.0.1");
 *   assert.equal(guard.count, 1);
 *   assert.equal(inflight.get("10.0.0.1"), 1);
 * }
 * assert.equal(inflight.get("10.0.0.1"), 0);
 * ```
 */
export class Inflight {
  #sketch: Estimator;

  /** Creates an empty counter. */
  constructor(options: InflightOptions = {}) {
    this.#sketch = new Estimator({ ...options, slots: options.slots ?? 8192 });
  }

  /** Bytes of counter memory, fixed at construction. */
  get memoryBytes(): number {
    return this.#sketch.memoryBytes;
  }

  /**
   * Adds `n` in-flight units for `key`; the guard's `count` is the estimate
   * after adding, and releasing the guard subtracts `n` once.
   *
   * @example
   * ```ts
   * import { Inflight } from "@cirque/limits/inflight";
   * import assert from "node:assert/strict";
   *
   * const inflight = new Inflight();
   * const g1 = inflight.incr("a");
   * const g2 = inflight.incr("a", 2);
   * assert.equal(g2.count, 3);
   * g1.release();
   * assert.equal(g2.get(), 2);
   * g2.release();
   * ```
   */
  incr(key: SketchKey, n: number = 1): InflightGuard {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot add in-flight units: n must be a non-negative integer, got ${n}`,
      );
    }
    const sketch = this.#sketch;
    const hash = sketch.hash(key);
    return new InflightGuard(sketch, hash, n, sketch.incrHashed(hash, n));
  }

  /**
   * The key's in-flight estimate (never below zero).
   *
   * @example
   * ```ts
   * import { Inflight } from "@cirque/limits/inflight";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Inflight().get("idle"), 0);
   * ```
   */
  get(key: SketchKey): number {
    return Math.max(0, this.#sketch.get(key));
  }
}

/**
 * Holds `n` in-flight units of one key until released. Release happens once:
 * {@linkcode InflightGuard.release} and `[Symbol.dispose]` after the first
 * call do nothing, so a double release never drives the count below what the
 * other guards hold.
 *
 * @example
 * ```ts
 * import { Inflight } from "@cirque/limits/inflight";
 * import assert from "node:assert/strict";
 *
 * const inflight = new Inflight();
 * const guard = inflight.incr("k");
 * assert.equal(guard.release(), true);
 * assert.equal(guard.release(), false);
 * assert.equal(inflight.get("k"), 0);
 * ```
 */
export class InflightGuard implements Disposable {
  #sketch: Estimator;
  #hash: number;
  #n: number;
  #released = false;
  /** The key's in-flight estimate right after this guard was taken. */
  readonly count: number;

  /** Made by {@linkcode Inflight.incr}; not meant to be constructed directly. */
  constructor(sketch: Estimator, hash: number, n: number, count: number) {
    this.#sketch = sketch;
    this.#hash = hash;
    this.#n = n;
    this.count = count;
  }

  /** Whether the guard has been released. */
  get released(): boolean {
    return this.#released;
  }

  /** Units this guard holds (0 once released). */
  get units(): number {
    return this.#released ? 0 : this.#n;
  }

  /**
   * The key's in-flight estimate now.
   *
   * @example
   * ```ts
   * import { Inflight } from "@cirque/limits/inflight";
   * import assert from "node:assert/strict";
   *
   * const inflight = new Inflight();
   * using a = inflight.incr("k");
   * using b = inflight.incr("k");
   * assert.equal(a.get(), 2);
   * ```
   */
  get(): number {
    return Math.max(0, this.#sketch.getHashed(this.#hash));
  }

  /**
   * Adds `n` more units to this guard (released together) and answers the new estimate.
   *
   * @example
   * ```ts
   * import { Inflight } from "@cirque/limits/inflight";
   * import assert from "node:assert/strict";
   *
   * const inflight = new Inflight();
   * const guard = inflight.incr("k");
   * assert.equal(guard.incr(2), 3);
   * guard.release();
   * assert.equal(inflight.get("k"), 0);
   * ```
   */
  incr(n: number = 1): number {
    if (this.#released) {
      throw new TypeError("Cannot add to an in-flight guard: it is released");
    }
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot add in-flight units: n must be a non-negative integer, got ${n}`,
      );
    }
    this.#n += n;
    return this.#sketch.incrHashed(this.#hash, n);
  }

  /**
   * Subtracts this guard's units; answers `true` the first time, `false` after.
   *
   * @example
   * ```ts
   * import { Inflight } from "@cirque/limits/inflight";
   * import assert from "node:assert/strict";
   *
   * const guard = new Inflight().incr("k");
   * assert.equal(guard.release(), true);
   * assert.equal(guard.released, true);
   * ```
   */
  release(): boolean {
    if (this.#released) return false;
    this.#released = true;
    this.#sketch.decrHashed(this.#hash, this.#n);
    return true;
  }

  /** Releases the guard (for `using`). */
  [Symbol.dispose](): void {
    this.release();
  }
}
