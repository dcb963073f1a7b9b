/**
 * The cache flow points of the engine, kept out of `http_proxy.ts`: each
 * function is one call site there, reached only when the proxy has a
 * `requestCacheFilter` phase.
 *
 * @module
 */

import { type ProxyError, toProxyError } from "@cirque/core/error";
import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
import {
  type CacheConfig,
  type CacheHooks,
  HttpCache,
  PARTIAL_AND_CONDITIONAL_FIELDS,
} from "@cirque/cache/http-cache";
import type { ProxyHttp } from "./proxy_http.ts";
import { Session } from "./session.ts";

/** The cache state of each session that has one. */
export const CACHES: WeakMap<Session, HttpCache> = new WeakMap();

/** What the engine sends when the cache answers. */
export interface CacheAnswer {
  head: ResponseHeader;
  body: ReadableStream<Uint8Array> | null;
}

/**
 * Runs a background subrequest through the request filters and the upstream
 * leg; resolves the body to drain and the `finish` that runs `logging`.
 */
export type Subrequest = (session: Session) => Promise<{
  body: ReadableStream<Uint8Array> | null;
  finish(error?: ProxyError | null): Promise<void>;
}>;

function hooks<Ctx>(p: ProxyHttp<Ctx>, session: Session, ctx: Ctx): CacheHooks {
  const h: CacheHooks = {};
  const key = p.cacheKey;
  if (key !== undefined) {
    // Other URIs (Location / Content-Location invalidation) are keyed as a GET of them.
    h.cacheKey = (req) =>
      req === session.req
        ? key.call(p, session, ctx)
        : key.call(p, new Session(req, null, session.downstream), ctx);
  }
  const hit = p.cacheHitFilter;
  if (hit !== undefined) h.hitFilter = (meta, fresh) => hit.call(p, session, meta, fresh, ctx);
  const vary = p.cacheVaryFilter;
  if (vary !== undefined) h.varyFilter = (meta, req) => vary.call(p, meta, ctx, req) ?? null;
  const rcf = p.responseCacheFilter;
  if (rcf !== undefined) {
    h.responseFilter = (_req, res, defaults) => rcf.call(p, session, res, ctx) ?? defaults();
  }
  const stale = p.shouldServeStale;
  if (stale !== undefined) {
    h.shouldServeStale = (error, _meta, allowed) =>
      stale.call(
        p,
        session,
        ctx,
        error === null ? null : typeof error === "number" ? error : toProxyError(error, "upstream"),
        allowed,
      );
  }
  return h;
}

function purgeAnswer<Ctx>(
  p: ProxyHttp<Ctx>,
  session: Session,
  ctx: Ctx,
  status: number,
): CacheAnswer {
  const head = new ResponseHeader(status, [
    ["Content-Length", "0"],
    ["Cache-Control", "private, no-store"],
  ]);
  p.purgeResponseFilter?.(session, ctx, head);
  return { head, body: null };
}

/**
 * After `requestFilter`: enables the cache, handles purges and looks the
 * request up. Returns the answer when the cache serves it, `null` to go upstream.
 * Requests that ask to switch protocols (`Upgrade`) and `CONNECT` bypass the
 * cache entirely: no lookup and no lock, since their answer (a `101` tunnel)
 * never comes back through the cache to release it.
 */
export async function cacheRequest<Ctx>(
  p: ProxyHttp<Ctx>,
  session: Session,
  ctx: Ctx,
  subrequest: Subrequest,
): Promise<CacheAnswer | null> {
  const req = session.req;
  if (session.upgrade || req.method === "CONNECT" || req.headers.has("upgrade")) return null;
  const config = p.requestCacheFilter!(session, ctx);
  if (config === null || config === undefined) {
    if (p.isPurge?.(session, ctx)) {
      session.discardBody();
      return purgeAnswer(p, session, ctx, 405);
    }
    return null;
  }
  const key = p.cacheKey?.(session, ctx);
  const h = hooks(p, session, ctx);
  const cache = new HttpCache(config, session.req, key, h);
  CACHES.set(session, cache);
  if (p.isPurge?.(session, ctx)) {
    session.discardBody();
    const found = await cache.purge();
    cache.disable("purge");
    return purgeAnswer(p, session, ctx, found ? 200 : 404);
  }
  const r = await cache.lookup();
  session.tags.set("cache", cache.phase);
  if (r.kind === "upstream") return null;
  session.discardBody();
  if (cache.needsBackgroundRevalidation) {
    revalidateInBackground(session, cache, config, cache.key, h, subrequest);
  }
  return { head: r.head, body: r.body };
}

function revalidateInBackground(
  session: Session,
  from: HttpCache,
  config: CacheConfig,
  key: string,
  h: CacheHooks,
  subrequest: Subrequest,
): void {
  const req = session.req;
  const headers = req.headers.clone();
  // The refresh wants the full response, whatever the client asked for.
  for (const n of PARTIAL_AND_CONDITIONAL_FIELDS) headers.delete(n);
  const subReq = new RequestHeader("GET", req.path, headers, req.version, req.authority);
  const sub = new Session(subReq, null, session.downstream);
  const cache = HttpCache.revalidator(config, subReq, key, h, from);
  CACHES.set(sub, cache);
  sub.tags.set("subrequest", "revalidate");
  void (async () => {
    let out: Awaited<ReturnType<Subrequest>> | null = null;
    try {
      out = await subrequest(sub);
      if (out.body !== null) {
        const reader = out.body.getReader();
        while (!(await reader.read()).done) { /* drain into the cache */ }
      }
      await out.finish(null);
    } catch (e) {
      cache.upstreamError(e);
      await out?.finish(toProxyError(e, "upstream"));
    }
  })();
}

/**
 * Whether `session` fills a cache entry right now with its request body read
 * to the end ({@linkcode HttpCache.filling}: it holds the cache lock, or it is
 * writing the entry): then a client that goes away does not end the upstream
 * exchange (see {@linkcode cacheUpstreamSignal}).
 */
export function cacheFilling(session: Session): boolean {
  return session.isBodyDone && CACHES.get(session)?.filling === true;
}

/**
 * The signal for the upstream exchange of a request with cache phases. It
 * follows `session.signal` unless the client goes away (or went away already)
 * while the request fills a cache entry ({@linkcode cacheFilling}), before the
 * response head as after it: then the exchange goes on (nginx does the same
 * for a cacheable request), so that a storable response is stored and the
 * lock's waiters get it whole instead of going upstream themselves. The
 * connector's connect and read timeouts bound the wait for the head, the
 * storage's `maxObjectSize` and the read timeout the body. A response that
 * turns out not storable releases the lock and goes to the transport, which
 * cancels it for the absent client: the upstream connection is closed, its
 * body not read. Without a cache that may fill, `session.signal` itself.
 */
export function cacheUpstreamSignal(session: Session): AbortSignal {
  const signal = session.signal;
  const cache = CACHES.get(session);
  if (cache === undefined || cache.phase === "disabled") return signal;
  if (signal.aborted) return cacheFilling(session) ? new AbortController().signal : signal;
  const follower = new AbortController();
  signal.addEventListener("abort", () => {
    if (!cacheFilling(session)) follower.abort(signal.reason);
  }, { once: true });
  return follower.signal;
}

/** Rewrites the request sent upstream (HEAD → GET, validators, no client conditionals). */
export function cacheUpstreamRequest(session: Session, up: RequestHeader): void {
  CACHES.get(session)?.upstreamRequest(up);
}

/**
 * After `upstreamResponseFilter`: 304 refresh, stale-if-error on 5xx,
 * storing, and the client's conditionals / Range / HEAD on the answer.
 */
export async function cacheUpstreamResponse(
  session: Session,
  head: ResponseHeader,
  body: ReadableStream<Uint8Array> | null,
): Promise<CacheAnswer> {
  const cache = CACHES.get(session);
  if (cache === undefined) return { head, body };
  const out = await cache.upstreamResponse(head, body);
  session.tags.set("cache", cache.phase);
  return out;
}

/** The request failed upstream: a stale answer if stale-if-error allows, else `null`. */
export function cacheUpstreamError(session: Session, error: ProxyError): CacheAnswer | null {
  const cache = CACHES.get(session);
  if (cache === undefined || error.source === "downstream") {
    cache?.upstreamError(error);
    return null;
  }
  const out = cache.upstreamError(error);
  if (out !== null) session.tags.set("cache", cache.phase);
  return out;
}
