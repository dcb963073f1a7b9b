/**
 * A count-min sketch: approximate per-key counters in a fixed amount of memory.
 *
 * @module
 */
import { hashKey, type SketchKey, step } from "./_hash.ts";

export type { SketchKey } from "./_hash.ts";

/** Largest `slots` value (2^24). */
export const MAX_SLOTS = 16_777_216;
/** Largest `hashes` value. */
export const MAX_HASHES = 64;
/** Largest count a counter holds (2^31 − 1); beyond it a counter wraps to negative, as Pingora's does. */
export const MAX_COUNT = 0x7fffffff;

/** Options of {@linkcode Estimator}. */
export interface EstimatorOptions {
  /**
   * Rows of the sketch, each with its own hash; the failure probability δ is e^−hashes.
   * @default {4}
   */
  hashes?: number;
  /**
   * Counters per row, a power of two; the error ε is e/slots of the total count.
   * @default {1024}
   */
  slots?: number;
  /**
   * Hash seed. Equal seeds give equal hashes, so tests are reproducible; use a
   * random seed (for example `crypto.getRandomValues(new Uint32Array(1))[0]`)
   * where clients could aim keys at one counter.
   * @default {0}
   */
  seed?: number;
}

/**
 * The count-min sketch that Pingora's `pingora-limits` builds on: `hashes` rows
 * of `slots` counters in one `Int32Array`. `incr` adds to one counter per row
 * and answers the smallest, so an estimate never under-counts (while only
 * increments are made) and over-counts by at most ε·N with probability 1−δ,
 * where N is the sum of all increments, ε = e/slots and δ = e^−hashes.
 *
 * Memory is fixed: `hashes × slots × 4` bytes (16 KiB for the default 4 × 1024),
 * whatever the number of keys. Counters are 32-bit integers: counts (and `n`)
 * are whole numbers up to {@linkcode MAX_COUNT}; count in larger units (KiB,
 * not bytes) if a window could exceed it. The hot path (`incr`, `get`, `decr`)
 * allocates nothing: a key is hashed once (MurmurHash3 over its UTF-16 code
 * units or bytes), the rows derive their slots from that hash by double
 * hashing, and results are small integers.
 *
 * @example Count keys
 * ```ts
 * import { Estimator } from "@cirque/limits/estimator";
 * import assert from "node:assert/strict";
 *
 * const sketch = new Estimator({ hashes: 4, slots: 1024 });
 * sketch.incr("a");
 * assert.equal(sketch.incr("a", 2), 3);
 * sketch.decr("a", 1);
 * assert.equal(sketch.get("a"), 2);
 * assert.equal(sketch.get(new TextEncoder().encode("never seen")), 0);
 * assert.equal(sketch.memoryBytes, 16384);
 * ```
 */
export class Estimator {
  #table: Int32Array;
  #hashes: number;
  #slots: number;
  #shift: number;
  #mask: number;
  #seed: number;

  /** Creates an empty sketch of `hashes × slots` counters. */
  constructor(options: EstimatorOptions = {}) {
    const hashes = options.hashes ?? 4;
    const slots = options.slots ?? 1024;
    if (!Number.isInteger(hashes) || hashes < 1 || hashes > MAX_HASHES) {
      throw new RangeError(
        `Cannot create Estimator: hashes must be an integer in [1, ${MAX_HASHES}], got ${hashes}`,
      );
    }
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SLOTS || (slots & (slots - 1)) !== 0) {
      throw new RangeError(
        `Cannot create Estimator: slots must be a power of two in [1, ${MAX_SLOTS}], got ${slots}`,
      );
    }
    this.#hashes = hashes;
    this.#slots = slots;
    this.#shift = 32 - Math.log2(slots);
    this.#mask = slots - 1;
    this.#seed = (options.seed ?? 0) | 0;
    this.#table = new Int32Array(hashes * slots);
  }

  /**
   * Sizes a sketch for an error of at most `epsilon`·N with probability
   * `1 − delta`: `slots` is ⌈e/ε⌉ rounded up to a power of two, `hashes = ⌈ln(1/δ)⌉`.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = Estimator.forAccuracy(0.001, 0.01);
   * assert.equal(sketch.slots, 4096);
   * assert.equal(sketch.hashes, 5);
   * ```
   */
  static forAccuracy(
    epsilon: number,
    delta: number,
    options: Pick<EstimatorOptions, "seed"> = {},
  ): Estimator {
    if (!(epsilon > 0 && epsilon < 1) || !(delta > 0 && delta < 1)) {
      throw new RangeError(
        `Cannot size Estimator: epsilon and delta must be in (0, 1), got ${epsilon} and ${delta}`,
      );
    }
    return new Estimator({
      ...options,
      slots: 2 ** Math.ceil(Math.log2(Math.ceil(Math.E / epsilon))),
      hashes: Math.ceil(Math.log(1 / delta)),
    });
  }

  /** Rows of the sketch. */
  get hashes(): number {
    return this.#hashes;
  }

  /** Counters per row. */
  get slots(): number {
    return this.#slots;
  }

  /** The seed of the key hash. */
  get seed(): number {
    return this.#seed;
  }

  /** Bytes of counter memory: `hashes × slots × 4`, fixed at construction. */
  get memoryBytes(): number {
    return this.#table.byteLength;
  }

  /** The error factor ε = e/slots: an estimate exceeds the truth by at most ε·N with probability 1−δ. */
  get epsilon(): number {
    return Math.E / this.#slots;
  }

  /** The failure probability δ = e^−hashes of the ε·N bound, per query. */
  get delta(): number {
    return Math.exp(-this.#hashes);
  }

  /**
   * The 32-bit hash (a signed integer) of `key` under this sketch's seed. Sketches with the same
   * seed share hashes, so a caller that touches several of them hashes once
   * and uses the `…Hashed` methods.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const a = new Estimator(), b = new Estimator();
   * const h = a.hash("client-1");
   * a.incrHashed(h, 2);
   * b.incrHashed(h, 5);
   * assert.equal(a.get("client-1") + b.get("client-1"), 7);
   * ```
   */
  hash(key: SketchKey): number {
    return hashKey(key, this.#seed);
  }

  /**
   * Adds `n` to the key's counters and answers the new estimate.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = new Estimator();
   * assert.equal(sketch.incr("k"), 1);
   * assert.equal(sketch.incr("k", 4), 5);
   * ```
   */
  incr(key: SketchKey, n: number = 1): number {
    return this.incrHashed(hashKey(key, this.#seed), n);
  }

  /**
   * {@linkcode Estimator.incr} for a hash from {@linkcode Estimator.hash}.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = new Estimator();
   * assert.equal(sketch.incrHashed(sketch.hash("k"), 3), 3);
   * ```
   */
  incrHashed(hash: number, n: number = 1): number {
    const table = this.#table;
    const slots = this.#slots;
    const rows = this.#hashes;
    const shift = this.#shift;
    const mask = this.#mask;
    const g = step(hash);
    let x = hash | 0;
    let i = (x >> shift) & mask;
    let min = (table[i]! + n) | 0;
    table[i] = min;
    for (let row = 1, base = slots; row < rows; row++, base += slots) {
      x = (x + g) | 0;
      i = base + ((x >> shift) & mask);
      const v = (table[i]! + n) | 0;
      table[i] = v;
      min = Math.min(min, v); // branch-free: a data-dependent branch mispredicts half the time
    }
    return min;
  }

  /**
   * Subtracts `n` from the key's counters (the inverse of `incr`). Counters may
   * go negative if more is subtracted than was added.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = new Estimator();
   * sketch.incr("k", 3);
   * sketch.decr("k");
   * assert.equal(sketch.get("k"), 2);
   * ```
   */
  decr(key: SketchKey, n: number = 1): void {
    this.incrHashed(hashKey(key, this.#seed), -n);
  }

  /**
   * {@linkcode Estimator.decr} for a hash from {@linkcode Estimator.hash}.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = new Estimator();
   * const h = sketch.hash("k");
   * sketch.incrHashed(h, 2);
   * sketch.decrHashed(h, 2);
   * assert.equal(sketch.getHashed(h), 0);
   * ```
   */
  decrHashed(hash: number, n: number = 1): void {
    this.incrHashed(hash, -n);
  }

  /**
   * The key's estimate: the smallest of its counters.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = new Estimator();
   * sketch.incr("k", 7);
   * assert.equal(sketch.get("k"), 7);
   * ```
   */
  get(key: SketchKey): number {
    return this.getHashed(hashKey(key, this.#seed));
  }

  /**
   * {@linkcode Estimator.get} for a hash from {@linkcode Estimator.hash}.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = new Estimator();
   * assert.equal(sketch.getHashed(sketch.hash("k")), 0);
   * ```
   */
  getHashed(hash: number): number {
    const table = this.#table;
    const slots = this.#slots;
    const rows = this.#hashes;
    const shift = this.#shift;
    const mask = this.#mask;
    const g = step(hash);
    let x = hash | 0;
    let min = table[(x >> shift) & mask]!;
    for (let row = 1, base = slots; row < rows; row++, base += slots) {
      x = (x + g) | 0;
      min = Math.min(min, table[base + ((x >> shift) & mask)]!);
    }
    return min;
  }

  /**
   * Sets every counter to zero.
   *
   * @example
   * ```ts
   * import { Estimator } from "@cirque/limits/estimator";
   * import assert from "node:assert/strict";
   *
   * const sketch = new Estimator();
   * sketch.incr("k", 2);
   * sketch.reset();
   * assert.equal(sketch.get("k"), 0);
   * ```
   */
  reset(): void {
    this.#table.fill(0);
  }
}
