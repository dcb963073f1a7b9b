/**
 * The RFC 9111 rules of a shared cache: may a response be stored
 * ({@linkcode responseCacheability}, §3), how long is it fresh (§4.2.1,
 * §4.2.2), and may a stored response answer this request
 * ({@linkcode freshnessDecision}, §4.2, §5.2.1).
 *
 * @example
 * ```ts
 * import { responseCacheability } from "@cirque/cache/freshness";
 * import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const r = responseCacheability(
 *   new RequestHeader("GET", "/"),
 *   new ResponseHeader(200, [["Cache-Control", "max-age=60"]]),
 *   { requestTime: 0, responseTime: 0 },
 * );
 * assert.equal(r.kind, "cacheable");
 * if (r.kind === "cacheable") assert.equal(r.meta.freshnessLifetime, 60_000);
 * ```
 *
 * @module
 */

import type { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
import { CacheControl } from "./cache_control.ts";
import { CacheMeta } from "./cache_meta.ts";
import { parseHttpDate } from "./http_date.ts";

/** Why a response is not stored (Pingora's `NoCacheReason`, the ones the rules produce). */
export type NoCacheReason =
  | "method"
  | "status"
  | "no-store"
  | "private"
  | "authorization"
  | "vary-star"
  | "no-freshness"
  | "too-large"
  | "custom";

/** Status codes heuristically cacheable by default (RFC 9110 §15.1). */
export const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([
  200,
  203,
  204,
  206,
  300,
  301,
  308,
  404,
  405,
  410,
  414,
  501,
]);

/** Options of the cacheability and freshness rules. */
export interface FreshnessOptions {
  /**
   * A targeted cache-control field (RFC 9213) this cache obeys before
   * `Cache-Control`, e.g. `"CDN-Cache-Control"`; `null` for none.
   * @default {null}
   */
  targetedField?: string | null;
  /**
   * Freshness in seconds for responses without explicit freshness, by status;
   * `undefined` means "use the Last-Modified heuristic only".
   * @default {() => undefined}
   */
  defaultTtl?: (status: number) => number | undefined;
  /**
   * Fraction of (Date − Last-Modified) used as heuristic freshness (RFC 9111 §4.2.2).
   * @default {0.1}
   */
  heuristicFraction?: number;
  /**
   * Upper bound of heuristic freshness, seconds.
   * @default {86400}
   */
  maxHeuristicTtl?: number;
  /**
   * stale-while-revalidate seconds when the response names none and no
   * directive forbids serving it stale (`no-cache`, `must-revalidate`,
   * `proxy-revalidate`, `s-maxage`; RFC 9111 §4.2.4).
   * @default {0}
   */
  defaultStaleWhileRevalidate?: number;
  /**
   * stale-if-error seconds when the response names none and no directive
   * forbids serving it stale (`no-cache`, `must-revalidate`,
   * `proxy-revalidate`, `s-maxage`; RFC 9111 §4.2.4).
   * @default {0}
   */
  defaultStaleIfError?: number;
}

/** The outcome of {@linkcode responseCacheability}. */
export type Cacheability =
  | { kind: "cacheable"; meta: CacheMeta }
  | { kind: "uncacheable"; reason: NoCacheReason };

/**
 * The cache-control directives this cache obeys for a response: the targeted
 * field when present and non-empty (RFC 9213 §2.2), else `Cache-Control`.
 * `targeted` says which one was used (then `Expires` is ignored too).
 *
 * @example
 * ```ts
 * import { responseDirectives } from "@cirque/cache/freshness";
 * import { ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const res = new ResponseHeader(200, [["Cache-Control", "no-store"], ["CDN-Cache-Control", "max-age=9"]]);
 * const { cc, targeted } = responseDirectives(res, "CDN-Cache-Control");
 * assert.ok(targeted);
 * assert.equal(cc.seconds("max-age"), 9);
 * ```
 */
export function responseDirectives(
  res: ResponseHeader,
  targetedField: string | null = null,
): { cc: CacheControl; targeted: boolean } {
  if (targetedField !== null) {
    const t = res.headers.getAll(targetedField);
    if (t.length > 0) {
      const cc = CacheControl.parse(t);
      if (!cc.isEmpty) return { cc, targeted: true };
    }
  }
  return { cc: CacheControl.parse(res.headers.getAll("cache-control")), targeted: false };
}

/**
 * The request's cache directives; a request without `Cache-Control` but with
 * `Pragma: no-cache` is treated as `no-cache` (RFC 9111 §5.4).
 *
 * @example
 * ```ts
 * import { requestDirectives } from "@cirque/cache/freshness";
 * import { RequestHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * assert.ok(requestDirectives(new RequestHeader("GET", "/", [["Pragma", "no-cache"]])).has("no-cache"));
 * ```
 */
export function requestDirectives(req: RequestHeader): CacheControl {
  const values = req.headers.getAll("cache-control");
  if (values.length > 0) return CacheControl.parse(values);
  const pragma = req.headers.get("pragma");
  if (pragma !== null && /(^|[\s,])no-cache($|[\s,])/i.test(pragma)) {
    return new CacheControl(new Map([["no-cache", null]]));
  }
  return CacheControl.EMPTY;
}

/**
 * Decides whether a shared cache may store `res` (RFC 9111 §3, §3.5) and, if
 * so, builds its {@linkcode CacheMeta} with the freshness lifetime
 * (§4.2.1: s-maxage, max-age, Expires − Date; §4.2.2 heuristics) and the
 * RFC 5861 stale windows. Header fields named by `private="…"` and
 * `no-cache="…"` are left out of the stored head (§5.2.2.4, §5.2.2.7).
 *
 * Times are epoch milliseconds.
 *
 * @example Authorization needs an explicit permission (RFC 9111 §3.5)
 * ```ts
 * import { responseCacheability } from "@cirque/cache/freshness";
 * import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const req = new RequestHeader("GET", "/", [["Authorization", "Bearer x"]]);
 * const times = { requestTime: 0, responseTime: 0 };
 * const plain = responseCacheability(req, new ResponseHeader(200, [["Cache-Control", "max-age=9"]]), times);
 * assert.deepEqual(plain, { kind: "uncacheable", reason: "authorization" });
 * const pub = responseCacheability(req, new ResponseHeader(200, [["Cache-Control", "public, max-age=9"]]), times);
 * assert.equal(pub.kind, "cacheable");
 * ```
 */
export function responseCacheability(
  req: RequestHeader,
  res: ResponseHeader,
  times: { requestTime: number; responseTime: number },
  options: FreshnessOptions = {},
): Cacheability {
  // §3: the request method is understood and cacheable (HEAD is fetched as GET).
  if (req.method !== "GET" && req.method !== "HEAD") {
    return { kind: "uncacheable", reason: "method" };
  }
  // §3: final, understood status; partial content and 304 are never stored as such.
  if (res.status < 200 || res.status === 206 || res.status === 304 || res.status > 599) {
    return { kind: "uncacheable", reason: "status" };
  }
  const reqCc = requestDirectives(req);
  if (reqCc.has("no-store")) return { kind: "uncacheable", reason: "no-store" }; // §5.2.1.5
  const { cc, targeted } = responseDirectives(res, options.targetedField ?? null);
  if (cc.has("no-store")) return { kind: "uncacheable", reason: "no-store" }; // §5.2.2.5
  // §5.2.2.7: unqualified private forbids a shared cache to store.
  if (cc.has("private") && cc.fieldNames("private") === null) {
    return { kind: "uncacheable", reason: "private" };
  }
  const sMaxage = cc.seconds("s-maxage");
  // §3.5: Authorization needs must-revalidate, public or s-maxage.
  if (
    req.headers.has("authorization") &&
    !(cc.has("public") || cc.has("must-revalidate") || sMaxage !== undefined)
  ) {
    return { kind: "uncacheable", reason: "authorization" };
  }
  // §4.1: Vary: * never matches, so storing is pointless.
  const vary = res.headers.getAll("vary");
  if (vary.some((v) => v.split(",").some((n) => n.trim() === "*"))) {
    return { kind: "uncacheable", reason: "vary-star" };
  }

  // §4.2.1 freshness lifetime.
  const now = times.responseTime;
  let lifetime: number | undefined;
  if (sMaxage !== undefined) lifetime = sMaxage;
  else {
    const maxAge = cc.seconds("max-age");
    if (maxAge !== undefined) lifetime = maxAge;
    else if (!targeted) {
      const expires = res.headers.getAll("expires");
      if (expires.length > 0) {
        // §5.3: invalid dates (e.g. "0") are in the past; first value wins (§4.2.1).
        const exp = parseHttpDate(expires[0]!);
        const dateRaw = res.headers.get("date");
        const date = dateRaw === null ? null : parseHttpDate(dateRaw);
        lifetime = exp === null ? 0 : Math.max(0, (exp - (date ?? now)) / 1000);
      }
    }
  }
  if (lifetime === undefined) {
    // §4.2.2 heuristic freshness, only for heuristically cacheable statuses or `public`.
    if (!HEURISTICALLY_CACHEABLE.has(res.status) && !cc.has("public")) {
      return { kind: "uncacheable", reason: "status" };
    }
    const configured = options.defaultTtl?.(res.status);
    if (configured !== undefined) lifetime = configured;
    else {
      const lm = res.headers.get("last-modified");
      const lmt = lm === null ? null : parseHttpDate(lm);
      if (lmt !== null) {
        const dateRaw = res.headers.get("date");
        const date = (dateRaw === null ? null : parseHttpDate(dateRaw)) ?? now;
        lifetime = Math.min(
          Math.max(0, ((date - lmt) / 1000) * (options.heuristicFraction ?? 0.1)),
          options.maxHeuristicTtl ?? 86400,
        );
      }
    }
  }
  const noCache = cc.has("no-cache") && cc.fieldNames("no-cache") === null;
  if (noCache) lifetime = 0; // §5.2.2.4
  // §4.2.4: no stale response where a directive forbids it. must-revalidate,
  // proxy-revalidate and s-maxage (§5.2.2.2, §5.2.2.8, §5.2.2.10) forbid every
  // stale use, even one the response's own RFC 5861 directives would allow.
  // no-cache (§5.2.2.4) forbids a use before validation: no stale-while-revalidate
  // at all, and stale-if-error only when the response names it itself (the
  // origin's explicit permission); the configured defaults never apply to it.
  const mustRevalidate = cc.has("must-revalidate") || cc.has("proxy-revalidate") ||
    sMaxage !== undefined;
  const swr = mustRevalidate || noCache
    ? 0
    : cc.seconds("stale-while-revalidate") ?? options.defaultStaleWhileRevalidate ?? 0;
  const sie = mustRevalidate
    ? 0
    : cc.seconds("stale-if-error") ?? (noCache ? 0 : options.defaultStaleIfError ?? 0);
  const hasValidator = res.headers.has("etag") || res.headers.has("last-modified");
  // Nothing could ever be served from an entry that is born stale and cannot be revalidated.
  if ((lifetime ?? 0) === 0 && !hasValidator && sie === 0 && swr === 0) {
    return { kind: "uncacheable", reason: "no-freshness" };
  }
  const strip = new Set([
    ...(cc.fieldNames("private") ?? []),
    ...(cc.fieldNames("no-cache") ?? []),
  ]);
  const headers = strip.size === 0
    ? res.headers.pairs.map((p): [string, string] => [p[0], p[1]])
    : res.headers.pairs.filter((p) => !strip.has(p[0].toLowerCase())).map((p): [
      string,
      string,
    ] => [p[0], p[1]]);
  return {
    kind: "cacheable",
    meta: new CacheMeta({
      status: res.status,
      statusText: res.statusText,
      headers,
      requestTime: times.requestTime,
      responseTime: times.responseTime,
      freshnessLifetime: (lifetime ?? 0) * 1000,
      staleWhileRevalidate: swr * 1000,
      staleIfError: sie * 1000,
      mustRevalidate,
      noCache,
    }),
  };
}

/** How a stored response may be used for a request. */
export type FreshnessDecision =
  /** Fresh and acceptable: serve it. */
  | "fresh"
  /** Stale, but the request's `max-stale` accepts it (RFC 9111 §5.2.1.2). */
  | "stale-acceptable"
  /** Must be revalidated (or refetched) before use. */
  | "stale";

/**
 * Whether `meta` may answer a request with directives `req` at `now`
 * (RFC 9111 §4.2, §4.2.4, §5.2.1): request `no-cache`, `max-age`, `min-fresh`
 * and `max-stale`, response `no-cache` and `must-revalidate`.
 *
 * @example
 * ```ts
 * import { freshnessDecision } from "@cirque/cache/freshness";
 * import { CacheControl } from "@cirque/cache/cache-control";
 * import { CacheMeta } from "@cirque/cache/cache-meta";
 * import assert from "node:assert/strict";
 *
 * const meta = new CacheMeta({ status: 200, headers: [], requestTime: 0, responseTime: 0, freshnessLifetime: 10_000 });
 * assert.equal(freshnessDecision(meta, CacheControl.EMPTY, 5_000), "fresh");
 * assert.equal(freshnessDecision(meta, CacheControl.parse("max-age=2"), 5_000), "stale");
 * assert.equal(freshnessDecision(meta, CacheControl.parse("max-stale=5"), 12_000), "stale-acceptable");
 * ```
 */
export function freshnessDecision(
  meta: CacheMeta,
  req: CacheControl,
  now: number,
): FreshnessDecision {
  if (meta.noCache || req.has("no-cache")) return "stale"; // §5.2.2.4, §5.2.1.4
  const ageMs = meta.ageMs(now);
  const ttl = meta.freshnessLifetime - ageMs;
  const maxAge = req.seconds("max-age");
  if (maxAge !== undefined && ageMs > maxAge * 1000) return "stale"; // §5.2.1.1
  const minFresh = req.seconds("min-fresh");
  if (minFresh !== undefined && ttl < minFresh * 1000) return "stale"; // §5.2.1.3
  if (ttl > 0) return "fresh";
  // §5.2.1.2 max-stale, never past must-revalidate (§5.2.2.2).
  if (req.has("max-stale") && !meta.mustRevalidate) {
    const v = req.directives.get("max-stale");
    if (v === null || v === undefined) return "stale-acceptable";
    const limit = req.seconds("max-stale") ?? 0;
    if (-ttl <= limit * 1000) return "stale-acceptable";
  }
  return "stale";
}
