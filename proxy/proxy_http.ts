/**
 * The programming model: one {@linkcode ProxyHttp} object whose phases Cirque
 * runs for every request, in Pingora's order.
 *
 * ```
 * newCtx → earlyRequestFilter → requestFilter → upstreamPeer → (connect)
 *   → connectedToUpstream → upstreamRequestFilter → requestBodyFilter*
 *   → upstreamResponseFilter → responseFilter → responseBodyFilter* → logging
 * errors: failToConnect | errorWhileProxy → retry (upstreamPeer again) | failToProxy
 * ```
 *
 * With `requestCacheFilter` set, the cache phases run after `requestFilter`:
 * `requestCacheFilter → cacheKey → isPurge (→ purgeResponseFilter) → lookup
 * (cacheVaryFilter, cacheHitFilter, shouldServeStale) → hit: responseFilter …`
 * or on a miss, after `upstreamResponseFilter`: `responseCacheFilter
 * (cacheVaryFilter) → store while streaming → responseFilter …`.
 *
 * @module
 */

import type { HttpPeer } from "@cirque/core/peer";
import type { ProxyError } from "@cirque/core/error";
import type { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
import type { Session } from "./session.ts";
import type { CacheConfig, ForcedFreshness } from "@cirque/cache/http-cache";
import type { CacheMeta } from "@cirque/cache/cache-meta";
import type { Cacheability } from "@cirque/cache/freshness";

/** A value or a promise of it: phases may be sync or async. */
export type MaybePromise<T> = T | Promise<T>;

/** Answer the client now, skipping the upstream. The response still goes through `logging`. */
export interface Respond {
  /** Tag. */
  kind: "respond";
  /** What to send. Its body is streamed to the client. */
  response: Response;
}

/** Go on with the next phase. */
export interface Continue {
  /** Tag. */
  kind: "continue";
}

/** What a filter that may answer the client returns; `undefined` means continue. */
export type FilterResult = Respond | Continue | undefined | void;

/** What a body filter returns: a replacement chunk and/or a delay. */
export interface BodyFilterResult {
  /** Replacement bytes for this chunk (`null` drops it). Omit to keep the chunk. */
  chunk?: Uint8Array | null;
  /** Milliseconds to wait before the next chunk is read (throttling). */
  delay?: number;
}

/** What {@linkcode ProxyHttp.failToProxy} decided. */
export interface FailToProxy {
  /** The status sent to the client; 0 when no response could be sent. */
  status: number;
  /** A custom error response to send instead of the default plain one. */
  response?: Response;
}

/**
 * The phases of a proxy. Only {@linkcode ProxyHttp.newCtx} and
 * {@linkcode ProxyHttp.upstreamPeer} are required.
 *
 * @typeParam Ctx per-request state created by `newCtx`.
 *
 * @example A minimal proxy
 * ```ts
 * import type { ProxyHttp } from "@cirque/proxy";
 * import { HttpPeer } from "@cirque/core/peer";
 *
 * const proxy: ProxyHttp<{ start: number }> = {
 *   newCtx: () => ({ start: Date.now() }),
 *   upstreamPeer: () => new HttpPeer("127.0.0.1:8080"),
 * };
 * ```
 */
export interface ProxyHttp<Ctx> {
  /** Creates the per-request state. Runs first, once per request. */
  newCtx(): Ctx;

  /**
   * Runs before anything else looks at the request (before modules and
   * `requestFilter`). May answer the client. Default: continue.
   */
  earlyRequestFilter?(session: Session, ctx: Ctx): MaybePromise<FilterResult>;

  /**
   * Validation, authentication, rate limiting. May change the request head or
   * answer the client with `{ kind: "respond", response }`. Default: continue.
   */
  requestFilter?(session: Session, ctx: Ctx): MaybePromise<FilterResult>;

  /**
   * Chooses the upstream for this attempt. Required. Called again on every
   * retry, so it can fail over using state kept in `ctx`.
   */
  upstreamPeer(session: Session, ctx: Ctx): MaybePromise<HttpPeer>;

  /**
   * Runs once a connection to `peer` is ready, before the request is written.
   * `reused` says whether it came from the pool. Default: nothing.
   */
  connectedToUpstream?(
    session: Session,
    reused: boolean,
    peer: HttpPeer,
    ctx: Ctx,
  ): MaybePromise<void>;

  /**
   * Changes the request sent upstream (a fresh copy of the downstream request
   * per attempt, hop-by-hop fields already removed and forwarding fields
   * added). Default: nothing.
   */
  upstreamRequestFilter?(
    session: Session,
    upstreamRequest: RequestHeader,
    ctx: Ctx,
  ): MaybePromise<void>;

  /**
   * Sees each chunk of the request body as it streams upstream; the last call
   * has `endOfStream` true (and possibly a `null` chunk). Return
   * `{ chunk }` to replace it. If the size changes, remove `Content-Length` in
   * `upstreamRequestFilter` so the body goes chunked. Default: pass through.
   */
  requestBodyFilter?(
    session: Session,
    chunk: Uint8Array | null,
    endOfStream: boolean,
    ctx: Ctx,
  ): MaybePromise<BodyFilterResult | void>;

  /**
   * Changes the upstream response head before anything else (before the cache
   * stores it). Default: nothing.
   */
  upstreamResponseFilter?(
    session: Session,
    upstreamResponse: ResponseHeader,
    ctx: Ctx,
  ): MaybePromise<void>;

  /**
   * Changes the response head sent to the client (also on cache hits).
   * Default: nothing.
   */
  responseFilter?(session: Session, response: ResponseHeader, ctx: Ctx): MaybePromise<void>;

  /**
   * Sees each chunk of the response body on its way to the client; the last
   * call has `endOfStream` true and a `null` chunk, so a filter that buffered
   * can emit the result there. Return `{ chunk }` to replace, `{ delay }` to
   * throttle. When this phase exists the response's `Content-Length` is
   * dropped and the body goes chunked. Default: pass through.
   */
  responseBodyFilter?(
    session: Session,
    chunk: Uint8Array | null,
    endOfStream: boolean,
    ctx: Ctx,
  ): MaybePromise<BodyFilterResult | void>;

  /**
   * Runs exactly once per request, after the response is sent or the request
   * failed, with the error if any. Default: nothing.
   */
  logging?(session: Session, error: ProxyError | null, ctx: Ctx): MaybePromise<void>;

  /**
   * Decides about a connect error (nothing was sent upstream). Set
   * `error.retryable = true` to try again (usually on another peer chosen by
   * `upstreamPeer`). Default: not retried.
   */
  failToConnect?(session: Session, peer: HttpPeer, ctx: Ctx, error: ProxyError): ProxyError;

  /**
   * Decides about an error after the connection was made. Default: retryable
   * only when the upstream closed or reset a reused connection before any
   * response byte arrived (the connector marks such errors `retryable`), the
   * method is idempotent (or `session.retryNonIdempotent` is set) and the
   * request body sent so far fits the retry buffer. Timeouts and invalid
   * responses are never retried by default.
   */
  errorWhileProxy?(
    peer: HttpPeer,
    session: Session,
    error: ProxyError,
    ctx: Ctx,
    clientReused: boolean,
  ): ProxyError;

  /**
   * Writes the error response for a request that failed for good, and returns
   * the status sent (0 if none). Default: see `defaultErrorStatus`; a short
   * plain-text body with `Cache-Control: private, no-store`.
   */
  failToProxy?(session: Session, error: ProxyError, ctx: Ctx): MaybePromise<FailToProxy>;

  /** Returns true to keep a failed request out of the error log. Default: false. */
  suppressErrorLog?(session: Session, ctx: Ctx, error: ProxyError): boolean;

  /**
   * Turns the HTTP cache on for this request by returning its
   * {@linkcode CacheConfig} (storage, lock, freshness options; build it once
   * per route, not per request). Runs after `requestFilter`. Return `null` or
   * `undefined` to leave the cache off. Default (phase absent): no cache, and
   * the engine does no cache work at all.
   */
  requestCacheFilter?(session: Session, ctx: Ctx): CacheConfig | null | undefined;

  /**
   * The primary cache key. Default: `scheme://host/path?query` (the method is
   * not part of it, so HEAD is served from a cached GET). Also called to key
   * the same-origin `Location` / `Content-Location` URIs a successful unsafe
   * request invalidates (RFC 9111 §4.4), with a session whose request is a GET
   * of that URI carrying the same fields.
   */
  cacheKey?(session: Session, ctx: Ctx): string;

  /**
   * Sees a found entry before it is used (also stale ones); may force it
   * fresh, expired or a miss. Default: the RFC 9111 decision stands.
   */
  cacheHitFilter?(
    session: Session,
    meta: CacheMeta,
    isFresh: boolean,
    ctx: Ctx,
  ): MaybePromise<ForcedFreshness | undefined | void>;

  /**
   * Decides whether an upstream response is stored and for how long. Return
   * `undefined` for the default: RFC 9111 shared-cache rules
   * (`responseCacheability` from `@cirque/cache`, which you may call and adjust).
   * A response with `Vary: *` is never stored, whatever this returns (RFC 9111 §4.1).
   */
  responseCacheFilter?(
    session: Session,
    response: ResponseHeader,
    ctx: Ctx,
  ): Cacheability | undefined;

  /**
   * The Vary secondary key of `request` for a response with `meta`. Return
   * `undefined` for the default: the normalised values of the fields `Vary`
   * names (RFC 9111 §4.1). `"*"` means no later request matches: the
   * response is not stored.
   */
  cacheVaryFilter?(meta: CacheMeta, ctx: Ctx, request: RequestHeader): string | undefined;

  /**
   * Whether to serve a stale entry: `error` is `null` for
   * stale-while-revalidate, else the upstream error (or the 5xx status).
   * `allowed` is what the entry's `stale-while-revalidate` / `stale-if-error`
   * permit. Default: `allowed`.
   */
  shouldServeStale?(
    session: Session,
    ctx: Ctx,
    error: ProxyError | number | null,
    allowed: boolean,
  ): boolean;

  /**
   * Whether this request purges its cache key (and all its Vary variants)
   * instead of being proxied. Default: false (PURGE is off).
   */
  isPurge?(session: Session, ctx: Ctx): boolean;

  /**
   * Changes the purge answer (200 when something was removed, 404 when not,
   * 405 when the cache is off for the request). Default: nothing.
   */
  purgeResponseFilter?(session: Session, ctx: Ctx, response: ResponseHeader): void;
}
