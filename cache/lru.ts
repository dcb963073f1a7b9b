/**
 * A weighted LRU list for eviction managers, after Pingora's `pingora-lru`.
 *
 * Admission and eviction are separate steps: {@linkcode Lru.admit} inserts or
 * refreshes an entry, {@linkcode Lru.evictToLimit} then evicts least recently
 * used entries until the total weight (and the optional entry-count
 * watermark) fits. Entries live in typed arrays linked by index.
 *
 * @example
 * ```ts
 * import { Lru } from "@cirque/cache/lru";
 * import assert from "node:assert/strict";
 *
 * const lru = new Lru<string, string>({ weightLimit: 10 });
 * lru.admit("a", "body a", 6);
 * lru.admit("b", "body b", 6);
 * assert.deepEqual(lru.evictToLimit().map((e) => e.key), ["a"]);
 * ```
 *
 * @module
 */

/** Options of {@linkcode Lru}. */
export interface LruOptions {
  /** Total weight kept by {@linkcode Lru.evictToLimit}. A non-negative number. */
  weightLimit: number;
  /**
   * Maximum number of entries kept by {@linkcode Lru.evictToLimit}, whatever their weight.
   * @default {Infinity}
   */
  watermark?: number;
}

/** An entry of an {@linkcode Lru}. */
export interface LruEntry<K, V> {
  /** The entry's key. */
  readonly key: K;
  /** The entry's value. */
  readonly value: V;
  /** The entry's weight. */
  readonly weight: number;
}

const NIL = -1;

/**
 * A weighted least-recently-used list. Single-threaded, so unlike Pingora's it
 * has no shards. Keys compare as in a `Map`.
 *
 * @example Promote an entry so that another is evicted first
 * ```ts
 * import { Lru } from "@cirque/cache/lru";
 * import assert from "node:assert/strict";
 *
 * const lru = new Lru<number, null>({ weightLimit: 2 });
 * lru.admit(1, null, 1);
 * lru.admit(2, null, 1);
 * lru.promote(1);
 * lru.admit(3, null, 1);
 * assert.deepEqual(lru.evictToLimit().map((e) => e.key), [2]);
 * assert.equal(lru.weight, 2);
 * ```
 */
export class Lru<K, V> {
  #map = new Map<K, number>();
  #keys: (K | undefined)[] = [];
  #values: (V | undefined)[] = [];
  #weights: Float64Array;
  #prev: Int32Array;
  #next: Int32Array;
  #capacity: number;
  #free = NIL;
  #top = 0;
  #head = NIL; // most recently used
  #tail = NIL; // least recently used
  #weight = 0;
  #weightLimit: number;
  #watermark: number;
  #evictedWeight = 0;
  #evictedSize = 0;

  /** Creates an empty list. Throws `RangeError` on a negative limit or watermark. */
  constructor(options: LruOptions) {
    const { weightLimit, watermark = Infinity } = options;
    if (!(weightLimit >= 0)) {
      throw new RangeError(
        `Cannot create Lru: weightLimit must be a non-negative number, got ${weightLimit}`,
      );
    }
    if (!(watermark >= 0)) {
      throw new RangeError(
        `Cannot create Lru: watermark must be a non-negative number, got ${watermark}`,
      );
    }
    this.#weightLimit = weightLimit;
    this.#watermark = watermark;
    this.#capacity = 16;
    this.#weights = new Float64Array(16);
    this.#prev = new Int32Array(16);
    this.#next = new Int32Array(16);
  }

  /** Number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** Sum of the entries' weights (may exceed the limit until {@linkcode Lru.evictToLimit}). */
  get weight(): number {
    return this.#weight;
  }

  /** Total weight evicted so far by `evictToLimit` and `evictOne`. */
  get evictedWeight(): number {
    return this.#evictedWeight;
  }

  /** Number of entries evicted so far by `evictToLimit` and `evictOne`. */
  get evictedSize(): number {
    return this.#evictedSize;
  }

  /**
   * Inserts `key` as the most recently used entry, or replaces its value and
   * weight and promotes it. Returns `true` if the key was new. Evicts nothing.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * assert.equal(lru.admit("a", 1, 3), true);
   * assert.equal(lru.admit("a", 2, 4), false);
   * assert.equal(lru.weight, 4);
   * ```
   */
  admit(key: K, value: V, weight: number): boolean {
    checkWeight(weight);
    const existing = this.#map.get(key);
    if (existing !== undefined) {
      this.#replace(existing, value, weight);
      this.#moveToHead(existing);
      return false;
    }
    const i = this.#insert(key, value, weight);
    this.#linkHead(i);
    return true;
  }

  /**
   * Inserts `key` as the least recently used entry (for loading a saved list
   * in order); replaces and demotes it if present. Returns `true` if new.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * lru.insertTail("b", 2, 1);
   * assert.equal(lru.peekLru()?.key, "b");
   * ```
   */
  insertTail(key: K, value: V, weight: number): boolean {
    checkWeight(weight);
    const existing = this.#map.get(key);
    if (existing !== undefined) {
      this.#replace(existing, value, weight);
      this.#unlink(existing);
      this.#linkTail(existing);
      return false;
    }
    const i = this.#insert(key, value, weight);
    this.#linkTail(i);
    return true;
  }

  /**
   * Marks `key` as the most recently used entry; returns whether it exists.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * assert.equal(lru.promote("a"), true);
   * assert.equal(lru.promote("b"), false);
   * ```
   */
  promote(key: K): boolean {
    const i = this.#map.get(key);
    if (i === undefined) return false;
    if (i !== this.#head) this.#moveToHead(i);
    return true;
  }

  /**
   * Returns the value of `key` and promotes it, or `undefined`.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * assert.equal(lru.get("a"), 1);
   * ```
   */
  get(key: K): V | undefined {
    const i = this.#map.get(key);
    if (i === undefined) return undefined;
    if (i !== this.#head) this.#moveToHead(i);
    return this.#values[i];
  }

  /**
   * Returns the value of `key` without promoting it.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * assert.equal(lru.peek("a"), 1);
   * ```
   */
  peek(key: K): V | undefined {
    const i = this.#map.get(key);
    return i === undefined ? undefined : this.#values[i];
  }

  /**
   * Returns the weight of `key`, or `undefined`.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 7);
   * assert.equal(lru.peekWeight("a"), 7);
   * ```
   */
  peekWeight(key: K): number | undefined {
    const i = this.#map.get(key);
    return i === undefined ? undefined : this.#weights[i];
  }

  /**
   * Returns the least recently used entry without removing it.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * lru.admit("b", 2, 1);
   * assert.equal(lru.peekLru()?.key, "a");
   * ```
   */
  peekLru(): LruEntry<K, V> | undefined {
    const i = this.#tail;
    return i === NIL ? undefined : this.#entry(i);
  }

  /**
   * Whether `key` is present (does not promote).
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * assert.ok(lru.has("a"));
   * ```
   */
  has(key: K): boolean {
    return this.#map.has(key);
  }

  /**
   * Adds `delta` to the weight of `key` (e.g. as a streamed body grows) and
   * promotes it; returns the new weight, or `undefined` if absent.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * assert.equal(lru.incrementWeight("a", 4), 5);
   * assert.equal(lru.weight, 5);
   * ```
   */
  incrementWeight(key: K, delta: number): number | undefined {
    const i = this.#map.get(key);
    if (i === undefined) return undefined;
    const w = this.#weights[i]! + delta;
    checkWeight(w);
    this.#weights[i] = w;
    this.#weight += delta;
    if (i !== this.#head) this.#moveToHead(i);
    return w;
  }

  /**
   * Evicts least recently used entries while the total weight exceeds the
   * limit or the entry count exceeds the watermark; returns them, oldest first.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 100, watermark: 1 });
   * lru.admit("a", 1, 1);
   * lru.admit("b", 2, 1);
   * assert.deepEqual(lru.evictToLimit(), [{ key: "a", value: 1, weight: 1 }]);
   * ```
   */
  evictToLimit(): LruEntry<K, V>[] {
    const out: LruEntry<K, V>[] = [];
    while (
      this.#tail !== NIL && (this.#weight > this.#weightLimit || this.#map.size > this.#watermark)
    ) {
      out.push(this.#evictTail());
    }
    return out;
  }

  /**
   * Evicts the least recently used entry regardless of limits; returns it, or
   * `undefined` when empty.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * assert.equal(lru.evictOne()?.key, "a");
   * assert.equal(lru.evictOne(), undefined);
   * ```
   */
  evictOne(): LruEntry<K, V> | undefined {
    return this.#tail === NIL ? undefined : this.#evictTail();
  }

  /**
   * Removes `key`; returns its entry or `undefined`. Not counted as an eviction.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 2);
   * assert.deepEqual(lru.remove("a"), { key: "a", value: 1, weight: 2 });
   * assert.equal(lru.size, 0);
   * ```
   */
  remove(key: K): LruEntry<K, V> | undefined {
    const i = this.#map.get(key);
    if (i === undefined) return undefined;
    const entry = this.#entry(i);
    this.#drop(i);
    return entry;
  }

  /**
   * Entries from most to least recently used.
   *
   * @example
   * ```ts
   * import { Lru } from "@cirque/cache/lru";
   * import assert from "node:assert/strict";
   *
   * const lru = new Lru<string, number>({ weightLimit: 10 });
   * lru.admit("a", 1, 1);
   * lru.admit("b", 2, 1);
   * assert.deepEqual([...lru].map((e) => e.key), ["b", "a"]);
   * ```
   */
  *[Symbol.iterator](): IterableIterator<LruEntry<K, V>> {
    for (let i = this.#head; i !== NIL; i = this.#next[i]!) yield this.#entry(i);
  }

  #entry(i: number): LruEntry<K, V> {
    return { key: this.#keys[i] as K, value: this.#values[i] as V, weight: this.#weights[i]! };
  }

  #evictTail(): LruEntry<K, V> {
    const i = this.#tail;
    const entry = this.#entry(i);
    this.#evictedWeight += entry.weight;
    this.#evictedSize++;
    this.#drop(i);
    return entry;
  }

  #drop(i: number): void {
    this.#map.delete(this.#keys[i] as K);
    this.#unlink(i);
    this.#weight -= this.#weights[i]!;
    this.#keys[i] = undefined;
    this.#values[i] = undefined;
    this.#next[i] = this.#free;
    this.#free = i;
  }

  /** Replaces the value and weight of the entry at slot `i`. */
  #replace(i: number, value: V, weight: number): void {
    this.#weight += weight - this.#weights[i]!;
    this.#weights[i] = weight;
    this.#values[i] = value;
  }

  #insert(key: K, value: V, weight: number): number {
    let i = this.#free;
    if (i !== NIL) {
      this.#free = this.#next[i]!;
      this.#keys[i] = key;
      this.#values[i] = value;
    } else {
      i = this.#top++;
      if (i === this.#capacity) this.#grow();
      this.#keys.push(key);
      this.#values.push(value);
    }
    this.#weights[i] = weight;
    this.#weight += weight;
    this.#map.set(key, i);
    return i;
  }

  #moveToHead(i: number): void {
    this.#unlink(i);
    this.#linkHead(i);
  }

  #unlink(i: number): void {
    const p = this.#prev[i]!;
    const n = this.#next[i]!;
    if (p === NIL) this.#head = n;
    else this.#next[p] = n;
    if (n === NIL) this.#tail = p;
    else this.#prev[n] = p;
  }

  #linkHead(i: number): void {
    const h = this.#head;
    this.#prev[i] = NIL;
    this.#next[i] = h;
    if (h === NIL) this.#tail = i;
    else this.#prev[h] = i;
    this.#head = i;
  }

  #linkTail(i: number): void {
    const t = this.#tail;
    this.#next[i] = NIL;
    this.#prev[i] = t;
    if (t === NIL) this.#head = i;
    else this.#next[t] = i;
    this.#tail = i;
  }

  #grow(): void {
    const cap = this.#capacity * 2;
    const w = new Float64Array(cap);
    w.set(this.#weights);
    const p = new Int32Array(cap);
    p.set(this.#prev);
    const n = new Int32Array(cap);
    n.set(this.#next);
    this.#weights = w;
    this.#prev = p;
    this.#next = n;
    this.#capacity = cap;
  }
}

function checkWeight(weight: number): void {
  if (!(weight >= 0) || weight === Infinity) {
    throw new RangeError(
      `Cannot admit: weight must be a finite non-negative number, got ${weight}`,
    );
  }
}
