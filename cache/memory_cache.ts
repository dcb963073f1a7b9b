/**
 * An in-memory cache with per-entry TTL on top of {@linkcode TinyUfo}, after
 * Pingora's `pingora-memory-cache`; plus its read-through companion
 * {@linkcode RTCache} (re-exported from `./rt_cache.ts`).
 *
 * @example
 * ```ts
 * import { MemoryCache } from "@cirque/cache/memory-cache";
 * import assert from "node:assert/strict";
 *
 * const cache = new MemoryCache<string, number>({ size: 1000 });
 * cache.put("a", 1, { ttl: 60_000 });
 * assert.deepEqual(cache.get("a"), { value: 1, status: "hit" });
 * ```
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { TinyUfo } from "./tinyufo.ts";

export { RTCache } from "./rt_cache.ts";
export type {
  LookupResult,
  RTCacheGetOptions,
  RTCacheOptions,
  RTCacheResult,
  RTCacheStaleOptions,
} from "./rt_cache.ts";
export type { Clock } from "./clock.ts";

/** How a cache lookup went. `"lock_hit"`: found after waiting for another caller's lookup. */
export type CacheStatus = "hit" | "miss" | "expired" | "stale" | "lock_hit";

/** The result of {@linkcode MemoryCache.get} and {@linkcode MemoryCache.getStale}. */
export type CacheGetResult<V> =
  | { readonly value: V; readonly status: "hit" }
  | {
    readonly value: V;
    readonly status: "stale";
    /** Milliseconds since the entry expired (0 at the deadline itself). */
    readonly staleMs: number;
  }
  | { readonly value: undefined; readonly status: "miss" | "expired" };

/** Options of {@linkcode MemoryCache}. */
export interface MemoryCacheOptions {
  /** Maximum number of entries (every entry weighs 1). A positive integer. */
  size: number;
  /**
   * Time source for TTLs.
   * @default {systemClock}
   */
  clock?: Clock;
  /**
   * Seed of the key hash of the admission sketch.
   * @default {random}
   */
  seed?: number;
}

/** Options of {@linkcode MemoryCache.put}. */
export interface PutOptions {
  /**
   * Time to live in milliseconds; `undefined` never expires, `0` or less is not stored.
   * @default {undefined}
   */
  ttl?: number | undefined;
}

/** Options of {@linkcode MemoryCache.multiGetWithMiss}'s result. */
export interface MultiGetWithMiss<K, V> {
  /** One result per requested key, in order. */
  results: CacheGetResult<V>[];
  /** The keys whose status is `"miss"` or `"expired"`, in order. */
  missed: K[];
}

interface Slot<V> {
  value: V;
  expiresAt: number;
}

const MISS: CacheGetResult<never> = Object.freeze({ value: undefined, status: "miss" });
const EXPIRED: CacheGetResult<never> = Object.freeze({ value: undefined, status: "expired" });

/**
 * A TTL cache of a fixed number of entries, evicted and admitted by TinyUFO.
 * An entry is expired from its deadline on (`deadline <= now`). Expired entries
 * stay until evicted or replaced, so {@linkcode MemoryCache.getStale} can still
 * serve them.
 *
 * Note: `put` goes through TinyLFU admission and may be refused for a key put
 * once when the cache is full of keys put more often; use
 * {@linkcode MemoryCache.forcePut} to insert regardless.
 *
 * @example TTL with a manual clock
 * ```ts
 * import { MemoryCache } from "@cirque/cache/memory-cache";
 * import { ManualClock } from "@cirque/cache/clock";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const cache = new MemoryCache<string, string>({ size: 10, clock });
 * cache.put("k", "v", { ttl: 1000 });
 * clock.advance(1000);
 * assert.equal(cache.get("k").status, "expired");
 * assert.deepEqual(cache.getStale("k"), { value: "v", status: "stale", staleMs: 0 });
 * ```
 */
export class MemoryCache<K, V> {
  #store: TinyUfo<K, Slot<V>>;
  #clock: Clock;

  /** Creates an empty cache. Throws `RangeError` on a non-positive size. */
  constructor(options: MemoryCacheOptions) {
    const { size } = options;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(
        `Cannot create MemoryCache: size must be a positive integer, got ${size}`,
      );
    }
    this.#store = new TinyUfo({
      weightLimit: size,
      estimatedSize: size,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
    this.#clock = options.clock ?? systemClock;
  }

  /** Number of entries, expired ones included. */
  get size(): number {
    return this.#store.size;
  }

  /**
   * Looks `key` up: `"hit"` with the value, `"expired"` (no value) once its TTL
   * has run out, or `"miss"`.
   *
   * @example
   * ```ts
   * import { MemoryCache } from "@cirque/cache/memory-cache";
   * import assert from "node:assert/strict";
   *
   * const cache = new MemoryCache<string, number>({ size: 10 });
   * assert.equal(cache.get("nope").status, "miss");
   * ```
   */
  get(key: K): CacheGetResult<V> {
    const slot = this.#store.get(key);
    if (slot === undefined) return MISS;
    if (slot.expiresAt <= this.#clock.now()) return EXPIRED;
    return { value: slot.value, status: "hit" };
  }

  /**
   * Like {@linkcode MemoryCache.get} but an expired entry is returned as
   * `"stale"` with the time since it expired.
   *
   * @example
   * ```ts
   * import { MemoryCache } from "@cirque/cache/memory-cache";
   * import { ManualClock } from "@cirque/cache/clock";
   * import assert from "node:assert/strict";
   *
   * const clock = new ManualClock();
   * const cache = new MemoryCache<string, number>({ size: 10, clock });
   * cache.put("a", 1, { ttl: 10 });
   * clock.advance(15);
   * assert.deepEqual(cache.getStale("a"), { value: 1, status: "stale", staleMs: 5 });
   * ```
   */
  getStale(key: K): CacheGetResult<V> {
    const slot = this.#store.get(key);
    if (slot === undefined) return MISS;
    const now = this.#clock.now();
    if (slot.expiresAt <= now) {
      return { value: slot.value, status: "stale", staleMs: now - slot.expiresAt };
    }
    return { value: slot.value, status: "hit" };
  }

  /**
   * Stores `value` under `key` with an optional TTL, subject to TinyLFU
   * admission. Returns whether the value is now cached (`false` for a TTL of
   * 0 or less, or when admission refused it).
   *
   * @example
   * ```ts
   * import { MemoryCache } from "@cirque/cache/memory-cache";
   * import assert from "node:assert/strict";
   *
   * const cache = new MemoryCache<string, number>({ size: 10 });
   * assert.equal(cache.put("a", 1, { ttl: 1000 }), true);
   * assert.equal(cache.put("b", 2, { ttl: 0 }), false);
   * ```
   */
  put(key: K, value: V, options: PutOptions = {}): boolean {
    return this.#put(key, value, options.ttl, false);
  }

  /**
   * Like {@linkcode MemoryCache.put} without the admission check.
   *
   * @example
   * ```ts
   * import { MemoryCache } from "@cirque/cache/memory-cache";
   * import assert from "node:assert/strict";
   *
   * const cache = new MemoryCache<string, number>({ size: 10 });
   * assert.equal(cache.forcePut("a", 1), true);
   * ```
   */
  forcePut(key: K, value: V, options: PutOptions = {}): boolean {
    return this.#put(key, value, options.ttl, true);
  }

  /**
   * Removes `key`; returns whether it was present.
   *
   * @example
   * ```ts
   * import { MemoryCache } from "@cirque/cache/memory-cache";
   * import assert from "node:assert/strict";
   *
   * const cache = new MemoryCache<string, number>({ size: 10 });
   * cache.put("a", 1);
   * assert.equal(cache.remove("a"), true);
   * assert.equal(cache.get("a").status, "miss");
   * ```
   */
  remove(key: K): boolean {
    return this.#store.remove(key) !== undefined;
  }

  /**
   * Looks several keys up; one result per key, in order.
   *
   * @example
   * ```ts
   * import { MemoryCache } from "@cirque/cache/memory-cache";
   * import assert from "node:assert/strict";
   *
   * const cache = new MemoryCache<string, number>({ size: 10 });
   * cache.put("a", 1);
   * assert.deepEqual(cache.multiGet(["a", "b"]).map((r) => r.status), ["hit", "miss"]);
   * ```
   */
  multiGet(keys: Iterable<K>): CacheGetResult<V>[] {
    const out: CacheGetResult<V>[] = [];
    for (const key of keys) out.push(this.get(key));
    return out;
  }

  /**
   * Like {@linkcode MemoryCache.multiGet}, also listing the keys that missed or expired.
   *
   * @example
   * ```ts
   * import { MemoryCache } from "@cirque/cache/memory-cache";
   * import assert from "node:assert/strict";
   *
   * const cache = new MemoryCache<string, number>({ size: 10 });
   * cache.put("a", 1);
   * assert.deepEqual(cache.multiGetWithMiss(["a", "b"]).missed, ["b"]);
   * ```
   */
  multiGetWithMiss(keys: Iterable<K>): MultiGetWithMiss<K, V> {
    const results: CacheGetResult<V>[] = [];
    const missed: K[] = [];
    for (const key of keys) {
      const r = this.get(key);
      results.push(r);
      if (r.status !== "hit") missed.push(key);
    }
    return { results, missed };
  }

  #put(key: K, value: V, ttl: number | undefined, force: boolean): boolean {
    if (ttl !== undefined && !(ttl > 0)) return false;
    const expiresAt = ttl === undefined ? Infinity : this.#clock.now() + ttl;
    const slot: Slot<V> = { value, expiresAt };
    const evicted = force ? this.#store.forcePut(key, slot, 1) : this.#store.put(key, slot, 1);
    for (const e of evicted) if (e.reason === "rejected") return false;
    return true;
  }
}
