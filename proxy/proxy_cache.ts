/**
 * The cache state of a request as the phases see it.
 *
 * @module
 */

import type { HttpCache } from "@cirque/cache/http-cache";
import { CACHES } from "./_cache_flow.ts";
import type { Session } from "./session.ts";

/**
 * The {@linkcode HttpCache} of `session` (its `phase`, `cacheStatus()`,
 * `noCacheReason`, `meta`), or `null` when the cache is off for the request.
 * Also recorded as the `cache` tag of `session.tags`.
 *
 * @example
 * ```ts
 * import { Session, sessionCache } from "@cirque/proxy";
 * import { RequestHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * assert.equal(sessionCache(new Session(new RequestHeader("GET", "/"))), null);
 * ```
 */
export function sessionCache(session: Session): HttpCache | null {
  return CACHES.get(session) ?? null;
}
