/**
 * A read-through cache: on a miss it calls your lookup, once per key however
 * many callers miss at the same time, and caches the result (after Pingora's
 * `RTCache`).
 *
 * @example
 * ```ts
 * import { RTCache } from "@cirque/cache/rt-cache";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * const users = new RTCache<string, string>({
 *   size: 1000,
 *   lookup: (id) => {
 *     calls++;
 *     return Promise.resolve({ value: `user ${id}`, ttl: 60_000 });
 *   },
 * });
 * const [a, b] = await Promise.all([users.get("7"), users.get("7")]);
 * assert.equal(a.value, "user 7");
 * assert.equal(b.status, "lock_hit");
 * assert.equal(calls, 1);
 * ```
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { type CacheStatus, MemoryCache } from "./memory_cache.ts";

/** What a lookup returns: the value and an optional TTL that overrides the caller's. */
export interface LookupResult<V> {
  /** The value to return and cache. */
  value: V;
  /** Time to live in milliseconds; `undefined` falls back to the `ttl` given to `get`. */
  ttl?: number | undefined;
}

/** Options of {@linkcode RTCache}. */
export interface RTCacheOptions<K, V, S = undefined> {
  /** Maximum number of cached entries. A positive integer. */
  size: number;
  /**
   * Fetches the value of one key on a miss. `extra` is the `extra` given to
   * `get`. A throw or rejection reaches every caller waiting for this key and
   * nothing is cached.
   */
  lookup: (key: K, extra: S | undefined) => Promise<LookupResult<V>> | LookupResult<V>;
  /**
   * Fetches several keys in one call for {@linkcode RTCache.multiGet}; must
   * return one result per key, in order. Without it `multiGet` calls `lookup`
   * per missing key (coalesced like `get`).
   * @default {undefined}
   */
  multiLookup?: (
    keys: K[],
    extra: S | undefined,
  ) => Promise<LookupResult<V>[]> | LookupResult<V>[];
  /**
   * Milliseconds after which a pending lookup no longer makes other callers
   * wait: a caller finding an older lock does its own lookup (and does not
   * cache the result).
   * @default {Infinity}
   */
  lockAge?: number;
  /**
   * Milliseconds a caller waits for another caller's lookup before doing its
   * own (not cached).
   * @default {Infinity}
   */
  lockTimeout?: number;
  /**
   * Time source for TTLs, lock ages and lock timeouts.
   * @default {systemClock}
   */
  clock?: Clock;
  /**
   * Seed of the key hash of the admission sketch.
   * @default {random}
   */
  seed?: number;
  /**
   * Receives errors of background refreshes started by
   * {@linkcode RTCache.getStaleWhileUpdate} (otherwise they are dropped).
   * @default {undefined}
   */
  onBackgroundError?: (error: unknown, key: K) => void;
}

/** Options of {@linkcode RTCache.get}. */
export interface RTCacheGetOptions<S = undefined> {
  /**
   * TTL in milliseconds for a looked-up value whose lookup gave none.
   * @default {undefined} (never expires)
   */
  ttl?: number | undefined;
  /**
   * Passed to `lookup` as its second argument.
   * @default {undefined}
   */
  extra?: S | undefined;
}

/** Options of {@linkcode RTCache.getStale} and {@linkcode RTCache.getStaleWhileUpdate}. */
export interface RTCacheStaleOptions<S = undefined> extends RTCacheGetOptions<S> {
  /** How long after expiry (milliseconds, inclusive) an entry may still be served stale. */
  staleTtl: number;
}

/** A value with how it was obtained. */
export interface RTCacheResult<V> {
  /** The cached or looked-up value. */
  value: V;
  /**
   * `"hit"`; `"lock_hit"` (found after waiting for another caller's lookup);
   * `"stale"`; or the status before this caller's own lookup: `"miss"` / `"expired"`.
   */
  status: CacheStatus;
  /** For `"stale"`: milliseconds since the entry expired. */
  staleMs?: number;
}

type Outcome = { ok: true } | { ok: false; error: unknown };
const OK: Outcome = { ok: true };
const TIMED_OUT = Symbol("timed out");

interface Lock {
  start: number;
  done: Promise<Outcome>;
  resolve: (o: Outcome) => void;
}

/**
 * A read-through cache over {@linkcode MemoryCache}.
 *
 * - `get` of a cached key returns it (`"hit"`).
 * - On a miss, the first caller becomes the writer: it calls `lookup`, caches
 *   the value with `forcePut` (no admission check, so waiters find it) and
 *   returns it with status `"miss"` or `"expired"`. Callers arriving meanwhile
 *   wait and then read the cache (`"lock_hit"`).
 * - A waiter whose wait exceeds `lockTimeout`, or who finds a lock older than
 *   `lockAge`, does its own lookup and does not cache the result.
 * - A lookup error is thrown to the writer and to every waiter (the same error
 *   object) and nothing is cached; the next `get` tries again. (Pingora's
 *   waiters retry the lookup instead.)
 *
 * @example Concurrent misses share one lookup
 * ```ts
 * import { RTCache } from "@cirque/cache/rt-cache";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * const cache = new RTCache<number, number>({
 *   size: 100,
 *   lookup: async (n) => {
 *     calls++;
 *     await Promise.resolve();
 *     return { value: n * 2 };
 *   },
 * });
 * const results = await Promise.all([cache.get(21), cache.get(21), cache.get(21)]);
 * assert.deepEqual(results.map((r) => r.value), [42, 42, 42]);
 * assert.deepEqual(results.map((r) => r.status), ["miss", "lock_hit", "lock_hit"]);
 * assert.equal(calls, 1);
 * ```
 */
export class RTCache<K, V, S = undefined> {
  #inner: MemoryCache<K, V>;
  #clock: Clock;
  #lookup: RTCacheOptions<K, V, S>["lookup"];
  #multiLookup: RTCacheOptions<K, V, S>["multiLookup"];
  #lockAge: number;
  #lockTimeout: number;
  #onBackgroundError: ((error: unknown, key: K) => void) | undefined;
  #locks = new Map<K, Lock>();
  #background = new Set<Promise<void>>();

  /** Creates an empty cache. Throws `RangeError` on a bad size, lock age or timeout. */
  constructor(options: RTCacheOptions<K, V, S>) {
    const { lockAge = Infinity, lockTimeout = Infinity } = options;
    if (!(lockAge >= 0)) {
      throw new RangeError(`Cannot create RTCache: lockAge must be >= 0, got ${lockAge}`);
    }
    if (!(lockTimeout >= 0)) {
      throw new RangeError(`Cannot create RTCache: lockTimeout must be >= 0, got ${lockTimeout}`);
    }
    this.#clock = options.clock ?? systemClock;
    this.#inner = new MemoryCache({
      size: options.size,
      clock: this.#clock,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
    this.#lookup = options.lookup;
    this.#multiLookup = options.multiLookup;
    this.#lockAge = lockAge;
    this.#lockTimeout = lockTimeout;
    this.#onBackgroundError = options.onBackgroundError;
  }

  /** The underlying TTL cache (to inspect, seed or invalidate entries). */
  get cache(): MemoryCache<K, V> {
    return this.#inner;
  }

  /** Number of keys with a lookup in flight. */
  get pendingLookups(): number {
    return this.#locks.size;
  }

  /**
   * Returns the cached value of `key` or looks it up (once for concurrent misses).
   *
   * @example
   * ```ts
   * import { RTCache } from "@cirque/cache/rt-cache";
   * import assert from "node:assert/strict";
   *
   * const cache = new RTCache<string, number>({ size: 10, lookup: () => ({ value: 1 }) });
   * assert.deepEqual(await cache.get("a", { ttl: 1000 }), { value: 1, status: "miss" });
   * assert.deepEqual(await cache.get("a"), { value: 1, status: "hit" });
   * ```
   */
  async get(key: K, options: RTCacheGetOptions<S> = {}): Promise<RTCacheResult<V>> {
    const cached = this.#inner.get(key);
    if (cached.status === "hit") return { value: cached.value, status: "hit" };
    const status = cached.status;
    const { ttl, extra } = options;
    const lock = this.#locks.get(key);
    if (lock === undefined) return await this.#write(key, status, ttl, extra);
    if (this.#clock.now() - lock.start > this.#lockAge) {
      const r = await this.#callLookup(key, extra);
      return { value: r.value, status };
    }
    const outcome = await this.#wait(lock);
    if (outcome === TIMED_OUT) {
      const r = await this.#callLookup(key, extra);
      return { value: r.value, status };
    }
    if (!outcome.ok) throw outcome.error;
    const again = this.#inner.get(key);
    if (again.status === "hit") return { value: again.value, status: "lock_hit" };
    // The writer succeeded but its value is not (or no longer) cached, e.g. a TTL of 0.
    const r = await this.#callLookup(key, extra);
    this.#inner.forcePut(key, r.value, { ttl: r.ttl ?? ttl });
    return { value: r.value, status };
  }

  /**
   * Serves an expired entry as `"stale"` if it expired at most `staleTtl`
   * milliseconds ago; otherwise behaves as {@linkcode RTCache.get}.
   *
   * @example
   * ```ts
   * import { RTCache } from "@cirque/cache/rt-cache";
   * import { ManualClock } from "@cirque/cache/clock";
   * import assert from "node:assert/strict";
   *
   * const clock = new ManualClock();
   * let n = 0;
   * const cache = new RTCache<string, number>({ size: 10, clock, lookup: () => ({ value: ++n }) });
   * await cache.get("a", { ttl: 100 });
   * clock.advance(150);
   * assert.deepEqual(await cache.getStale("a", { ttl: 100, staleTtl: 60 }), {
   *   value: 1,
   *   status: "stale",
   *   staleMs: 50,
   * });
   * ```
   */
  async getStale(key: K, options: RTCacheStaleOptions<S>): Promise<RTCacheResult<V>> {
    const stale = this.#fresh(key, options.staleTtl);
    if (stale !== undefined) return stale;
    return await this.get(key, options);
  }

  /**
   * Like {@linkcode RTCache.getStale}, and when it serves a stale value it
   * refreshes the key in the background (a coalesced `get`).
   *
   * @example
   * ```ts
   * import { RTCache } from "@cirque/cache/rt-cache";
   * import { ManualClock } from "@cirque/cache/clock";
   * import assert from "node:assert/strict";
   *
   * const clock = new ManualClock();
   * let n = 0;
   * const cache = new RTCache<string, number>({ size: 10, clock, lookup: () => ({ value: ++n }) });
   * await cache.get("a", { ttl: 100 });
   * clock.advance(150);
   * const opts = { ttl: 100, staleTtl: 1000 };
   * assert.equal((await cache.getStaleWhileUpdate("a", opts)).status, "stale");
   * await cache.settled();
   * assert.deepEqual(await cache.get("a"), { value: 2, status: "hit" });
   * ```
   */
  async getStaleWhileUpdate(key: K, options: RTCacheStaleOptions<S>): Promise<RTCacheResult<V>> {
    const stale = this.#fresh(key, options.staleTtl);
    if (stale === undefined) return await this.get(key, options);
    if (stale.status === "stale") {
      const refresh: Promise<void> = this.get(key, { ttl: options.ttl, extra: options.extra })
        .then(
          () => {},
          (error) => this.#onBackgroundError?.(error, key),
        )
        .finally(() => this.#background.delete(refresh));
      this.#background.add(refresh);
    }
    return stale;
  }

  /**
   * Looks several keys up: cached ones from the cache, all missing ones with
   * one `multiLookup` call (then cached). A lookup error rejects the whole call.
   *
   * @example
   * ```ts
   * import { RTCache } from "@cirque/cache/rt-cache";
   * import assert from "node:assert/strict";
   *
   * const batches: string[][] = [];
   * const cache = new RTCache<string, string>({
   *   size: 10,
   *   lookup: (k) => ({ value: k.toUpperCase() }),
   *   multiLookup: (keys) => {
   *     batches.push(keys);
   *     return keys.map((k) => ({ value: k.toUpperCase() }));
   *   },
   * });
   * await cache.get("a");
   * const r = await cache.multiGet(["a", "b", "c"]);
   * assert.deepEqual(r.map((x) => x.value), ["A", "B", "C"]);
   * assert.deepEqual(batches, [["b", "c"]]);
   * ```
   */
  async multiGet(
    keys: Iterable<K>,
    options: RTCacheGetOptions<S> = {},
  ): Promise<RTCacheResult<V>[]> {
    const { ttl, extra } = options;
    const results: (RTCacheResult<V> | undefined)[] = [];
    const missing = new Map<K, { status: CacheStatus; at: number[] }>();
    for (const key of keys) {
      const r = this.#inner.get(key);
      if (r.status === "hit") {
        results.push({ value: r.value, status: "hit" });
        continue;
      }
      const m = missing.get(key);
      if (m === undefined) missing.set(key, { status: r.status, at: [results.length] });
      else m.at.push(results.length);
      results.push(undefined);
    }
    if (missing.size === 0) return results as RTCacheResult<V>[];
    const missKeys = [...missing.keys()];
    if (this.#multiLookup === undefined) {
      const found = await Promise.all(missKeys.map((k) => this.get(k, options)));
      missKeys.forEach((k, n) => {
        for (const i of missing.get(k)!.at) results[i] = found[n]!;
      });
      return results as RTCacheResult<V>[];
    }
    const found = await this.#multiLookup(missKeys, extra);
    if (found.length !== missKeys.length) {
      throw new RangeError(
        `Cannot multiGet: multiLookup returned ${found.length} results for ${missKeys.length} keys`,
      );
    }
    missKeys.forEach((k, n) => {
      const f = found[n]!;
      this.#inner.forcePut(k, f.value, { ttl: f.ttl ?? ttl });
      const m = missing.get(k)!;
      for (const i of m.at) results[i] = { value: f.value, status: m.status };
    });
    return results as RTCacheResult<V>[];
  }

  /**
   * Resolves once every background refresh started so far has finished
   * (for tests and graceful shutdown).
   *
   * @example
   * ```ts
   * import { RTCache } from "@cirque/cache/rt-cache";
   *
   * const cache = new RTCache<string, number>({ size: 10, lookup: () => ({ value: 1 }) });
   * await cache.settled();
   * ```
   */
  async settled(): Promise<void> {
    while (this.#background.size > 0) await Promise.all(this.#background);
  }

  #fresh(key: K, staleTtl: number): RTCacheResult<V> | undefined {
    const r = this.#inner.getStale(key);
    if (r.status === "hit") return { value: r.value, status: "hit" };
    if (r.status === "stale" && r.staleMs <= staleTtl) {
      return { value: r.value, status: "stale", staleMs: r.staleMs };
    }
    return undefined;
  }

  async #write(
    key: K,
    status: CacheStatus,
    ttl: number | undefined,
    extra: S | undefined,
  ): Promise<RTCacheResult<V>> {
    let resolve!: (o: Outcome) => void;
    const done = new Promise<Outcome>((r) => resolve = r);
    const lock: Lock = { start: this.#clock.now(), done, resolve };
    this.#locks.set(key, lock);
    let r: LookupResult<V>;
    try {
      r = await this.#callLookup(key, extra);
    } catch (error) {
      this.#release(key, lock, { ok: false, error });
      throw error;
    }
    this.#inner.forcePut(key, r.value, { ttl: r.ttl ?? ttl });
    this.#release(key, lock, OK);
    return { value: r.value, status };
  }

  #release(key: K, lock: Lock, outcome: Outcome): void {
    if (this.#locks.get(key) === lock) this.#locks.delete(key);
    lock.resolve(outcome);
  }

  async #callLookup(key: K, extra: S | undefined): Promise<LookupResult<V>> {
    return await this.#lookup(key, extra);
  }

  #wait(lock: Lock): Promise<Outcome | typeof TIMED_OUT> {
    if (this.#lockTimeout === Infinity) return lock.done;
    const clock = this.#clock;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => resolve(TIMED_OUT), this.#lockTimeout);
      lock.done.then((o) => {
        clock.clearTimeout(timer);
        resolve(o);
      });
    });
  }
}
