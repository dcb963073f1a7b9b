/**
 * {@linkcode HttpProxy}: runs a {@linkcode ProxyHttp} for each request.
 *
 * The engine is transport-neutral: a transport builds a {@linkcode Session},
 * calls {@linkcode HttpProxy.process}, writes the {@linkcode ProxyOutcome} it
 * gets back, then calls `outcome.finish()`, which runs `logging` exactly once.
 * {@linkcode HttpProxy.handle} is that transport for web `Request`/`Response`
 * (Deno.serve, Hono, tests).
 *
 * @module
 */

import type {
  Connector,
  HeaderPairs,
  RequestBody,
  RequestHead,
  RequestOptions,
} from "@cirque/core/connector";
import { coarseNow } from "@cirque/core/deadline";
import { onCut } from "@cirque/core/http-service";
import { ProxyError, toProxyError } from "@cirque/core/error";
import {
  HeaderMap,
  isNullBodyStatus,
  type RawFields,
  RequestHeader,
  ResponseHeader,
} from "@cirque/core/http-header";
import { forwardingFilter, type ForwardingOptions, stripHopByHop } from "./forwarding.ts";
import type { BodyFilterResult, FailToProxy, FilterResult, ProxyHttp } from "./proxy_http.ts";
import {
  type BodyReader,
  type BodySource,
  type Endpoint,
  Session,
  splitResponse,
} from "./session.ts";
import {
  cacheRequest,
  cacheUpstreamError,
  cacheUpstreamRequest,
  cacheUpstreamResponse,
  cacheUpstreamSignal,
} from "./_cache_flow.ts";
import { cancelOutcome, reportFinishFailure } from "./_finish.ts";
import { isThenable } from "./_thenable.ts";

/** Options of {@linkcode HttpProxy}. */
export interface HttpProxyOptions {
  /** Carries requests upstream. Required until the default H1 connector is wired in. */
  connector: Connector;
  /**
   * Upstream attempts per request at most (first try included).
   * @default {16}
   */
  maxRetries?: number;
  /**
   * Bytes of request body kept to replay on a retry.
   * @default {65536}
   */
  retryBufferSize?: number;
  /** Forwarding fields (`X-Forwarded-*`, `Via`). */
  forwarding?: ForwardingOptions;
  /**
   * Where failed requests are logged (unless `suppressErrorLog` says no).
   * @default {console.error}
   */
  errorLog?: (line: string, error: ProxyError) => void;
}

/** What the engine hands the transport to write. */
export interface ProxyOutcome {
  /** The response head (hop-by-hop fields removed). */
  head: ResponseHeader;
  /**
   * The body, or `null`. Pull it at the client's pace; cancel it if the client
   * goes away. Errors mid-body must abort the downstream connection, never end
   * the response cleanly.
   */
  body: ReadableStream<Uint8Array> | null;
  /**
   * The same body as a {@linkcode BodySource}, when the connector offers one
   * and no body filter runs: a transport that writes bytes itself (the
   * HTTP/1.1 fast path) pulls from it and never creates a stream. Reading
   * `body` turns the source into a stream and sets this to `null`; use one or
   * the other.
   */
  source?: BodySource | null;
  /**
   * For a `101` to an upgrade request: the client-to-upstream side of the
   * tunnel (`body` is the upstream-to-client side). `null` otherwise.
   */
  upgrade: WritableStream<Uint8Array> | null;
  /**
   * Call once the response is written (or failed): runs `logging`. Pass the
   * downstream error if the client went away. Idempotent.
   */
  finish(error?: ProxyError | null): Promise<void>;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/**
 * The default status for an error that ends a request: connect errors and
 * invalid upstream responses → 502, upstream timeouts → 504, downstream errors
 * → 400 (0, no response, when the client is gone), internal → 500.
 *
 * @example
 * ```ts
 * import { defaultErrorStatus } from "@cirque/proxy";
 * import { ProxyError } from "@cirque/core/error";
 * import assert from "node:assert/strict";
 *
 * assert.equal(defaultErrorStatus(new ProxyError("CONNECT_REFUSED", "x", { source: "upstream" })), 502);
 * assert.equal(defaultErrorStatus(new ProxyError("READ_TIMEOUT", "x", { source: "upstream" })), 504);
 * ```
 */
export function defaultErrorStatus(error: ProxyError, clientGone = false): number {
  if (error.source === "downstream") {
    if (clientGone) return 0;
    switch (error.code) {
      case "CONNECTION_CLOSED":
      case "ABORTED":
      case "WRITE_TIMEOUT":
        return 0;
      case "READ_TIMEOUT":
        return 408;
      case "RESPONSE_TOO_LARGE":
        return 413;
      default:
        return 400;
    }
  }
  if (error.source === "upstream") {
    switch (error.code) {
      case "CONNECT_TIMEOUT":
      case "READ_TIMEOUT":
      case "WRITE_TIMEOUT":
        return 504;
      default:
        return 502;
    }
  }
  return 500;
}

/** A plain error response with `Cache-Control: private, no-store`. */
export function errorResponse(status: number): { head: ResponseHeader; body: Uint8Array } {
  const head = new ResponseHeader(status);
  const body = new TextEncoder().encode(`${status} ${head.statusText}\n`);
  head.headers.pairs.push(
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Content-Length", String(body.byteLength)],
    ["Cache-Control", "private, no-store"],
  );
  return { head, body };
}

function isConnectError(e: ProxyError): boolean {
  return e.code === "CONNECT_REFUSED" || e.code === "CONNECT_TIMEOUT" ||
    e.code === "CONNECT_ERROR" || e.code === "TLS_HANDSHAKE";
}

/** Marks errors thrown by user phases so the retry logic never retries them. */
class PhaseError extends Error {
  constructor(readonly inner: unknown) {
    super("phase failed");
  }
}

function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

const RESOLVED: Promise<void> = Promise.resolve();

/** A request's `finish` ({@linkcode ProxyOutcome.finish}): runs once, with the error if any. */
type Finish = (error?: ProxyError | null) => Promise<void>;

/**
 * The upstream request as the connector reads it: live views of `up`, since
 * `upstreamRequestFilter` runs in `beforeSend`, after the head was handed over.
 */
class LiveHead implements RequestHead {
  readonly #up: RequestHeader;
  constructor(up: RequestHeader) {
    this.#up = up;
  }
  get method(): string {
    return this.#up.method;
  }
  get path(): string {
    return this.#up.path;
  }
  get headers(): HeaderPairs {
    return this.#up.headers.pairs;
  }
  get headerMap(): HeaderMap {
    return this.#up.headers;
  }
}

/** A stream over a {@linkcode BodySource}; chunks are copied (source views are transient). */
function sourceStream(src: BodySource): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let r = src.read();
      if (isThenable(r)) r = await r;
      if (r === null) c.close();
      else c.enqueue(r.slice());
    },
    cancel(reason) {
      src.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The outcome object: `body` is made from `source` on first read. */
class Outcome implements ProxyOutcome {
  head: ResponseHeader;
  source: BodySource | null;
  upgrade: WritableStream<Uint8Array> | null = null;
  finish: Finish;
  #body: ReadableStream<Uint8Array> | null;

  constructor(
    head: ResponseHeader,
    body: ReadableStream<Uint8Array> | null,
    source: BodySource | null,
    finish: Finish,
  ) {
    this.head = head;
    this.#body = body;
    this.source = source;
    this.finish = finish;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.source !== null) {
      this.#body = sourceStream(this.source);
      this.source = null;
    }
    return this.#body;
  }

  set body(b: ReadableStream<Uint8Array> | null) {
    this.source = null;
    this.#body = b;
  }
}

/**
 * Runs a {@linkcode ProxyHttp} for every request.
 *
 * @example In-process: a proxy in front of a local origin
 * ```ts
 * import { HttpProxy } from "@cirque/proxy";
 * import { HttpPeer } from "@cirque/core/peer";
 * import type { Connector } from "@cirque/core/connector";
 * import assert from "node:assert/strict";
 *
 * // A stand-in connector that answers every request itself.
 * const connector: Connector = {
 *   request: (_peer, head) =>
 *     Promise.resolve({
 *       status: 200, statusText: "OK", headers: [["Content-Length", "2"]],
 *       body: new Response(head.path === "/" ? "hi" : "no").body, trailers: Promise.resolve([]),
 *       reused: false, timing: { connected: 0, responseHead: 0 },
 *     }),
 *   close: () => Promise.resolve(),
 * };
 * const proxy = new HttpProxy({
 *   newCtx: () => ({}),
 *   upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
 * }, { connector });
 * const res = await proxy.handle(new Request("http://example.test/"));
 * assert.equal(await res.text(), "hi");
 * ```
 */
export class HttpProxy<Ctx> {
  readonly #p: ProxyHttp<Ctx>;
  readonly #connector: Connector;
  readonly #maxRetries: number;
  readonly #retryBufferSize: number;
  readonly #forward: ReturnType<typeof forwardingFilter>;
  readonly #errorLog: (line: string, error: ProxyError) => void;

  /** Creates a proxy service around `proxy`'s phases. */
  constructor(proxy: ProxyHttp<Ctx>, options: HttpProxyOptions) {
    this.#p = proxy;
    this.#connector = options.connector;
    this.#maxRetries = options.maxRetries ?? 16;
    if (!(this.#maxRetries >= 1)) {
      throw new RangeError(`Cannot create HttpProxy: maxRetries ${this.#maxRetries} is below 1`);
    }
    this.#retryBufferSize = options.retryBufferSize ?? 64 * 1024;
    this.#forward = forwardingFilter(options.forwarding);
    this.#errorLog = options.errorLog ?? ((line) => console.error(line));
  }

  /** The connector requests go through. */
  get connector(): Connector {
    return this.#connector;
  }

  /**
   * The in-process entry: a `(Request, info) => Promise<Response>` handler for
   * `Deno.serve`, Hono or tests. With `cut` (what `httpService` passes as its
   * third argument), a streamed response body still being sent when `cut`
   * aborts is ended with `cut.reason` and its upstream body cancelled: the
   * handler for an `httpService` with `guardBodies: false`.
   */
  handle = async (
    request: Request,
    info?: Deno.ServeHandlerInfo<Deno.Addr>,
    cut?: AbortSignal,
  ): Promise<Response> => {
    const session = sessionFromRequest(request, info);
    const outcome = await this.process(session);
    // The client went away before its response (a cache fill goes on without it).
    if (session.aborted) return abandon(outcome);
    const head = outcome.head;
    if (head.status < 200 || head.status > 599) {
      // `new Response` takes only 200–599 (a filter or failToProxy may have
      // set another): answer 502 and log why.
      cancelOutcome(outcome);
      outcome.upgrade?.abort().catch(() => {});
      const error = new ProxyError(
        "INVALID_RESPONSE",
        `Cannot send status ${head.status} as a final response`,
        { source: "internal" },
      );
      const failed = errorResponse(502);
      session.status = 502;
      session.bodyBytesSent += failed.body.byteLength;
      finishWhenSent(outcome, info, error);
      return responseOf(failed.body, 502, failed.head.statusText, failed.head.headers.pairs);
    }
    const src = outcome.source ?? null;
    let out: ReadableStream<Uint8Array> | Uint8Array | null = null;
    const nullBody = isNullBodyStatus(head.status);
    if (src !== null && !nullBody) {
      // A body that is all buffered already goes out as bytes, not a stream.
      let first: ReturnType<BodySource["read"]>;
      try {
        first = src.read();
      } catch (e) {
        first = rejected(e);
      }
      if (first === null) {
        out = new Uint8Array(0);
      } else if (!isThenable(first)) {
        const bytes = first.slice();
        let next: ReturnType<BodySource["read"]>;
        try {
          next = src.read();
        } catch (e) {
          next = rejected(e);
        }
        if (next === null) out = bytes;
        else out = pullStream(session, outcome, src, bytes, next, cut);
      } else {
        out = pullStream(session, outcome, src, null, first, cut);
      }
      if (out instanceof Uint8Array) {
        session.bodyBytesSent += out.byteLength;
        finishWhenSent(outcome, info);
      }
    } else if (src === null && outcome.body !== null && !nullBody) {
      out = pullStream(session, outcome, outcome.body.getReader(), null, null, cut);
    } else {
      cancelOutcome(outcome);
      finishWhenSent(outcome, info);
    }
    return responseOf(out, head.status, head.statusText, head.headers.pairs);
  };

  /** Runs every phase for `session` and returns what to send. Never rejects. */
  process(session: Session): Promise<ProxyOutcome> {
    const p = this.#p;
    let ctx: Ctx;
    try {
      ctx = p.newCtx();
    } catch (e) {
      return this.#fail(session, toProxyError(e), undefined as Ctx);
    }
    const finish = this.#finisher(session, ctx);
    if (
      p.earlyRequestFilter === undefined && p.requestFilter === undefined &&
      p.requestCacheFilter === undefined
    ) {
      // No request phase: the upstream leg is all there is, with no async
      // frame of its own around it (about 0.4 KB less garbage per request).
      return this.#proxy(session, ctx, finish).catch((e) => this.#failed(session, ctx, finish, e));
    }
    return this.#requestPhases(session, ctx, finish);
  }

  /** The `finish` of one request: once, records the end, logs an error, runs `logging`. */
  #finisher(session: Session, ctx: Ctx): Finish {
    const p = this.#p;
    let finished = false;
    const finish = (error: ProxyError | null = null): Promise<void> => {
      if (finished) return RESOLVED;
      finished = true;
      session.timing.end = coarseNow();
      try {
        if (error !== null && !(p.suppressErrorLog?.(session, ctx, error) ?? false)) {
          this.#logError(session, error);
        }
      } catch (e) {
        return Promise.reject(e);
      }
      if (p.logging === undefined) return RESOLVED;
      return (async () => {
        try {
          await p.logging!(session, error, ctx);
        } catch (e) {
          console.error("cirque: logging phase failed:", e);
        }
      })();
    };
    return finish;
  }

  /** The request phases (and the cache's), then the upstream leg. Never rejects. */
  async #requestPhases(
    session: Session,
    ctx: Ctx,
    finish: Finish,
  ): Promise<ProxyOutcome> {
    const p = this.#p;
    try {
      let answer: FilterResult = undefined;
      if (p.earlyRequestFilter !== undefined) {
        const a = p.earlyRequestFilter(session, ctx);
        answer = isThenable(a) ? await a : a;
      }
      if (answer === undefined || answer.kind === "continue") {
        answer = undefined;
        if (p.requestFilter !== undefined) {
          const a = p.requestFilter(session, ctx);
          answer = isThenable(a) ? await a : a;
        }
      }
      if (answer !== undefined && answer.kind === "respond") {
        session.discardBody();
        const { head, body } = splitResponse(answer.response);
        if (p.responseFilter !== undefined) {
          const r = p.responseFilter(session, head, ctx);
          if (isThenable(r)) await r;
        }
        return this.#respond(session, ctx, head, body, null, finish);
      }
      if (p.requestCacheFilter !== undefined) {
        // Cache phases (proxy/_cache_flow.ts): a hit, a purge or only-if-cached answers here.
        const hit = await cacheRequest(p, session, ctx, this.#subrequest);
        if (hit !== null) {
          await p.responseFilter?.(session, hit.head, ctx);
          return this.#respond(session, ctx, hit.head, hit.body, null, finish);
        }
      }
      return await this.#proxy(session, ctx, finish);
    } catch (e) {
      return this.#failed(session, ctx, finish, e);
    }
  }

  /** What a failure of the phases or the upstream leg answers: stale-if-error, or an error response. */
  async #failed(
    session: Session,
    ctx: Ctx,
    finish: Finish,
    e: unknown,
  ): Promise<ProxyOutcome> {
    const p = this.#p;
    const err = toProxyError(e instanceof PhaseError ? e.inner : e);
    if (p.requestCacheFilter !== undefined) {
      // stale-if-error (RFC 5861 §4) instead of an error response.
      const stale = cacheUpstreamError(session, err);
      if (stale !== null) {
        await p.responseFilter?.(session, stale.head, ctx);
        return this.#respond(session, ctx, stale.head, stale.body, null, finish);
      }
    }
    return this.#fail(session, err, ctx, finish);
  }

  /**
   * A cache subrequest (background revalidation): a fresh ctx, the request
   * filters (they may route or authenticate), then the upstream leg.
   */
  #subrequest = async (session: Session): Promise<ProxyOutcome> => {
    const p = this.#p;
    const ctx = p.newCtx();
    let finished = false;
    const finish = async (error: ProxyError | null = null): Promise<void> => {
      if (finished) return;
      finished = true;
      session.timing.end = coarseNow();
      try {
        await p.logging?.(session, error, ctx);
      } catch (e) {
        console.error("cirque: logging phase failed:", e);
      }
    };
    let answer: FilterResult = await p.earlyRequestFilter?.(session, ctx);
    if (answer === undefined || answer.kind === "continue") {
      answer = await p.requestFilter?.(session, ctx);
    }
    if (answer !== undefined && answer.kind === "respond") {
      answer.response.body?.cancel().catch(() => {});
      const err = new ProxyError("INTERNAL", "a request filter answered the cache subrequest");
      await finish(err);
      throw err;
    }
    try {
      return await this.#proxy(session, ctx, finish);
    } catch (e) {
      await finish(toProxyError(e instanceof PhaseError ? e.inner : e));
      throw e;
    }
  };

  async #proxy(
    session: Session,
    ctx: Ctx,
    finish: Finish,
  ): Promise<ProxyOutcome> {
    const p = this.#p;
    // Without a request body and a body filter there is nothing to replay.
    const retry = session.isBodyDone && p.requestBodyFilter === undefined
      ? null
      : new RetryBody(session, this.#retryBufferSize, p, ctx);
    const phases = p.connectedToUpstream !== undefined || p.upstreamRequestFilter !== undefined;
    let lastError: ProxyError | null = null;
    let upstreamSignal: AbortSignal | null = null;
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      session.attempts = attempt + 1;
      const pending = p.upstreamPeer(session, ctx);
      const peer = isThenable(pending) ? await pending : pending;
      session.upstreamPeer = peer;
      const up = this.#upstreamRequest(session);
      if (p.requestCacheFilter !== undefined) cacheUpstreamRequest(session, up);
      let reused = false;
      let filtered = false;
      const head = new LiveHead(up);
      try {
        const options: RequestOptions & { bodySource?: boolean } = {
          // H1Connector: the body as a pull source when no body filter and no
          // cache write needs a stream.
          bodySource: p.responseBodyFilter === undefined && p.requestCacheFilter === undefined,
          beforeSend: (wasReused) => {
            reused = wasReused;
            session.upstreamReused = wasReused;
            // Coarse here (it stays if the exchange fails); exact once the response arrives.
            session.timing.upstreamConnected = coarseNow();
            if (!phases) return;
            return (async () => {
              try {
                await p.connectedToUpstream?.(session, wasReused, peer, ctx);
                // The connector may call this again on a fresh connection after a
                // stale pooled one; the head is filtered once per attempt.
                if (!filtered) {
                  filtered = true;
                  await p.upstreamRequestFilter?.(session, up, ctx);
                }
              } catch (e) {
                throw new PhaseError(e);
              }
            })();
          },
        };
        // A signal only where something can abort during the exchange: one
        // given by the transport (Deno.serve's request.signal) or created by a
        // phase's use, the link of a transport that watches the client (the
        // fast path), or a request body (its reads time out).
        // With cache phases, one that a client going away does not abort while
        // the request fills a cache entry (holds its lock or writes it), before
        // the response head as after it (proxy/_cache_flow.ts).
        const abort = session.upstreamAbort;
        if (abort !== null || !session.isBodyDone || session.upgrade) {
          options.signal = p.requestCacheFilter === undefined
            ? abort ?? session.signal
            : (upstreamSignal ??= cacheUpstreamSignal(session));
        }
        const res = await this.#connector.request(peer, head, retry?.stream() ?? null, options);
        // From the connector's own clock reads when it reports its start.
        const t = res.timing;
        const start = t.start ?? coarseNow() - t.responseHead;
        session.timing.upstreamResponse = start + t.responseHead;
        session.timing.upstreamConnected = start + t.connected;
        // The connector's fields as parsed, when it offers them: their strings
        // are made only if a phase (or the Deno.serve path) reads them.
        const fields = (res as { fields?: RawFields }).fields;
        const headers = fields !== undefined
          ? HeaderMap.fromRaw(fields)
          : new HeaderMap(res.headers.slice());
        const tunnel = session.upgrade && res.status === 101 && res.upgrade !== undefined;
        if (!tunnel) {
          res.upgrade?.abort().catch(() => {});
          if (res.status < 200) {
            // A 1xx is never final; a 101 answers only an upgrade the client
            // asked for (RFC 9110 §15.2.2): relaying it would hand the client
            // a protocol switch it did not ask for.
            (res as { source?: BodySource | null }).source?.cancel();
            res.body?.cancel().catch(() => {});
            throw new ProxyError(
              "INVALID_RESPONSE",
              `Invalid response from ${peer.address}: ${res.status} to a request that asked for no upgrade`,
              { source: "upstream", context: { peer: peer.address } },
            );
          }
        }
        stripHopByHop(headers, tunnel);
        let resHead = new ResponseHeader(res.status, headers, res.statusText);
        // The connector's stream-free body, when it offers one (see BodySource).
        let source = (res as { source?: BodySource | null }).source ?? null;
        let body = source !== null
          ? null
          : up.method === "HEAD"
          ? (res.body?.cancel().catch(() => {}), null)
          : res.body;
        if (source !== null && up.method === "HEAD") {
          source.cancel();
          source = null;
        }
        try {
          if (p.upstreamResponseFilter !== undefined) {
            const r = p.upstreamResponseFilter(session, resHead, ctx);
            if (isThenable(r)) await r;
          }
          if (p.requestCacheFilter !== undefined && !tunnel) {
            // Cache write / 304 refresh / stale on 5xx (proxy/_cache_flow.ts).
            ({ head: resHead, body } = await cacheUpstreamResponse(session, resHead, body));
          }
          if (p.responseFilter !== undefined) {
            const r = p.responseFilter(session, resHead, ctx);
            if (isThenable(r)) await r;
          }
        } catch (e) {
          if (source !== null) source.cancel();
          else body?.cancel().catch(() => {});
          throw new PhaseError(e);
        }
        if (tunnel) {
          session.status = 101;
          return { head: resHead, body, upgrade: res.upgrade!, finish };
        }
        return this.#respond(session, ctx, resHead, body, source, finish);
      } catch (e) {
        if (e instanceof PhaseError) throw e;
        let err = toProxyError(e, "upstream");
        if (session.aborted) {
          throw new ProxyError("CONNECTION_CLOSED", "client went away", {
            source: "downstream",
            cause: err,
          });
        }
        if (isConnectError(err)) {
          // The connector guarantees nothing was sent for these.
          err.retryable = false;
          err = p.failToConnect?.(session, peer, ctx, err) ?? err;
        } else {
          // After connecting (Pingora's `ReusedOnly`): only a reused connection
          // the upstream closed or reset before any response byte is worth
          // another try, which the connector marks `retryable` (H1Connector:
          // CONNECTION_CLOSED with no response byte). Timeouts and invalid
          // responses never are: the upstream may have acted on the request.
          err.retryable = err.retryable && reused && retry?.truncated !== true &&
            (IDEMPOTENT.has(session.req.method) || session.retryNonIdempotent);
          err = p.errorWhileProxy?.(peer, session, err, ctx, reused) ?? err;
        }
        // A failure on the client's side (bad body, client gone) is never retried.
        if (err.source === "downstream") err.retryable = false;
        lastError = err;
        if (!err.retryable) break;
      }
    }
    throw lastError ?? new ProxyError("INTERNAL", "no upstream attempt was made");
  }

  #upstreamRequest(session: Session): RequestHeader {
    // Shares the field tuples: filtering `up` leaves `session.req` as it was.
    const up = session.req.snapshot();
    stripHopByHop(up.headers, session.upgrade);
    if (up.version === "2" && !up.headers.has("host") && up.authority !== null) {
      up.headers.pairs.unshift(["Host", up.authority]);
    }
    this.#forward(up.headers, {
      clientIp: session.clientIp,
      tls: session.downstream.tls,
      host: session.req.host,
      version: session.req.version,
    });
    return up;
  }

  #respond(
    session: Session,
    ctx: Ctx,
    head: ResponseHeader,
    body: ReadableStream<Uint8Array> | null,
    source: BodySource | null,
    finish: Finish,
  ): ProxyOutcome {
    session.status = head.status;
    const filter = this.#p.responseBodyFilter;
    if (filter !== undefined && body !== null) {
      head.headers.delete("content-length");
      body = filteredBody(body, (chunk, eos) => filter(session, chunk, eos, ctx));
    }
    return new Outcome(head, body, source, finish);
  }

  async #fail(
    session: Session,
    error: ProxyError,
    ctx: Ctx,
    finish?: Finish,
  ): Promise<ProxyOutcome> {
    session.discardBody(error);
    const clientGone = session.aborted;
    let decision: FailToProxy;
    try {
      decision = this.#p.failToProxy
        ? await this.#p.failToProxy(session, error, ctx)
        : { status: defaultErrorStatus(error, clientGone) };
    } catch (e) {
      console.error("cirque: failToProxy phase failed:", e);
      decision = { status: 500 };
    }
    const done = finish ?? ((e?: ProxyError | null) => {
      if (e) this.#logError(session, e);
      return Promise.resolve();
    });
    const finishWithError = (e?: ProxyError | null) => done(e ?? error);
    session.status = decision.status;
    if (decision.response !== undefined) {
      const { head, body } = splitResponse(decision.response);
      return { head, body, upgrade: null, finish: finishWithError };
    }
    const { head, body } = errorResponse(decision.status === 0 ? 502 : decision.status);
    return {
      head,
      body: decision.status === 0 ? null : bytesStream(body),
      upgrade: null,
      finish: finishWithError,
    };
  }

  #logError(session: Session, error: ProxyError): void {
    const peer = session.upstreamPeer ? ` peer=${session.upstreamPeer.address}` : "";
    this.#errorLog(
      `cirque: ${session.summary}: ${error.code} (${error.source}) ${error.message}${peer} attempts=${session.attempts}`,
      error,
    );
  }
}

/** Reads in a row that yield no data (a body filter dropping chunks) before a body stream gives up. */
const MAX_EMPTY_READS = 1 << 20;

/**
 * Replays the request body across attempts, up to the retry buffer size.
 *
 * There is never more than one read of the session body in flight: an
 * attempt that fails while its stream waits for a chunk leaves that read
 * pending, and the next attempt's stream waits for it (and gets its chunk)
 * instead of starting a second read of the same body.
 */
class RetryBody<Ctx> {
  readonly #session: Session;
  readonly #limit: number;
  readonly #p: ProxyHttp<Ctx>;
  readonly #ctx: Ctx;
  /** The chunks read so far, while they fit the retry buffer (then none). */
  readonly #chunks: Uint8Array[] = [];
  #size = 0;
  /** Chunks read so far (kept or not). */
  #count = 0;
  /** The last chunk read once the buffer is truncated, and its index, until a stream takes it. */
  #handoff: Uint8Array | null = null;
  #handoffAt = -1;
  #generation = 0;
  #eos = false;
  /** The one read of the session body in flight (it stays rejected once one failed). */
  #pending: Promise<void> | null = null;
  truncated = false;

  constructor(session: Session, limit: number, p: ProxyHttp<Ctx>, ctx: Ctx) {
    this.#session = session;
    this.#limit = limit;
    this.#p = p;
    this.#ctx = ctx;
  }

  /** A fresh body stream for one attempt, or null when there is no body. */
  stream(): RequestBody {
    const s = this.#session;
    if (
      s.isBodyDone && this.#pending === null && this.#count === 0 &&
      this.#p.requestBodyFilter === undefined
    ) {
      return null;
    }
    if (this.truncated) {
      throw new ProxyError("INTERNAL", "request body can no longer be replayed");
    }
    const gen = ++this.#generation;
    /** Chunks this stream has passed on. */
    let i = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        // Each turn passes on a chunk, ends the stream, or waits for the one
        // read in flight. A pull must not return empty-handed (the stream
        // would not pull again), so reads that yield nothing (a filter
        // dropped the chunk) go round again.
        for (let turn = 0; turn < MAX_EMPTY_READS; turn++) {
          if (gen !== this.#generation) {
            c.error(new ProxyError("INTERNAL", "stale request body reader"));
            return;
          }
          if (i < this.#count) {
            let chunk: Uint8Array | null = null;
            if (i < this.#chunks.length) chunk = this.#chunks[i]!;
            else if (this.#handoffAt === i) {
              chunk = this.#handoff;
              this.#handoff = null;
              this.#handoffAt = -1;
            }
            if (chunk === null) {
              c.error(new ProxyError("INTERNAL", "request body can no longer be replayed"));
              return;
            }
            i++;
            c.enqueue(chunk);
            if (this.#eos && i === this.#count) c.close();
            return;
          }
          if (this.#eos) {
            c.close();
            return;
          }
          const read = this.#pending ??= this.#read();
          await read;
          if (this.#pending === read) this.#pending = null;
        }
        c.error(
          new ProxyError(
            "INTERNAL",
            `request body: ${MAX_EMPTY_READS} reads in a row gave no data`,
          ),
        );
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Reads (and filters) the next chunk of the session body into the replay
   * buffer, or, once the body outgrew it, into the hand-off slot.
   */
  async #read(): Promise<void> {
    const s = this.#session;
    let chunk: Uint8Array | null;
    try {
      chunk = await s.readBody();
    } catch (e) {
      throw e instanceof ProxyError
        ? e
        : new ProxyError("CONNECTION_CLOSED", "client request body failed", {
          source: "downstream",
          cause: e,
        });
    }
    const filter = this.#p.requestBodyFilter;
    if (filter !== undefined) {
      let r: BodyFilterResult | void;
      try {
        r = await filter(s, chunk, chunk === null, this.#ctx);
      } catch (e) {
        throw new PhaseError(e);
      }
      if (r && "chunk" in r && r.chunk !== undefined) chunk = r.chunk;
      if (r && r.delay) await new Promise((ok) => setTimeout(ok, r.delay));
      if (s.isBodyDone) this.#eos = true;
    } else if (chunk === null) this.#eos = true;
    if (chunk === null || chunk.byteLength === 0) return;
    if (!this.#keep(chunk)) {
      this.#handoff = chunk;
      this.#handoffAt = this.#count;
    }
    this.#count++;
  }

  /** Appends `chunk` to the replay buffer; false once the body outgrew it. */
  #keep(chunk: Uint8Array): boolean {
    if (this.truncated) return false;
    if (this.#size + chunk.byteLength > this.#limit) {
      this.truncated = true;
      this.#session.retryBufferTruncated = true;
      this.#chunks.length = 0;
      return false;
    }
    this.#size += chunk.byteLength;
    this.#chunks.push(chunk);
    return true;
  }
}

function filteredBody(
  body: ReadableStream<Uint8Array>,
  filter: (
    chunk: Uint8Array | null,
    eos: boolean,
  ) => Promise<BodyFilterResult | void> | BodyFilterResult | void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      // Loop until something is enqueued or the stream is closed.
      while (true) {
        if (done) {
          c.close();
          return;
        }
        const r = await reader.read();
        let chunk: Uint8Array | null = r.done ? null : r.value;
        const out = await filter(chunk, r.done);
        if (out && out.chunk !== undefined) chunk = out.chunk;
        if (out && out.delay) await new Promise((ok) => setTimeout(ok, out.delay));
        if (r.done) done = true;
        if (chunk !== null && chunk.byteLength > 0) {
          c.enqueue(chunk);
          if (done) c.close();
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
 * The `Deno.serve` response body: pulls from a source (copying its transient
 * views) or a stream reader, counts bytes and runs `finish` at the end. When
 * `cut` aborts first, the body ends with `cut.reason` (the client sees a
 * truncated response) and the source is cancelled.
 */
function pullStream(
  session: Session,
  outcome: ProxyOutcome,
  from: BodySource | ReadableStreamDefaultReader<Uint8Array>,
  first: Uint8Array | null,
  pending: Promise<Uint8Array | null> | Uint8Array | null,
  cut: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  const isSource = !(from instanceof ReadableStreamDefaultReader);
  let head: Uint8Array | null = first;
  let next = pending;
  const stopSource = (reason: unknown) => {
    if (isSource) (from as BodySource).cancel(reason);
    else (from as ReadableStreamDefaultReader<Uint8Array>).cancel(reason).catch(() => {});
  };
  let off: (() => boolean) | null = null;
  const unlink = () => {
    if (off !== null) off();
    off = null;
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (cut === undefined) return;
      off = onCut(cut, () => {
        off = null;
        c.error(cut.reason);
        stopSource(cut.reason);
        finishSafely(
          outcome,
          new ProxyError("ABORTED", "response cut: the server's shutdown deadline passed", {
            source: "internal",
            cause: cut.reason,
          }),
        );
      });
    },
    async pull(c) {
      try {
        if (head !== null) {
          session.bodyBytesSent += head.byteLength;
          c.enqueue(head);
          head = null;
          return;
        }
        let chunk: Uint8Array | null;
        if (isSource) {
          let r = next ?? (from as BodySource).read();
          next = null;
          if (isThenable(r)) r = await r;
          chunk = r === null ? null : r.slice();
        } else {
          const r = await (from as ReadableStreamDefaultReader<Uint8Array>).read();
          chunk = r.done ? null : r.value;
        }
        // Cut while this read was pending: the stream has ended already.
        if (cut?.aborted) return;
        if (chunk === null) {
          unlink();
          c.close();
          finishSafely(outcome, null);
        } else {
          session.bodyBytesSent += chunk.byteLength;
          c.enqueue(chunk);
        }
      } catch (e) {
        if (cut?.aborted) return;
        unlink();
        const err = toProxyError(e, "upstream");
        c.error(err);
        finishSafely(outcome, err);
      }
    },
    cancel(reason) {
      unlink();
      stopSource(reason);
      finishSafely(
        outcome,
        new ProxyError("CONNECTION_CLOSED", "client closed the connection mid-response", {
          source: "downstream",
          cause: reason,
        }),
      );
    },
  }, { highWaterMark: 0 });
}

/** A rejected promise that is never reported as unhandled (it may not be awaited). */
function rejected(e: unknown): Promise<never> {
  const p = Promise.reject(e);
  p.catch(() => {});
  return p;
}

/**
 * `handle` for a client that went away before its response (a cache fill
 * keeps its upstream exchange going, see `cacheUpstreamSignal`): cancels the
 * answer, as the fast path does, so that its body is read only while it is
 * stored (a body not stored closes its upstream connection), and runs
 * `finish` with the downstream error. The response returned goes nowhere.
 */
function abandon(outcome: ProxyOutcome): Response {
  cancelOutcome(outcome);
  outcome.upgrade?.abort().catch(() => {});
  finishSafely(
    outcome,
    new ProxyError("CONNECTION_CLOSED", "client went away", { source: "downstream" }),
  );
  return new Response(null, { status: 502 });
}

/**
 * `new Response(body, { status, statusText })` with `fields` appended one by
 * one: the same response as passing them as `init.headers`, for about two
 * fifths of the work. As `init.headers`, WebIDL converts the pairs as a
 * sequence of sequences (an iterator, a result object and a copied array per
 * field: 10.7 against 4.3 µs for nine fields, `deno bench`), and that garbage
 * is paid by every in-flight request of a `Deno.serve` proxy. The body is
 * bytes or a stream, never a string: for a string `new Response` would add a
 * `Content-Type` of its own before the fields.
 */
function responseOf(
  body: Uint8Array | ReadableStream<Uint8Array> | null,
  status: number,
  statusText: string,
  fields: HeaderPairs,
): Response {
  const res = new Response(body as BodyInit | null, { status, statusText });
  const headers = res.headers;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    headers.append(f[0], f[1]);
  }
  return res;
}

/** Runs `finish` once `Deno.serve` has sent a response without a streamed body. */
function finishWhenSent(
  outcome: ProxyOutcome,
  info?: Deno.ServeHandlerInfo<Deno.Addr>,
  error: ProxyError | null = null,
): void {
  if (info?.completed) {
    info.completed.then(
      () => finishSafely(outcome, error),
      (e) => finishSafely(outcome, error ?? toProxyError(e, "downstream")),
    );
  } else queueMicrotask(() => finishSafely(outcome, error));
}

/**
 * Runs `outcome.finish` from a place nothing awaits (Deno.serve's callbacks):
 * a failure there (`suppressErrorLog` or the error log threw) is reported,
 * never left as an unhandled rejection that would end the process.
 */
function finishSafely(outcome: ProxyOutcome, error: ProxyError | null): void {
  let p: Promise<void>;
  try {
    p = outcome.finish(error);
  } catch (e) {
    p = Promise.reject(e);
  }
  p.catch(reportFinishFailure);
}

function endpoint(addr: Deno.Addr | undefined): Endpoint | null {
  if (addr === undefined) return null;
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return { hostname: addr.hostname, port: addr.port };
  }
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return { hostname: addr.path, port: 0 };
  }
  return null;
}

/** Builds a {@linkcode Session} from a web `Request` (Deno.serve, Hono, tests). */
export function sessionFromRequest(
  request: Request,
  info?: Deno.ServeHandlerInfo<Deno.Addr>,
): Session {
  const url = request.url;
  const schemeEnd = url.indexOf("://");
  const pathStart = url.indexOf("/", schemeEnd + 3);
  const path = pathStart < 0 ? "/" : url.slice(pathStart);
  const authority = url.slice(schemeEnd + 3, pathStart < 0 ? url.length : pathStart);
  const headers = HeaderMap.fromHeaders(request.headers);
  // Deno.serve's HTTP/2 requests carry no Host field; the authority is in the URL.
  const version = headers.has("host") ? "1.1" : "2";
  const req = new RequestHeader(request.method, path, headers, version, authority);
  let body: BodyReader | null = null;
  if (request.body !== null) {
    const reader = request.body.getReader();
    body = {
      read: async () => {
        const r = await reader.read();
        return r.done ? null : r.value;
      },
      cancel: (reason) => void reader.cancel(reason).catch(() => {}),
    };
  }
  return new Session(req, body, {
    clientAddr: endpoint(info?.remoteAddr),
    tls: url.startsWith("https:"),
  }, request.signal);
}
