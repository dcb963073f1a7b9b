/**
 * {@linkcode Session}: one downstream request as every phase sees it,
 * whichever transport carried it.
 *
 * @module
 */

import { type AbortLike, AbortLink } from "@cirque/core/connector";
import { coarseNow } from "@cirque/core/deadline";
import type { HttpPeer } from "@cirque/core/peer";
import { HeaderMap, type RequestHeader, ResponseHeader } from "@cirque/core/http-header";
import type { Respond } from "./proxy_http.ts";

/** A network endpoint. */
export interface Endpoint {
  /** IP address or unix path. */
  hostname: string;
  /** Port, 0 for unix sockets. */
  port: number;
}

/** Facts about the downstream connection. */
export interface DownstreamInfo {
  /** The client's address. */
  clientAddr: Endpoint | null;
  /** Our listening address. */
  serverAddr: Endpoint | null;
  /** Whether the client connected over TLS. */
  tls: boolean;
  /** Negotiated ALPN protocol, if TLS. */
  alpn: string | null;
  /** SNI the client sent, if TLS. */
  sni: string | null;
}

/** Pull-based reader of the downstream request body. */
export interface BodyReader {
  /** The next chunk, or `null` at the end. Rejects if the client went away. */
  read(): Promise<Uint8Array | null>;
  /** Stops reading; the rest of the body is discarded. */
  cancel(reason?: unknown): void;
}

/**
 * A pull reader of a response body without a `ReadableStream`: the fast path
 * between the upstream connection and the downstream socket (see
 * `ProxyOutcome.source`). A chunk is a view into the upstream
 * connection's buffer and stays valid only until the next `read()` or
 * `cancel()`: write or copy it before pulling again. Read to the end (`null`)
 * or cancel; either gives the upstream connection back.
 *
 * @example
 * ```ts
 * import type { BodySource } from "@cirque/proxy";
 * import assert from "node:assert/strict";
 *
 * const chunks = [new Uint8Array([104, 105])];
 * const source: BodySource = { read: () => chunks.shift() ?? null, cancel: () => {} };
 * let r = source.read();
 * if (r instanceof Promise) r = await r;
 * assert.deepEqual(r, new Uint8Array([104, 105]));
 * assert.equal(source.read(), null);
 * ```
 */
export interface BodySource {
  /** The next chunk (valid until the next call), or `null` at the end; rejects on failure. */
  read(): Promise<Uint8Array | null> | Uint8Array | null;
  /** Stops reading; the rest of the body is discarded. */
  cancel(reason?: unknown): void;
  /**
   * When true, the bytes in front of a chunk in its buffer (`chunk.buffer`
   * from 0 to `chunk.byteOffset`) are spent, and the caller may overwrite them
   * until the next `read()`: the fast path puts the response head there and
   * sends head and body bytes in one write without copying the body.
   */
  readonly spareFront?: boolean;
}

/**
 * Per-request timing, in milliseconds on the `performance.now()` clock as
 * {@linkcode coarseNow} reads it: cached for about a millisecond (as nginx's
 * `$request_time` and `$upstream_response_time`), so the resolution is about
 * 1 ms and a request's four times cost no clock op (a precise read is about
 * 150 ns in Deno). A phase that needs finer figures reads `performance.now()`
 * itself.
 */
export interface SessionTiming {
  /** When the request head was parsed. */
  start: number;
  /** When the upstream connection was ready (last attempt), or 0. */
  upstreamConnected: number;
  /** When the upstream response head arrived, or 0. */
  upstreamResponse: number;
  /** When the response was fully sent or failed, or 0. */
  end: number;
}

const EMPTY_READER: BodyReader = { read: () => Promise.resolve(null), cancel: () => {} };

/**
 * One request flowing through the proxy.
 *
 * @example Answer from a filter
 * ```ts
 * import { Session } from "@cirque/proxy";
 * import { RequestHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const session = new Session(new RequestHeader("GET", "/admin", [["Host", "x"]]));
 * const answer = session.respond(403, "forbidden\n");
 * assert.equal(answer.kind, "respond");
 * assert.equal(answer.response.status, 403);
 * ```
 */
export class Session {
  /** The request head; filters may change it before it is forwarded. */
  readonly req: RequestHeader;
  /** The downstream connection. */
  readonly downstream: DownstreamInfo;
  /** Timing of this request. */
  readonly timing: SessionTiming;
  /** Request body bytes read from the client. */
  bodyBytesRead = 0;
  /** Response body bytes sent to the client (as far as the transport reports). */
  bodyBytesSent = 0;
  /** The peer of the last upstream attempt. */
  upstreamPeer: HttpPeer | null = null;
  /** Whether the last upstream attempt used a pooled connection. */
  upstreamReused = false;
  /** Upstream attempts made (1 + retries). */
  attempts = 0;
  /** Status sent to the client, once known; 0 until then. */
  status = 0;
  /**
   * The request asks to switch protocols (`Upgrade` + `Connection: upgrade`)
   * and the transport can tunnel raw bytes (the HTTP/1.1 fast path). Then
   * `Upgrade` is forwarded and a `101` answer becomes a byte tunnel.
   */
  upgrade = false;
  /** Allow retries of non-idempotent requests after bytes were sent (default off). */
  retryNonIdempotent = false;
  /** Whether the request body outgrew the retry buffer. */
  retryBufferTruncated = false;
  #tags: Map<string, string> | null = null;
  #body: BodyReader;
  #bodyDone = false;
  /** The request as it arrived, sharing its field tuples with `req`. */
  readonly #arrived: RequestHeader;
  #original: RequestHeader | null = null;
  #signal: AbortSignal | null;
  #controller: AbortController | null = null;
  #link: AbortLink | null = null;
  #aborted = false;
  #abortReason: unknown = undefined;

  /**
   * Creates a session; transports call this, tests may too. Without `signal`,
   * {@linkcode Session.signal} is created on first use and aborted by
   * {@linkcode Session.abort}.
   */
  constructor(
    req: RequestHeader,
    body: BodyReader | null = null,
    downstream: Partial<DownstreamInfo> = {},
    signal: AbortSignal | null = null,
  ) {
    this.req = req;
    this.#arrived = req.snapshot();
    this.#signal = signal;
    this.#body = body ?? EMPTY_READER;
    this.#bodyDone = body === null;
    this.downstream = {
      clientAddr: downstream.clientAddr ?? null,
      serverAddr: downstream.serverAddr ?? null,
      tls: downstream.tls ?? false,
      alpn: downstream.alpn ?? null,
      sni: downstream.sni ?? null,
    };
    this.timing = { start: coarseNow(), upstreamConnected: 0, upstreamResponse: 0, end: 0 };
  }

  /** The request as it arrived (before any filter ran); built on first use. */
  get originalReq(): RequestHeader {
    // A deep copy handed out once, so that even in-place changes stay local.
    return this.#original ??= this.#arrived.clone();
  }

  /**
   * Aborted when the client goes away (or a downstream timeout ends the
   * request). Created on first use (the fast path itself uses the lighter
   * {@linkcode Session.watch}).
   */
  get signal(): AbortSignal {
    if (this.#signal === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
      this.#signal = this.#controller.signal;
    }
    return this.#signal;
  }

  /** Whether {@linkcode Session.signal} exists already (given, or created by a use). */
  get hasSignal(): boolean {
    return this.#signal !== null;
  }

  /**
   * For transports that watch the client while the request is proxied: from
   * now on {@linkcode Session.abort} also aborts the upstream exchange. Costs
   * an {@linkcode AbortLink}, not an `AbortController`, unless
   * {@linkcode Session.signal} exists.
   */
  watch(): void {
    if (this.#signal !== null || this.#link !== null) return;
    this.#link = new AbortLink();
    if (this.#aborted) this.#link.abort(this.#abortReason);
  }

  /**
   * For the engine: what aborts the upstream exchange when the client goes
   * away: {@linkcode Session.signal} if it exists, else the link that
   * {@linkcode Session.watch} made, else `null` (nothing can abort it).
   */
  get upstreamAbort(): AbortLike | null {
    return this.#signal ?? this.#link;
  }

  /** Whether the client went away: `signal.aborted`, without creating the signal. */
  get aborted(): boolean {
    return this.#aborted || (this.#signal !== null && this.#signal.aborted);
  }

  /**
   * For transports: the client went away (or timed out). Aborts
   * {@linkcode Session.signal} with `reason` if it was created here; a signal
   * passed to the constructor belongs to its creator and only the
   * {@linkcode Session.aborted} flag is set.
   */
  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
    this.#link?.abort(reason);
  }

  /** Free-form per-request tags for logs (route name, …); created on first use. */
  get tags(): Map<string, string> {
    return this.#tags ??= new Map();
  }

  /** The client IP, or `""`. */
  get clientIp(): string {
    return this.downstream.clientAddr?.hostname ?? "";
  }

  /** Whether the request has no (more) body to read. */
  get isBodyDone(): boolean {
    return this.#bodyDone;
  }

  /** Reads the next request body chunk (`null` at the end). */
  async readBody(): Promise<Uint8Array | null> {
    if (this.#bodyDone) return null;
    const chunk = await this.#body.read();
    if (chunk === null) this.#bodyDone = true;
    else this.bodyBytesRead += chunk.byteLength;
    return chunk;
  }

  /** Discards the rest of the request body. */
  discardBody(reason?: unknown): void {
    if (this.#bodyDone) return;
    this.#bodyDone = true;
    this.#body.cancel(reason);
  }

  /** `"GET /path, Host: example.com"`, for logs. */
  get summary(): string {
    return `${this.req.method} ${this.req.path}, Host: ${this.req.host}`;
  }

  /**
   * Builds a `{ kind: "respond" }` answer for a filter to return.
   * A string body gets `Content-Type: text/plain; charset=utf-8` unless set.
   */
  respond(
    status: number,
    body: BodyInit | null = null,
    headers: HeadersInit = {},
  ): Respond {
    const h = new Headers(headers);
    if (typeof body === "string") {
      if (!h.has("content-type")) h.set("content-type", "text/plain; charset=utf-8");
      body = new TextEncoder().encode(body);
    }
    if (body instanceof Uint8Array && !h.has("content-length")) {
      h.set("content-length", String(body.byteLength));
    }
    return { kind: "respond", response: new Response(body, { status, headers: h }) };
  }
}

/** Turns a web `Response` into a head and a body stream (used for filter answers). */
export function splitResponse(
  response: Response,
): { head: ResponseHeader; body: ReadableStream<Uint8Array> | null } {
  return {
    head: new ResponseHeader(
      response.status,
      HeaderMap.fromHeaders(response.headers),
      response.statusText || undefined,
    ),
    body: response.body,
  };
}
