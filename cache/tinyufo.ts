/**
 * TinyUFO: a weighted in-memory cache with S3-FIFO eviction and TinyLFU
 * admission, after Pingora's `tinyufo` crate.
 *
 * Entries live in typed arrays linked by index (two FIFO queues, "small" and
 * "main"), so a million entries cost a handful of large arrays plus one
 * `Map<K, index>`, not a million small objects.
 *
 * @example
 * ```ts
 * import { TinyUfo } from "@cirque/cache/tinyufo";
 * import assert from "node:assert/strict";
 *
 * const cache = new TinyUfo<string, number>({ weightLimit: 100, estimatedSize: 100 });
 * cache.put("a", 1, 1);
 * assert.equal(cache.get("a"), 1);
 * ```
 *
 * @module
 */

import { fmix32, hashKey, randomSeed } from "./_hash.ts";
import { TinyLfu } from "./_tiny_lfu.ts";

/** Why an entry left the cache or never entered it. */
export type EvictionReason = "evicted" | "rejected";

/** An entry that a {@linkcode TinyUfo.put} pushed out (or refused to let in). */
export interface Evicted<K, V> {
  /** The entry's key. */
  readonly key: K;
  /** The entry's value. */
  readonly value: V;
  /** The entry's weight. */
  readonly weight: number;
  /**
   * `"evicted"`: the entry was in the cache and made room for another;
   * `"rejected"`: the newcomer of this `put`, refused (TinyLFU admission said no,
   * or its weight alone exceeds the weight limit).
   */
  readonly reason: EvictionReason;
}

/** Options of {@linkcode TinyUfo}. */
export interface TinyUfoOptions<K, V> {
  /**
   * Total weight the cache holds (with weight 1 per entry: the number of entries).
   * A positive integer.
   */
  weightLimit: number;
  /**
   * Expected number of entries when full; sizes the frequency sketch
   * (`⌈e·n⌉` slots × `⌈log₂ n⌉` rows of one byte) and its ageing window (`8·n` puts).
   */
  estimatedSize: number;
  /**
   * Called once for every entry that a `put` or `forcePut` evicts or rejects,
   * after the cache is consistent again. Not called by `remove`.
   * @default {undefined}
   */
  onEvict?: (entry: Evicted<K, V>) => void;
  /**
   * Seed of the key hash behind the sketch. Random by default so that the sketch
   * cannot be flooded by prepared keys; fix it for reproducible runs.
   * @default {a random 32-bit integer}
   */
  seed?: number;
}

const NIL = -1;
const FREE = 0;
const SMALL = 1;
const MAIN = 2;
const USES_CAP = 3;
const MAX_WEIGHT = 0xffffffff;
const NONE: readonly Evicted<never, never>[] = Object.freeze([]);

/**
 * A weighted cache with S3-FIFO eviction and TinyLFU admission (Pingora's TinyUFO).
 *
 * - New entries enter the **small** FIFO queue (10% of the weight limit + 1).
 * - Each `get` counts a use (capped at 3). When the small queue is over its
 *   share, its oldest entry moves to the **main** queue if it was used at least
 *   twice, else it is evicted. The main queue gives a CLOCK-style second
 *   chance: an entry with uses left is re-queued with one use less.
 * - Every `put` is counted in an 8-bit count-min sketch (aged by halving). When
 *   a `put` of a new key evicts exactly one entry and that entry's estimated
 *   frequency is higher than the newcomer's, the old entry stays and the
 *   newcomer is returned as `"rejected"`. `forcePut` skips this check.
 *
 * Keys compare as in a `Map` (`SameValueZero`; objects by identity).
 *
 * @example Eviction and admission
 * ```ts
 * import { TinyUfo } from "@cirque/cache/tinyufo";
 * import assert from "node:assert/strict";
 *
 * const cache = new TinyUfo<number, string>({ weightLimit: 5, estimatedSize: 5, seed: 1 });
 * cache.put(1, "one", 1);
 * cache.put(2, "two", 2);
 * cache.put(3, "three", 2);
 * const evicted = cache.put(4, "four", 3);
 * assert.deepEqual(evicted.map((e) => e.key), [1, 2]);
 * assert.equal(cache.weight, 5);
 * ```
 */
export class TinyUfo<K, V> {
  #map = new Map<K, number>();
  #keys: (K | undefined)[] = [];
  #values: (V | undefined)[] = [];
  #weights: Uint32Array;
  #hashes: Int32Array;
  #uses: Uint8Array;
  #queue: Uint8Array;
  #prev: Int32Array;
  #next: Int32Array;
  #capacity: number;
  #free = NIL;
  #top = 0;
  #heads = new Int32Array([NIL, NIL, NIL]);
  #tails = new Int32Array([NIL, NIL, NIL]);
  #smallWeight = 0;
  #mainWeight = 0;
  #weightLimit: number;
  #smallLimit: number;
  #sketch: TinyLfu;
  #seed: number;
  #onEvict: ((entry: Evicted<K, V>) => void) | undefined;
  #scratch = new Int32Array(8);
  #nScratch = 0;

  /** Creates an empty cache. Throws `RangeError` on a non-positive limit or size. */
  constructor(options: TinyUfoOptions<K, V>) {
    const { weightLimit, estimatedSize } = options;
    if (!Number.isSafeInteger(weightLimit) || weightLimit < 1) {
      throw new RangeError(
        `Cannot create TinyUfo: weightLimit must be a positive integer, got ${weightLimit}`,
      );
    }
    if (!Number.isSafeInteger(estimatedSize) || estimatedSize < 1) {
      throw new RangeError(
        `Cannot create TinyUfo: estimatedSize must be a positive integer, got ${estimatedSize}`,
      );
    }
    this.#weightLimit = weightLimit;
    this.#smallLimit = Math.floor(weightLimit * 0.1) + 1;
    this.#sketch = new TinyLfu(estimatedSize);
    this.#seed = (options.seed ?? randomSeed()) | 0;
    this.#onEvict = options.onEvict;
    const cap = Math.max(16, Math.min(weightLimit, estimatedSize, 1 << 20) + 1);
    this.#capacity = cap;
    this.#weights = new Uint32Array(cap);
    this.#hashes = new Int32Array(cap);
    this.#uses = new Uint8Array(cap);
    this.#queue = new Uint8Array(cap);
    this.#prev = new Int32Array(cap);
    this.#next = new Int32Array(cap);
  }

  /** Number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** Sum of the entries' weights; never above {@linkcode TinyUfo.weightLimit}. */
  get weight(): number {
    return this.#smallWeight + this.#mainWeight;
  }

  /** The configured weight limit. */
  get weightLimit(): number {
    return this.#weightLimit;
  }

  /**
   * Returns the value of `key` and counts a use, or `undefined` if absent.
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10 });
   * cache.put("a", 1, 1);
   * assert.equal(cache.get("a"), 1);
   * assert.equal(cache.get("b"), undefined);
   * ```
   */
  get(key: K): V | undefined {
    const i = this.#map.get(key);
    if (i === undefined) return undefined;
    const uses = this.#uses;
    if (uses[i]! < USES_CAP) uses[i]!++;
    return this.#values[i];
  }

  /**
   * Returns the value of `key` without counting a use.
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10 });
   * cache.put("a", 1, 1);
   * assert.equal(cache.peek("a"), 1);
   * ```
   */
  peek(key: K): V | undefined {
    const i = this.#map.get(key);
    return i === undefined ? undefined : this.#values[i];
  }

  /**
   * Whether `key` is cached (does not count a use).
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10 });
   * cache.put("a", 1, 1);
   * assert.ok(cache.has("a"));
   * ```
   */
  has(key: K): boolean {
    return this.#map.has(key);
  }

  /**
   * Inserts or replaces `key` with a weight (a positive integer), evicting as
   * needed; returns the entries that left, including the newcomer itself
   * (`reason: "rejected"`) when TinyLFU admission prefers the entry it would
   * have evicted, or when `weight` alone exceeds the weight limit (then any
   * older value of `key` is removed too: it is out of date).
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, string>({ weightLimit: 2, estimatedSize: 2 });
   * assert.deepEqual(cache.put("a", "x", 1), []);
   * assert.equal(cache.put("big", "y", 3)[0]?.reason, "rejected");
   * ```
   */
  put(key: K, value: V, weight: number): readonly Evicted<K, V>[] {
    return this.#admit(key, value, weight, false);
  }

  /**
   * Like {@linkcode TinyUfo.put} but skips TinyLFU admission: the entry is
   * inserted unless its weight exceeds the limit.
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 1, estimatedSize: 1 });
   * cache.put("a", 1, 1);
   * cache.put("a", 1, 1);
   * cache.forcePut("b", 2, 1);
   * assert.equal(cache.peek("b"), 2);
   * assert.equal(cache.peek("a"), undefined);
   * ```
   */
  forcePut(key: K, value: V, weight: number): readonly Evicted<K, V>[] {
    return this.#admit(key, value, weight, true);
  }

  /**
   * Removes `key`; returns its value or `undefined`. Does not call `onEvict`.
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10 });
   * cache.put("a", 1, 1);
   * assert.equal(cache.remove("a"), 1);
   * assert.equal(cache.size, 0);
   * ```
   */
  remove(key: K): V | undefined {
    const i = this.#map.get(key);
    if (i === undefined) return undefined;
    this.#map.delete(key);
    this.#unlink(i);
    this.#subtract(i);
    const value = this.#values[i];
    this.#release(i);
    return value;
  }

  /**
   * Evicts entries (in the order a `put` would) until the total weight is at
   * most `weight`, and returns them; for an owner that needs room outside the
   * cache (bytes still being written). Calls `onEvict` like `put`.
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10 });
   * cache.put("a", 1, 4);
   * cache.put("b", 2, 4);
   * assert.equal(cache.evictTo(5).length, 1);
   * assert.ok(cache.weight <= 5);
   * assert.deepEqual(cache.evictTo(5), []);
   * ```
   */
  evictTo(weight: number): readonly Evicted<K, V>[] {
    if (this.#smallWeight + this.#mainWeight <= weight) return NONE;
    this.#evictToLimit(this.#weightLimit - Math.max(0, weight));
    return this.#finish();
  }

  /**
   * Removes every entry (the frequency sketch keeps its counts).
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10 });
   * cache.put("a", 1, 1);
   * cache.clear();
   * assert.equal(cache.weight, 0);
   * ```
   */
  clear(): void {
    this.#map.clear();
    this.#keys = [];
    this.#values = [];
    this.#free = NIL;
    this.#top = 0;
    this.#heads.fill(NIL);
    this.#tails.fill(NIL);
    this.#smallWeight = 0;
    this.#mainWeight = 0;
  }

  /**
   * Which queue holds `key` (`"small"` or `"main"`), or `undefined`: for tests and
   * diagnostics.
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10 });
   * cache.put("a", 1, 1);
   * assert.equal(cache.queueOf("a"), "small");
   * ```
   */
  queueOf(key: K): "small" | "main" | undefined {
    const i = this.#map.get(key);
    if (i === undefined) return undefined;
    return this.#queue[i] === MAIN ? "main" : "small";
  }

  /**
   * Bytes held in typed arrays (entry slots and sketch), excluding the key map
   * and the keys and values themselves.
   *
   * @example
   * ```ts
   * import { TinyUfo } from "@cirque/cache/tinyufo";
   * import assert from "node:assert/strict";
   *
   * const cache = new TinyUfo<number, null>({ weightLimit: 100, estimatedSize: 100 });
   * assert.ok(cache.typedArrayBytes > 0);
   * ```
   */
  get typedArrayBytes(): number {
    return this.#capacity * 22 + this.#sketch.byteLength;
  }

  #admit(key: K, value: V, weight: number, force: boolean): readonly Evicted<K, V>[] {
    if ((weight >>> 0) !== weight || weight === 0) {
      throw new RangeError(
        `Cannot put: weight must be an integer from 1 to ${MAX_WEIGHT}, got ${weight}`,
      );
    }
    const hash =
      (typeof key === "number" && (key | 0) === key
        ? fmix32(key ^ this.#seed)
        : hashKey(key, this.#seed)) | 0;
    // Every put counts in the sketch. For a new key that evicts exactly one entry, the
    // count and the admission test share one pass over the sketch rows.
    const existing = this.#map.get(key);
    if (weight > this.#weightLimit) {
      this.#sketch.incr(hash);
      if (existing !== undefined) this.remove(key);
      return this.#report([{ key, value, weight, reason: "rejected" }]);
    }
    if (existing !== undefined) {
      this.#sketch.incr(hash);
      const i = existing;
      if (this.#uses[i]! < USES_CAP) this.#uses[i]!++;
      const delta = weight - this.#weights[i]!;
      if (this.#queue[i] === MAIN) this.#mainWeight += delta;
      else this.#smallWeight += delta;
      this.#weights[i] = weight;
      this.#values[i] = value;
      this.#evictToLimit(0);
      return this.#finish();
    }
    this.#evictToLimit(weight);
    if (force || this.#nScratch !== 1) this.#sketch.incr(hash);
    else {
      const e = this.#scratch[0]!;
      if (this.#sketch.incrAndCompare(hash, this.#hashes[e]!)) {
        // The evicted entry is more popular: it goes back (to the small queue, with no
        // uses, as in Pingora) and the newcomer is refused.
        this.#nScratch = 0;
        this.#uses[e] = 0;
        this.#pushTail(e, SMALL);
        this.#smallWeight += this.#weights[e]!;
        return this.#report([{ key, value, weight, reason: "rejected" }]);
      }
    }
    const out = this.#nScratch === 0 ? null : this.#collect();
    const i = this.#alloc();
    this.#keys[i] = key;
    this.#values[i] = value;
    this.#weights[i] = weight;
    this.#hashes[i] = hash;
    this.#uses[i] = 0;
    this.#pushTail(i, SMALL);
    this.#smallWeight += weight;
    this.#map.set(key, i);
    return out === null ? NONE : this.#report(out);
  }

  /** Evicts (into #scratch) until `weight + extra` fits. */
  #evictToLimit(extra: number): void {
    const limit = this.#weightLimit - extra;
    while (this.#smallWeight + this.#mainWeight > limit) {
      let i = NIL;
      if (this.#smallWeight >= this.#smallLimit) i = this.#evictSmall();
      if (i === NIL) i = this.#evictMain();
      if (i === NIL) i = this.#evictSmall();
      if (i === NIL) break;
      if (this.#nScratch === this.#scratch.length) {
        const bigger = new Int32Array(this.#scratch.length * 2);
        bigger.set(this.#scratch);
        this.#scratch = bigger;
      }
      this.#scratch[this.#nScratch++] = i;
    }
  }

  #evictSmall(): number {
    const heads = this.#heads;
    for (;;) {
      const i = heads[SMALL]!;
      if (i === NIL) return NIL;
      this.#unlink(i);
      const w = this.#weights[i]!;
      this.#smallWeight -= w;
      if (this.#uses[i]! > 1) {
        this.#pushTail(i, MAIN);
        this.#mainWeight += w;
        continue;
      }
      return i;
    }
  }

  #evictMain(): number {
    const heads = this.#heads;
    const uses = this.#uses;
    for (;;) {
      const i = heads[MAIN]!;
      if (i === NIL) return NIL;
      this.#unlink(i);
      if (uses[i]! > 0) {
        uses[i]!--;
        this.#pushTail(i, MAIN);
        continue;
      }
      this.#mainWeight -= this.#weights[i]!;
      return i;
    }
  }

  /** Turns the scratch indexes into reported entries and frees their slots. */
  #collect(): Evicted<K, V>[] {
    const scratch = this.#scratch;
    const count = this.#nScratch;
    this.#nScratch = 0;
    if (count === 1) {
      const i = scratch[0]!;
      const key = this.#keys[i] as K;
      const e: Evicted<K, V> = {
        key,
        value: this.#values[i] as V,
        weight: this.#weights[i]!,
        reason: "evicted",
      };
      this.#map.delete(key);
      this.#release(i);
      return [e];
    }
    const out: Evicted<K, V>[] = new Array(count);
    for (let n = 0; n < count; n++) {
      const i = scratch[n]!;
      const key = this.#keys[i] as K;
      out[n] = { key, value: this.#values[i] as V, weight: this.#weights[i]!, reason: "evicted" };
      this.#map.delete(key);
      this.#release(i);
    }
    return out;
  }

  #finish(): readonly Evicted<K, V>[] {
    if (this.#nScratch === 0) return NONE;
    return this.#report(this.#collect());
  }

  #report(out: Evicted<K, V>[]): Evicted<K, V>[] {
    const hook = this.#onEvict;
    if (hook !== undefined) { for (const e of out) hook(e); }
    return out;
  }

  #subtract(i: number): void {
    if (this.#queue[i] === MAIN) this.#mainWeight -= this.#weights[i]!;
    else this.#smallWeight -= this.#weights[i]!;
  }

  #unlink(i: number): void {
    const q = this.#queue[i]!;
    const p = this.#prev[i]!;
    const n = this.#next[i]!;
    if (p === NIL) this.#heads[q] = n;
    else this.#next[p] = n;
    if (n === NIL) this.#tails[q] = p;
    else this.#prev[n] = p;
    this.#queue[i] = FREE;
  }

  #pushTail(i: number, q: number): void {
    const t = this.#tails[q]!;
    this.#prev[i] = t;
    this.#next[i] = NIL;
    if (t === NIL) this.#heads[q] = i;
    else this.#next[t] = i;
    this.#tails[q] = i;
    this.#queue[i] = q;
  }

  #alloc(): number {
    const f = this.#free;
    if (f !== NIL) {
      this.#free = this.#next[f]!;
      return f;
    }
    const i = this.#top++;
    if (i === this.#capacity) this.#grow();
    if (i === this.#keys.length) {
      this.#keys.push(undefined);
      this.#values.push(undefined);
    }
    return i;
  }

  #release(i: number): void {
    this.#keys[i] = undefined;
    this.#values[i] = undefined;
    this.#queue[i] = FREE;
    this.#next[i] = this.#free;
    this.#free = i;
  }

  #grow(): void {
    const cap = this.#capacity * 2;
    this.#weights = growTo(this.#weights, new Uint32Array(cap));
    this.#hashes = growTo(this.#hashes, new Int32Array(cap));
    this.#uses = growTo(this.#uses, new Uint8Array(cap));
    this.#queue = growTo(this.#queue, new Uint8Array(cap));
    this.#prev = growTo(this.#prev, new Int32Array(cap));
    this.#next = growTo(this.#next, new Int32Array(cap));
    this.#capacity = cap;
  }
}

function growTo<T extends Uint8Array | Uint32Array | Int32Array>(old: T, next: T): T {
  next.set(old as never);
  return next;
}
