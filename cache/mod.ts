/**
 * `@cirque/cache`: Cirque's caches. Today the in-memory engines, each also a
 * subpath of its own: TinyUFO (`./tinyufo`), a weighted LRU for eviction
 * managers (`./lru`), a TTL cache and a read-through cache (`./memory-cache`,
 * `./rt-cache`) and their clock (`./clock`).
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
