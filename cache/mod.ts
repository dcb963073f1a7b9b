/**
 * `@cirque/cache`: Cirque's caches. The RFC 9111 HTTP cache
 * ({@linkcode HttpCache}, {@linkcode CacheConfig}, storages behind the
 * {@linkcode Storage} interface, {@linkcode CacheLock}) and the in-memory
 * engines under it: TinyUFO (`./tinyufo`), a weighted LRU (`./lru`), a TTL
 * cache and a read-through cache (`./memory-cache`, `./rt-cache`) and their
 * clock (`./clock`). Every file is also a subpath of its own.
 *
 * @example
 * ```ts
 * import { MemoryCache, TinyUfo } from "@cirque/cache";
 * import assert from "node:assert/strict";
 *
 * const ufo = new TinyUfo<string, string>({ weightLimit: 100, estimatedSize: 100 });
 * ufo.put("k", "v", 1);
 * const ttl = new MemoryCache<string, string>({ size: 100 });
 * ttl.put("k", "v", { ttl: 1000 });
 * assert.equal(ufo.get("k"), ttl.get("k").value);
 * ```
 *
 * @module
 */

export * from "./clock.ts";
export * from "./tinyufo.ts";
export * from "./lru.ts";
export * from "./memory_cache.ts";
export * from "./rt_cache.ts";
export * from "./http_date.ts";
export * from "./cache_control.ts";
export * from "./cache_meta.ts";
export * from "./freshness.ts";
export * from "./cache_key.ts";
export * from "./conditional.ts";
export * from "./range.ts";
export * from "./storage.ts";
export * from "./memory_storage.ts";
export * from "./cache_lock.ts";
export * from "./http_cache.ts";
