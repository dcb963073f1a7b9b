/**
 * {@linkcode HttpCache}: the per-request RFC 9111 cache state machine
 * (Pingora's `HttpCache`) and {@linkcode CacheConfig}, the settings shared by
 * every request of a route. Transport-neutral: the proxy engine drives it
 * through {@linkcode HttpCache.lookup}, {@linkcode HttpCache.upstreamRequest},
 * {@linkcode HttpCache.upstreamResponse} and {@linkcode HttpCache.upstreamError}.
 *
 * @example Miss, then hit
 * ```ts
 * import { CacheConfig, HttpCache, MemoryStorage } from "@cirque/cache";
 * import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const config = new CacheConfig({ storage: new MemoryStorage() });
 * const req = new RequestHeader("GET", "/a", [["Host", "x"]]);
 * const first = new HttpCache(config, req);
 * assert.equal((await first.lookup()).kind, "upstream");
 * const res = new ResponseHeader(200, [["Cache-Control", "max-age=60"], ["Content-Length", "2"]]);
 * const out = await first.upstreamResponse(res, new Response("hi").body);
 * assert.equal(await new Response(out.body).text(), "hi");
 * const second = new HttpCache(config, req);
 * const hit = await second.lookup();
 * assert.equal(hit.kind, "serve");
 * assert.equal(second.phase, "hit");
 * if (hit.kind === "serve") assert.equal(await new Response(hit.body).text(), "hi");
 * ```
 *
 * @module
 */

import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
import type { CacheControl } from "./cache_control.ts";
import { primaryKey, varianceKey, varyNames } from "./cache_key.ts";
import type { CacheLock, ReadLock, WritePermit } from "./cache_lock.ts";
import { CacheMeta } from "./cache_meta.ts";
import { type Clock, wallClock } from "./clock.ts";
import {
  evaluateConditional,
  notModifiedHead,
  refreshHeaders,
  validatorFields,
  validatorsMatch,
} from "./conditional.ts";
import {
  type Cacheability,
  freshnessDecision,
  type FreshnessOptions,
  type NoCacheReason,
  requestDirectives,
  responseCacheability,
} from "./freshness.ts";
import { formatHttpDate } from "./http_date.ts";
import { type BodyPart, ifRangeMatches, rangeAnswer } from "./range.ts";
import type { CacheHit, MissHandler, Storage } from "./storage.ts";

/** The phase of a request's cache (Pingora's `CachePhase` names). */
export type CachePhase =
  | "disabled"
  | "uninit"
  | "hit"
  | "miss"
  | "stale"
  | "stale-updating"
  | "expired"
  | "revalidated"
  | "revalidated-nocache";

/** What a hit filter may force (Pingora's `ForcedFreshness`). */
export type ForcedFreshness = "force-expired" | "force-miss" | "force-fresh";

/** Hooks the proxy binds to its phases; every one is optional. */
export interface CacheHooks {
  /**
   * The primary key of a request (`cacheKey`); default {@linkcode primaryKey}.
   * Also derives the keys that `Location` / `Content-Location` invalidate.
   */
  cacheKey?(req: RequestHeader): string;
  /** Overrides the freshness of a found entry (`cacheHitFilter`). */
  hitFilter?(
    meta: CacheMeta,
    fresh: boolean,
  ): ForcedFreshness | undefined | void | Promise<ForcedFreshness | undefined | void>;
  /**
   * The Vary secondary key of the request for `meta` (`cacheVaryFilter`); default: RFC 9111 §4.1.
   * `"*"` matches no request: the response is not stored.
   */
  varyFilter?(meta: CacheMeta, req: RequestHeader): string | null;
  /**
   * Cacheability of an upstream response (`responseCacheFilter`); default: RFC 9111 rules.
   * A `Vary: *` response is never stored, whatever this returns.
   */
  responseFilter?(
    req: RequestHeader,
    res: ResponseHeader,
    defaults: () => Cacheability,
  ): Cacheability;
  /** Whether to serve `meta` stale (`error` null: while revalidating; else on that error). */
  shouldServeStale?(error: unknown, meta: CacheMeta, allowed: boolean): boolean;
}

/** Options of {@linkcode CacheConfig}. */
export interface CacheConfigOptions extends FreshnessOptions {
  /** Where responses are stored. */
  storage: Storage;
  /**
   * Collapses concurrent misses of one key into one upstream request; `null` disables.
   * @default {null}
   */
  lock?: CacheLock | null;
  /**
   * How long (ms, cumulative) a request waits for another request's cache write.
   * @default {5000}
   */
  lockWaitTimeout?: number;
  /**
   * Epoch-millisecond clock for ages and freshness.
   * @default {wallClock}
   */
  clock?: Clock;
  /**
   * The cache's name in `Cache-Status` (RFC 9211); `null` sends no `Cache-Status`.
   * @default {"cirque"}
   */
  cacheStatusName?: string | null;
  /**
   * The URI scheme in primary keys.
   * @default {"http"}
   */
  scheme?: string;
}

/**
 * Settings shared by every request of a route: storage, lock, clock and the
 * freshness options.
 *
 * @example
 * ```ts
 * import { CacheConfig, CacheLock, MemoryStorage } from "@cirque/cache";
 * import assert from "node:assert/strict";
 *
 * const config = new CacheConfig({ storage: new MemoryStorage(), lock: new CacheLock() });
 * assert.equal(config.cacheStatusName, "cirque");
 * ```
 */
export class CacheConfig {
  /** Storage. */
  readonly storage: Storage;
  /** Miss collapsing, or `null`. */
  readonly lock: CacheLock | null;
  /** Lock wait timeout (ms). */
  readonly lockWaitTimeout: number;
  /** Epoch clock. */
  readonly clock: Clock;
  /** `Cache-Status` name or `null`. */
  readonly cacheStatusName: string | null;
  /** Primary key scheme. */
  readonly scheme: string;
  /** Freshness options. */
  readonly freshness: FreshnessOptions;

  /** Validates and keeps the options. */
  constructor(options: CacheConfigOptions) {
    this.storage = options.storage;
    this.lock = options.lock ?? null;
    this.lockWaitTimeout = options.lockWaitTimeout ?? 5000;
    if (!(this.lockWaitTimeout >= 0)) {
      throw new RangeError(`Cannot create CacheConfig: lockWaitTimeout ${this.lockWaitTimeout}`);
    }
    this.clock = options.clock ?? wallClock;
    this.cacheStatusName = options.cacheStatusName === undefined
      ? "cirque"
      : options.cacheStatusName;
    this.scheme = options.scheme ?? "http";
    this.freshness = options;
  }
}

/** What {@linkcode HttpCache.lookup} decided. */
export type CacheLookup =
  /** Answer from the cache. */
  | { kind: "serve"; head: ResponseHeader; body: ReadableStream<Uint8Array> | null }
  /** Go upstream (miss, revalidation, or cache disabled for this request). */
  | { kind: "upstream" };

const VARY_MARKER = "\u0000vary-marker";
const SEP = "\u0001";
const MARKER_ID = "x-cirque-vary-marker";
let markerSeq = 0;
const UNSAFE_OK = (s: number) => s >= 200 && s < 400;

/**
 * Request fields that ask for part of a response or make it conditional. The
 * cache removes them from the request it sends upstream, because it stores
 * full responses (RFC 9111 §4.3.1 adds its own validators when revalidating).
 *
 * @example
 * ```ts
 * import { PARTIAL_AND_CONDITIONAL_FIELDS } from "@cirque/cache/http-cache";
 * import assert from "node:assert/strict";
 *
 * assert.ok(PARTIAL_AND_CONDITIONAL_FIELDS.includes("range"));
 * ```
 */
export const PARTIAL_AND_CONDITIONAL_FIELDS: readonly string[] = [
  "range",
  "if-range",
  "if-none-match",
  "if-modified-since",
  "if-match",
  "if-unmodified-since",
];

/**
 * One request's cache state. Create it with the request head once the cache
 * is enabled for the request; then call `lookup`, and if it says upstream,
 * `upstreamRequest` on the request sent upstream, and `upstreamResponse` (or
 * `upstreamError`) with what came back.
 *
 * @example Concurrent misses share one upstream request (with a lock)
 * ```ts
 * import { CacheConfig, CacheLock, HttpCache, MemoryStorage } from "@cirque/cache";
 * import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const config = new CacheConfig({ storage: new MemoryStorage(), lock: new CacheLock() });
 * const req = new RequestHeader("GET", "/", [["Host", "x"]]);
 * const a = new HttpCache(config, req), b = new HttpCache(config, req);
 * assert.equal((await a.lookup()).kind, "upstream");
 * const waiting = b.lookup(); // waits for a's write
 * const out = await a.upstreamResponse(new ResponseHeader(200, [["Cache-Control", "max-age=9"]]), new Response("x").body);
 * // Without Content-Length, b gets the entry once it is complete.
 * assert.equal(await new Response(out.body).text(), "x");
 * assert.equal((await waiting).kind, "serve");
 * ```
 */
export class HttpCache {
  readonly #cfg: CacheConfig;
  readonly #req: RequestHeader;
  readonly #hooks: CacheHooks;
  readonly #reqCc: CacheControl;
  /** Current phase. */
  phase: CachePhase = "uninit";
  /** Why the cache was disabled or the response not stored, if so. */
  noCacheReason:
    | NoCacheReason
    | "lock-timeout"
    | "lock-give-up"
    | "upstream-error"
    | "storage-error"
    | "only-if-cached"
    | "purge"
    | null = null;
  /** The primary key. */
  readonly key: string;
  #storageKey: string;
  #variance: string | null = null;
  #found: CacheHit | null = null;
  #permit: WritePermit | null = null;
  #requestTime = 0;
  #stored = false;
  #fwdStatus = 0;
  #lockWaited = false;
  #unshared = false;
  #writing = false;
  /** Set by `lookup` when a stale entry is served and this request should refresh it in the background. */
  needsBackgroundRevalidation = false;
  #bgPermit: WritePermit | null = null;

  /** Starts the cache for `req`; `key` defaults to {@linkcode primaryKey}. */
  constructor(config: CacheConfig, req: RequestHeader, key?: string, hooks: CacheHooks = {}) {
    this.#cfg = config;
    this.#req = req;
    this.#hooks = hooks;
    this.#reqCc = requestDirectives(req);
    this.key = key ?? hooks.cacheKey?.(req) ?? primaryKey(req, config.scheme);
    this.#storageKey = this.key;
  }

  /**
   * A cache that refreshes `found` in the background while a stale copy is
   * served (stale-while-revalidate), holding `permit`.
   */
  static revalidator(
    config: CacheConfig,
    req: RequestHeader,
    key: string,
    hooks: CacheHooks,
    from: HttpCache,
  ): HttpCache {
    const c = new HttpCache(config, req, key, hooks);
    c.#found = from.#found;
    c.#storageKey = from.#storageKey;
    c.#variance = from.#variance;
    c.#permit = from.#bgPermit;
    from.#bgPermit = null;
    from.needsBackgroundRevalidation = false;
    c.phase = "stale";
    return c;
  }

  /**
   * Whether this request is writing a response body to storage right now:
   * from `upstreamResponse` handing out the body until the entry is finished,
   * aborted or refused by the storage. The proxy keeps the upstream exchange
   * of such a request going when its client goes away.
   */
  get writing(): boolean {
    return this.#writing;
  }

  /**
   * Whether this request is filling its entry: it holds the cache lock for
   * it (it is the one request fetching the entry while the others wait), from
   * `lookup` until the response turns out not storable or fails, or it is
   * {@linkcode HttpCache.writing} the entry (with a lock or without). The
   * proxy keeps the upstream exchange of such a request going when its client
   * goes away, before the response head as after it. A request without a lock
   * (none configured, a waiter that gave up on it) fills only while writing.
   */
  get filling(): boolean {
    return this.#writing || this.#permit !== null;
  }

  /** The stored entry found by `lookup`, if any. */
  get meta(): CacheMeta | null {
    return this.#found?.meta ?? null;
  }

  /** Turns the cache off for this request (releases a held lock). */
  disable(reason: NonNullable<HttpCache["noCacheReason"]>): void {
    this.phase = "disabled";
    this.noCacheReason = reason;
    this.#release("give-up");
  }

  /**
   * Looks the request up: serves fresh (or acceptably stale) entries,
   * answers `only-if-cached` misses with 504, and waits on the cache lock
   * for a concurrent writer.
   */
  async lookup(): Promise<CacheLookup> {
    const cfg = this.#cfg;
    const req = this.#req;
    if (req.method !== "GET" && req.method !== "HEAD") {
      this.phase = "disabled";
      this.noCacheReason = "method";
      return { kind: "upstream" };
    }
    const deadline = cfg.clock.now() + cfg.lockWaitTimeout;
    for (let round = 0; round < 8; round++) {
      const found = await this.#find();
      const now = cfg.clock.now();
      let forcedMiss = false;
      if (found !== null) {
        const meta = found.meta;
        let decision = freshnessDecision(meta, this.#reqCc, now);
        // RFC 9111 §3.5: a request with Authorization reuses only explicitly shareable responses
        // (not even stale: no stale-while-revalidate or stale-if-error for it).
        this.#unshared = req.headers.has("authorization") && !sharedWithAuth(meta);
        if (this.#unshared) decision = "stale";
        const forced = await this.#hooks.hitFilter?.(meta, decision !== "stale");
        if (forced === "force-miss") {
          // A miss that admits the new response (Pingora's ForceMiss).
          this.#found = null;
          forcedMiss = true;
        } else {
          if (forced === "force-fresh") decision = "fresh";
          if (forced === "force-expired") decision = "stale";
          this.#found = found;
          if (decision !== "stale") {
            this.phase = "hit";
            return this.#serve(meta, found);
          }
          if (this.#reqCc.has("only-if-cached")) return this.#gatewayTimeout();
          // Only for an entry stale by its own freshness, which nothing else rules out.
          const swr = forced !== "force-expired" && !this.#unshared && !meta.noCache &&
            !requestLimitsAge(this.#reqCc, meta, now) &&
            this.#serveStale(null, meta, meta.canServeStaleWhileRevalidate(now));
          const l = cfg.lock?.lock(this.#storageKey) ?? null;
          if (l === null || l.kind === "write") {
            this.#permit = l === null ? null : l.permit;
            if (swr) {
              this.phase = "stale-updating";
              this.needsBackgroundRevalidation = true;
              this.#bgPermit = this.#permit;
              this.#permit = null;
              return this.#serve(meta, found);
            }
            this.phase = "stale";
            return { kind: "upstream" };
          }
          if (swr) {
            this.phase = "stale-updating";
            return this.#serve(meta, found);
          }
          const go = await this.#waitLock(l.lock, deadline);
          if (go === "retry") continue;
          return { kind: "upstream" };
        }
      }
      if (this.#reqCc.has("only-if-cached")) return this.#gatewayTimeout();
      // Keyed by the variant once a Vary marker tells it: misses of different
      // variants do not wait for each other (Pingora locks the combined key).
      const l = cfg.lock?.lock(this.#storageKey) ?? null;
      if (l === null || l.kind === "write") {
        if (l !== null && !forcedMiss && (await this.#find()) !== null) {
          // A writer finished between our lookup and our lock: use its entry.
          l.permit.release("done");
          continue;
        }
        this.#permit = l === null ? null : l.permit;
        this.phase = "miss";
        return { kind: "upstream" };
      }
      const go = await this.#waitLock(l.lock, deadline);
      if (go === "retry") continue;
      return { kind: "upstream" };
    }
    this.disable("lock-timeout");
    return { kind: "upstream" };
  }

  async #waitLock(lock: ReadLock, deadline: number): Promise<"retry" | "upstream"> {
    this.#lockWaited = true;
    const status = await lock.wait(deadline - this.#cfg.clock.now());
    switch (status) {
      case "done":
      case "transient-error":
      case "age-timeout":
        return "retry";
      case "give-up":
        this.phase = "disabled";
        this.noCacheReason = "lock-give-up";
        return "upstream";
      case "wait-timeout":
        this.phase = "disabled";
        this.noCacheReason = "lock-timeout";
        return "upstream";
    }
  }

  #gatewayTimeout(): CacheLookup {
    // RFC 9111 §5.2.1.7.
    this.phase = "disabled";
    this.noCacheReason = "only-if-cached";
    const head = new ResponseHeader(504, [["Content-Length", "0"]]);
    this.#decorate(head);
    return { kind: "serve", head, body: null };
  }

  /** Finds the entry for the request, following a Vary marker to the variant. */
  async #find(): Promise<CacheHit | null> {
    const storage = this.#cfg.storage;
    this.#storageKey = this.key;
    this.#variance = null;
    const primary = await storage.lookup(this.key);
    if (primary === null) return null;
    if (primary.meta.variance !== VARY_MARKER) return readable(primary);
    const variance = this.#hooks.varyFilter?.(primary.meta, this.#req) ??
      varianceKey(primary.meta.headers.getAll("vary"), this.#req.headers);
    if (variance === null || variance === "*") return null;
    this.#variance = variance;
    this.#storageKey = this.key + SEP + variance;
    const v = await storage.lookup(this.#storageKey);
    // Variants written under an earlier marker were purged with it (Pingora's valid_after).
    if (v === null || v.meta.headers.get(MARKER_ID) !== primary.meta.headers.get(MARKER_ID)) {
      return null;
    }
    return readable(v);
  }

  #serveStale(error: unknown, meta: CacheMeta, allowed: boolean): boolean {
    const hook = this.#hooks.shouldServeStale;
    return hook === undefined ? allowed : hook(error, meta, allowed);
  }

  /**
   * Rewrites the request sent upstream when the cache is on: HEAD becomes
   * GET, the client's `Range` and conditionals are removed (the full
   * response is fetched for storing), and the stored validators are added
   * when revalidating (RFC 9111 §4.3.1).
   */
  upstreamRequest(up: RequestHeader): void {
    if (this.phase === "disabled" || this.phase === "uninit") return;
    if (up.method === "HEAD") up.method = "GET";
    for (const n of PARTIAL_AND_CONDITIONAL_FIELDS) up.headers.delete(n);
    const found = this.#found;
    if (this.phase === "stale" && found !== null) {
      for (const [k, v] of validatorFields(found.meta.headers)) up.headers.append(k, v);
    }
    this.#requestTime = this.#cfg.clock.now();
  }

  /**
   * Handles the upstream response: a 304 refreshes and serves the stored
   * entry (RFC 9111 §4.3.4), a 5xx may serve stale (RFC 5861 §4), a
   * storable response is written to storage while it streams to the client.
   * Returns what to send downstream (the client's conditionals, `Range` and
   * `HEAD` applied).
   */
  async upstreamResponse(
    head: ResponseHeader,
    body: ReadableStream<Uint8Array> | null,
  ): Promise<{ head: ResponseHeader; body: ReadableStream<Uint8Array> | null }> {
    const cfg = this.#cfg;
    const req = this.#req;
    const now = cfg.clock.now();
    if (this.#requestTime === 0) this.#requestTime = now;
    this.#fwdStatus = head.status;
    if (req.method !== "GET" && req.method !== "HEAD") {
      // RFC 9111 §4.4: only unsafe methods (RFC 9110 §9.2.1) invalidate.
      if (UNSAFE_OK(head.status) && req.method !== "OPTIONS" && req.method !== "TRACE") {
        await this.#invalidate(head);
      }
      this.#decorate(head);
      return { head, body };
    }
    if (this.phase === "disabled" || this.phase === "uninit") {
      this.#decorate(head);
      return this.#shape(head, body, null);
    }
    const found = this.#found;
    if (head.status === 304 && found !== null && this.phase === "stale") {
      body?.cancel().catch(() => {});
      if (!validatorsMatch(found.meta.headers, head.headers)) {
        // Not our stored response (RFC 9111 §4.3.4): serve it uncached.
        this.phase = "revalidated-nocache";
        this.#release("give-up");
        return this.#serve(found.meta, found);
      }
      const fields = refreshHeaders(found.meta.headers, head.headers);
      // The refreshed response is as old as the 304 (RFC 9111 §4.3.4): the stored
      // Age goes, and a 304 without Date is dated now (RFC 9110 §6.6.1).
      if (!head.headers.has("age")) fields.delete("age");
      if (!head.headers.has("date")) fields.set("Date", formatHttpDate(now));
      const merged = new ResponseHeader(found.meta.status, fields, found.meta.statusText);
      const c = this.#cacheability(merged);
      if (c.kind === "cacheable") {
        const meta = c.meta.with({ variance: found.meta.variance, created: found.meta.created });
        await cfg.storage.updateMeta(this.#storageKey, meta);
        this.phase = "revalidated";
        this.#release("done");
        return this.#serve(meta, found);
      }
      this.phase = "revalidated-nocache";
      this.noCacheReason = c.reason;
      this.#release("give-up");
      return this.#serve(found.meta, found);
    }
    if (head.status >= 500 && found !== null) {
      const meta = found.meta;
      if (this.#serveStale(head.status, meta, !this.#unshared && meta.canServeStaleIfError(now))) {
        body?.cancel().catch(() => {});
        this.#release("transient-error");
        this.phase = "stale";
        this.noCacheReason = "upstream-error";
        return this.#serve(meta, found);
      }
    }
    if (this.phase === "stale") this.phase = "expired";
    const uncached = (reason: NoCacheReason) => {
      this.noCacheReason = reason;
      this.#release("give-up");
      this.#decorate(head);
      // `Range` was not sent upstream: cut it from the response (Pingora's range filter).
      return this.#shape(head, body, body === null ? null : contentLength(head));
    };
    const c = this.#cacheability(head);
    if (c.kind === "uncacheable") return uncached(c.reason);
    // Vary: store under the variant key, behind a marker at the primary key.
    const vary = head.headers.getAll("vary");
    const names = varyNames(vary);
    // §4.1: `Vary: *` never matches a later request, so it is never stored,
    // whatever a responseCacheFilter decided (stored as a plain entry it would
    // be served to everyone).
    if (names[0] === "*") return uncached("vary-star");
    let meta = c.meta;
    let key = this.key;
    if (names.length > 0) {
      const variance = this.#hooks.varyFilter?.(meta, req) ?? varianceKey(vary, req.headers);
      // A varyFilter that answers "*" says the same: no later request matches.
      if (variance === "*") return uncached("vary-star");
      if (variance !== null) {
        const id = await this.#ensureMarker(vary, now);
        meta = meta.with({ variance, headers: [...meta.headers.pairs, [MARKER_ID, id]] });
        key = this.key + SEP + variance;
      }
    } else if (this.#storageKey !== this.key) {
      // The resource no longer varies: the plain entry replaces the marker.
      this.#storageKey = this.key;
    }
    // No body (a 204, or a connector that gives none): an empty entry.
    const sizeHint = body === null ? 0 : contentLength(head);
    const miss = await cfg.storage.getMissHandler(key, meta, { sizeHint });
    if (miss === null) {
      this.noCacheReason = "too-large";
      this.#release("give-up");
      this.#decorate(head);
      return this.#shape(head, body, body === null ? null : sizeHint);
    }
    if (body === null) {
      const ok = await miss.finish().then(() => true, () => false);
      if (!ok) {
        this.noCacheReason = "storage-error";
        this.#release("transient-error");
        this.#decorate(head);
        return this.#shape(head, null, null);
      }
      this.#stored = true;
      this.#release("done");
      this.#decorate(head);
      return this.#shape(head, null, 0);
    }
    this.#stored = true;
    // With a known length the storage has accepted the whole object, so readers
    // may stream the entry while it is written. Without one it may still outgrow
    // the storage: the lock is held until the entry is complete (or dropped, and
    // the waiters go upstream), and lookups do not serve it before (`#find`).
    if (sizeHint !== null) this.#release("done");
    const permit = this.#permit;
    this.#permit = null;
    this.#writing = true;
    const tee = teeIntoCache(body, miss, req.method === "HEAD", permit, () => {
      this.#writing = false;
    });
    this.#decorate(head);
    return this.#shape(head, tee, sizeHint);
  }

  /**
   * The upstream failed: serve the stale entry if stale-if-error allows
   * (RFC 5861 §4), else `null` (the proxy reports the error). Releases the lock.
   */
  upstreamError(
    error: unknown,
  ): { head: ResponseHeader; body: ReadableStream<Uint8Array> | null } | null {
    this.#release("transient-error");
    const found = this.#found;
    if (found === null || (this.phase !== "stale" && this.phase !== "expired")) return null;
    const meta = found.meta;
    const allowed = !this.#unshared && meta.canServeStaleIfError(this.#cfg.clock.now());
    if (!this.#serveStale(error, meta, allowed)) {
      return null;
    }
    this.phase = "stale";
    this.noCacheReason = "upstream-error";
    this.#fwdStatus = 0;
    return this.#serve(meta, found);
  }

  /** Removes the entry (and every Vary variant) of this request's key. */
  purge(): Promise<boolean> {
    return this.#cfg.storage.purge(this.key);
  }

  /** The `Cache-Status` value (RFC 9211) for the current phase, or `null` if disabled by config. */
  cacheStatus(): string | null {
    const name = this.#cfg.cacheStatusName;
    if (name === null) return null;
    const now = this.#cfg.clock.now();
    const meta = this.#found?.meta;
    switch (this.phase) {
      case "hit": {
        const ttl = meta === undefined ? 0 : Math.floor(meta.ttl(now) / 1000);
        return `${name}; hit; ttl=${ttl}${this.#lockWaited ? "; collapsed" : ""}`;
      }
      case "stale-updating":
        return `${name}; hit; ttl=${
          meta === undefined ? 0 : Math.floor(meta.ttl(now) / 1000)
        }; detail=stale-while-revalidate`;
      case "stale":
        return this.noCacheReason === "upstream-error"
          ? `${name}; hit; fwd=stale; detail=stale-if-error${
            this.#fwdStatus > 0 ? `; fwd-status=${this.#fwdStatus}` : ""
          }`
          : `${name}; fwd=stale`;
      case "revalidated":
      case "revalidated-nocache":
        return `${name}; fwd=stale; fwd-status=${this.#fwdStatus}`;
      case "expired":
        return `${name}; fwd=stale; fwd-status=${this.#fwdStatus}${this.#stored ? "; stored" : ""}`;
      case "miss":
        return `${name}; fwd=${this.#variance !== null ? "vary-miss" : "uri-miss"}${
          this.#fwdStatus > 0 ? `; fwd-status=${this.#fwdStatus}` : ""
        }${this.#stored ? "; stored" : ""}${this.#lockWaited ? "; collapsed" : ""}`;
      default:
        return `${name}; fwd=bypass${
          this.noCacheReason !== null ? `; detail=${this.noCacheReason}` : ""
        }`;
    }
  }

  #release(status: "done" | "transient-error" | "give-up"): void {
    const p = this.#permit;
    if (p !== null) {
      this.#permit = null;
      p.release(status);
    }
  }

  #cacheability(res: ResponseHeader): Cacheability {
    const times = { requestTime: this.#requestTime, responseTime: this.#cfg.clock.now() };
    const defaults = () => responseCacheability(this.#req, res, times, this.#cfg.freshness);
    const hook = this.#hooks.responseFilter;
    return hook === undefined ? defaults() : hook(this.#req, res, defaults);
  }

  async #ensureMarker(vary: string[], now: number): Promise<string> {
    const storage = this.#cfg.storage;
    const cur = await storage.lookup(this.key);
    const names = varyNames(vary).join(",");
    if (
      cur !== null && cur.meta.variance === VARY_MARKER &&
      varyNames(cur.meta.headers.getAll("vary")).join(",") === names
    ) return cur.meta.headers.get(MARKER_ID) ?? "";
    const id = `${now.toString(36)}.${(++markerSeq).toString(36)}.${
      Math.random().toString(36).slice(2)
    }`;
    const marker = new CacheMeta({
      status: 200,
      headers: [["Vary", names], [MARKER_ID, id]],
      requestTime: now,
      responseTime: now,
      freshnessLifetime: 0,
      variance: VARY_MARKER,
      created: now,
    });
    const m = await storage.getMissHandler(this.key, marker, { sizeHint: 0 });
    await m?.finish();
    return id;
  }

  async #invalidate(head: ResponseHeader): Promise<void> {
    // RFC 9111 §4.4: the target URI and same-origin Location / Content-Location.
    const storage = this.#cfg.storage;
    await storage.purge(this.key);
    const host = this.#req.host.toLowerCase();
    for (const name of ["location", "content-location"]) {
      const v = head.headers.get(name);
      if (v === null) continue;
      let u: URL;
      try {
        u = new URL(v, `${this.#cfg.scheme}://${host}${this.#req.path}`);
      } catch {
        continue;
      }
      if (u.host.toLowerCase() !== host) continue;
      // The key of a GET of that URI, through the same key function as this request's.
      const r = this.#req;
      const target = new RequestHeader(
        "GET",
        u.pathname + u.search,
        r.headers.clone(),
        r.version,
        r.authority,
      );
      await storage.purge(this.#hooks.cacheKey?.(target) ?? primaryKey(target, this.#cfg.scheme));
    }
  }

  #decorate(head: ResponseHeader): void {
    const cs = this.cacheStatus();
    if (cs !== null) head.headers.append("Cache-Status", cs);
  }

  /** Builds the downstream answer from a stored entry. */
  #serve(
    meta: CacheMeta,
    hit: CacheHit,
  ): { kind: "serve"; head: ResponseHeader; body: ReadableStream<Uint8Array> | null } {
    const head = meta.responseHeader();
    if (meta.variance !== null) head.headers.delete(MARKER_ID);
    head.headers.set("Age", String(meta.age(this.#cfg.clock.now())));
    this.#decorate(head);
    const size = hit.complete ? hit.size : null;
    if (size !== null && !head.headers.has("content-length") && head.status !== 204) {
      head.headers.set("Content-Length", String(size));
    }
    const shaped = this.#shape(head, null, size, hit);
    return { kind: "serve", head: shaped.head, body: shaped.body };
  }

  /**
   * Applies the client's conditionals (RFC 9110 §13.2), `Range` (§14) and
   * `HEAD` to a 200 answer; `hit` gives random access to a stored body.
   */
  #shape(
    head: ResponseHeader,
    body: ReadableStream<Uint8Array> | null,
    size: number | null,
    hit?: CacheHit,
  ): { head: ResponseHeader; body: ReadableStream<Uint8Array> | null } {
    const req = this.#req;
    const full = () => body ?? hit?.body() ?? null;
    if (head.status !== 200) {
      const none = req.method === "HEAD" || head.status === 204 || head.status === 304;
      return { head, body: none ? (cancel(body), null) : full() };
    }
    const cond = evaluateConditional(req.method, req.headers, head.headers);
    if (cond === 304) {
      cancel(body);
      return { head: notModifiedHead(head), body: null };
    }
    if (cond === 412) {
      cancel(body);
      const h = new ResponseHeader(412, [["Content-Length", "0"]]);
      return { head: h, body: null };
    }
    if (req.method === "HEAD") {
      cancel(body);
      return { head, body: null };
    }
    const range = req.headers.get("range");
    if (range === null || size === null) return { head, body: full() };
    const ifRange = req.headers.get("if-range");
    if (
      ifRange !== null &&
      !ifRangeMatches(ifRange, head.headers.get("etag"), head.headers.get("last-modified"))
    ) return { head, body: full() };
    const answer = rangeAnswer(head, size, range);
    if (answer === null) {
      head.headers.set("Accept-Ranges", "bytes");
      return { head, body: full() };
    }
    if (answer.head.status === 416) {
      cancel(body);
      return { head: answer.head, body: null };
    }
    if (hit !== undefined && answer.parts.length === 1) {
      return {
        head: answer.head,
        body: hit.body(answer.parts[0] as { start: number; end: number }),
      };
    }
    return { head: answer.head, body: assemble(full()!, answer.parts) };
  }
}

function contentLength(head: { headers: { get(name: string): string | null } }): number | null {
  const cl = head.headers.get("content-length");
  return cl !== null && /^\d+$/.test(cl) ? Number(cl) : null;
}

/**
 * `hit` unless it is still being written without a known length: such an
 * entry may yet be dropped (it can outgrow the storage), so it is not served
 * before it is complete.
 */
function readable(hit: CacheHit): CacheHit | null {
  return hit.complete || contentLength(hit.meta) !== null ? hit : null;
}

function cancel(body: ReadableStream<Uint8Array> | null): void {
  body?.cancel().catch(() => {});
}

/**
 * Whether the request's own `no-cache`, `max-age` or `min-fresh` rules `meta`
 * out (RFC 9111 §5.2.1), so that it must not be served stale either.
 */
function requestLimitsAge(req: CacheControl, meta: CacheMeta, now: number): boolean {
  if (req.has("no-cache") || req.has("min-fresh")) return true;
  const maxAge = req.seconds("max-age");
  return maxAge !== undefined && meta.ageMs(now) > maxAge * 1000;
}

function sharedWithAuth(meta: CacheMeta): boolean {
  const cc = meta.headers.getAll("cache-control").join(",").toLowerCase();
  return /(^|[\s,])(public|must-revalidate|s-maxage)($|[\s,=])/.test(cc);
}

/** Streams `parts` (ascending ranges of `body` and literal bytes) in one pass over `body`. */
function assemble(body: ReadableStream<Uint8Array>, parts: BodyPart[]): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let offset = 0; // bytes of body consumed
  let buf: Uint8Array | null = null; // unconsumed rest of the last chunk
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        if (i >= parts.length) {
          reader.cancel().catch(() => {});
          c.close();
          return;
        }
        const p = parts[i]!;
        if (p instanceof Uint8Array) {
          i++;
          c.enqueue(p);
          return;
        }
        if (buf === null || buf.byteLength === 0) {
          const r = await reader.read();
          if (r.done) {
            c.error(new Error("Cannot serve the range: the body ended early"));
            return;
          }
          buf = r.value;
        }
        const start = offset, end = offset + buf.byteLength;
        if (end <= p.start) {
          offset = end;
          buf = null;
          continue;
        }
        const from = Math.max(0, p.start - start);
        const to = Math.min(buf.byteLength, p.end - start);
        const out = buf.subarray(from, to);
        offset = start + to;
        buf = buf.subarray(to);
        if (offset >= p.end) i++;
        if (out.byteLength > 0) {
          c.enqueue(out);
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * Copies `body` into the cache while it streams to the client. If the client
 * goes away (or only wanted the head), the rest is still read into the cache
 * so that other readers of the entry get it whole. That needs an upstream
 * body that keeps going: the proxy does not abort the upstream exchange of a
 * request that is writing an entry ({@linkcode HttpCache.writing}). The
 * reading ends with the body, with an upstream error (the upstream's read
 * timeout bounds each read; the entry is aborted and its readers get the
 * error), or when the storage refuses more (`maxObjectSize`): then the
 * upstream read is cancelled. `stopped` runs once, when writing stops.
 */
function teeIntoCache(
  body: ReadableStream<Uint8Array>,
  miss: MissHandler,
  headOnly: boolean,
  permit: WritePermit | null,
  stopped: () => void,
): ReadableStream<Uint8Array> | null {
  const reader = body.getReader();
  let writing = true;
  let done = false;
  const stop = () => {
    writing = false;
    stopped();
  };
  const step = async (): Promise<Uint8Array | null> => {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (e) {
      done = true;
      if (writing) {
        stop();
        miss.abort(e);
        permit?.release("transient-error");
      }
      throw e;
    }
    if (r.done) {
      done = true;
      if (writing) {
        stop();
        const ok = await miss.finish().then(() => true, () => false);
        permit?.release(ok ? "done" : "transient-error");
      }
      return null;
    }
    if (writing && !(await miss.write(r.value))) {
      // The storage gave up on the object (too large): the waiters go upstream.
      stop();
      permit?.release("give-up");
    }
    return r.value;
  };
  const drain = async () => {
    try {
      while (!done && writing) await step();
    } catch {
      // already aborted
    }
    if (!done) reader.cancel().catch(() => {});
  };
  if (headOnly) {
    void drain();
    return null;
  }
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const chunk = await step();
      if (chunk === null) c.close();
      else c.enqueue(chunk);
    },
    cancel() {
      void drain();
    },
  }, { highWaterMark: 0 });
}
