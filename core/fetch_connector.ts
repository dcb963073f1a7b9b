/**
 * `FetchConnector`: the {@linkcode Connector} contract over `fetch` and
 * `Deno.createHttpClient`, for upstreams that need HTTP/2 (negotiated with
 * ALPN over TLS) or that the H1 connector does not cover.
 *
 * @module
 */

import type {
  Connector,
  HeaderPairs,
  RequestBody,
  RequestHead,
  RequestOptions,
  UpstreamResponse,
} from "./connector.ts";
import { coarseNow } from "./deadline.ts";
import { type ErrorCode, ProxyError } from "./error.ts";
import { responseHasBody } from "./h1_parse.ts";
import { type HttpPeer, PEER_DEFAULTS } from "./peer.ts";

/** Options of {@linkcode FetchConnector}. */
export interface FetchConnectorOptions {
  /**
   * Allow HTTP/2 (over TLS via ALPN; over cleartext only with `http1: false`,
   * i.e. h2c with prior knowledge).
   * @default {true}
   */
  http2?: boolean;
  /**
   * Allow HTTP/1.1.
   * @default {true}
   */
  http1?: boolean;
}

/** Content codings `fetch` decodes on its own (so their headers must go). */
const DECODED = new Set(["gzip", "x-gzip", "deflate", "br", "zstd"]);
const EMPTY_TRAILERS: Promise<HeaderPairs> = Promise.resolve([]);

function classify(err: unknown, peer: HttpPeer): ProxyError {
  if (err instanceof ProxyError) return err;
  const text = `${err}${err instanceof Error && err.cause ? ` ${err.cause}` : ""}`;
  let code: ErrorCode = "CONNECTION_CLOSED";
  let retryable = false;
  if (/refused/i.test(text)) {
    code = "CONNECT_REFUSED";
    retryable = true;
  } else if (/certificate|tls|handshake|alert/i.test(text)) code = "TLS_HANDSHAKE";
  else if (/dns|resolve|connect/i.test(text) && !/closed/i.test(text)) {
    code = "CONNECT_ERROR";
    retryable = true;
  }
  return new ProxyError(code, `Upstream ${peer.address}: ${text}`, {
    source: "upstream",
    retryable,
    cause: err,
    context: { peer: peer.address },
  });
}

/**
 * The connector contract over `fetch` with one `Deno.HttpClient` per reuse
 * key (so pooling, custom CAs and client certificates follow the peer).
 *
 * What it does to stay truthful as a proxy client:
 * - `redirect: "manual"`: a 3xx comes back as is.
 * - `fetch` always decompresses gzip, deflate, br (and zstd) bodies and
 *   keeps the encoded `Content-Length`. When a response arrives with such a
 *   `Content-Encoding`, the connector drops `Content-Encoding` and
 *   `Content-Length` so the headers describe the (decoded) body it yields.
 * - `Host` from `head` is sent (`allowHost: true`).
 *
 * Limits (documented, by design of `fetch`): header names come back
 * lowercased and merged per name (except `Set-Cookie`), hop-by-hop response
 * fields are visible, trailers are not exposed (always empty), `reused` is
 * always `false` and `timing.connected` is 0; `fetch` adds `accept`,
 * `accept-language`, `user-agent` and `accept-encoding` when absent; a
 * request `Transfer-Encoding`/`Content-Length` is decided by `fetch`;
 * `verifyCert: false` and an SNI different from the address host are not
 * supported (`CONNECT_ERROR`; use `H1Connector`); the connect, the request body upload
 * and the wait for the head share one bound (`totalConnectTimeout +
 * readTimeout`) and each body read is bounded by `readTimeout`.
 *
 * @example
 * ```ts
 * import { FetchConnector } from "@cirque/core/fetch-connector";
 * import { HttpPeer } from "@cirque/core/peer";
 * import assert from "node:assert/strict";
 *
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("hi"));
 * await using connector = new FetchConnector();
 * const res = await connector.request(new HttpPeer(`127.0.0.1:${server.addr.port}`), { method: "GET", path: "/", headers: [] }, null);
 * assert.equal(res.status, 200);
 * assert.equal(await new Response(res.body).text(), "hi");
 * ```
 */
export class FetchConnector implements Connector {
  readonly #clients = new Map<string, Deno.HttpClient>();
  readonly #http1: boolean;
  readonly #http2: boolean;

  /** Creates a connector; HTTP clients are made per peer on first use. */
  constructor(options: FetchConnectorOptions = {}) {
    this.#http1 = options.http1 ?? true;
    this.#http2 = options.http2 ?? true;
  }

  #client(peer: HttpPeer): Deno.HttpClient {
    let c = this.#clients.get(peer.reuseKey);
    if (c !== undefined) return c;
    const o = peer.options;
    if (o.verifyCert === false) {
      throw new ProxyError(
        "CONNECT_ERROR",
        `Cannot connect to ${peer.address}: FetchConnector cannot disable certificate verification`,
        { source: "internal" },
      );
    }
    const idle = o.idleTimeout ?? PEER_DEFAULTS.idleTimeout;
    const opts: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> = {
      allowHost: true,
      http1: this.#http1,
      http2: this.#http2,
      poolIdleTimeout: idle > 0 ? idle : false,
      poolMaxIdlePerHost: idle > 0 ? (o.maxIdlePerPeer ?? PEER_DEFAULTS.maxIdlePerPeer) : 0,
    };
    if (o.caCerts) opts.caCerts = o.caCerts;
    if (o.cert !== undefined && o.key !== undefined) {
      opts.cert = o.cert;
      opts.key = o.key;
    }
    const addr = peer.addr;
    if (addr.transport === "unix") opts.proxy = { transport: "unix", path: addr.path };
    else if (peer.tls && peer.sni !== addr.hostname) {
      // A `tcp` proxy transport would carry plaintext, and fetch has no way to
      // connect to one address while verifying another name.
      throw new ProxyError(
        "CONNECT_ERROR",
        `Cannot connect to ${peer.address}: FetchConnector cannot use an SNI ("${peer.sni}") that differs from the address host`,
        { source: "internal" },
      );
    }
    c = Deno.createHttpClient(opts as Deno.CreateHttpClientOptions);
    this.#clients.set(peer.reuseKey, c);
    return c;
  }

  /** Sends one request through `fetch`; see the class documentation. */
  async request(
    peer: HttpPeer,
    head: RequestHead,
    body: RequestBody,
    options: RequestOptions = {},
  ): Promise<UpstreamResponse> {
    const t0 = coarseNow();
    const o = peer.options;
    const readTimeout = o.readTimeout ?? PEER_DEFAULTS.readTimeout;
    const headTimeout = (o.totalConnectTimeout ?? PEER_DEFAULTS.totalConnectTimeout) + readTimeout;
    const user = options.signal;
    if (user?.aborted) {
      throw new ProxyError("ABORTED", "Cannot send request: aborted", { source: "downstream" });
    }
    const client = this.#client(peer);
    // fetch hides connection reuse: the head may still change here, and
    // `reused` is reported as false.
    await options.beforeSend?.(false);
    const ctl = new AbortController();
    const onAbort = () =>
      ctl.abort(
        new ProxyError("ABORTED", "Cannot complete request: aborted", { source: "downstream" }),
      );
    user?.addEventListener("abort", onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() =>
        ctl.abort(
          new ProxyError("READ_TIMEOUT", `Cannot ${what} from ${peer.address}: timed out`, {
            source: "upstream",
          }),
        ), ms);
    };
    const done = () => {
      clearTimeout(timer);
      user?.removeEventListener("abort", onAbort);
    };
    let headers: Headers;
    try {
      headers = new Headers(head.headers);
      if (!headers.has("host")) headers.set("host", peer.authority);
    } catch (err) {
      done();
      throw new ProxyError("INVALID_REQUEST", `Cannot send request: ${err}`, { cause: err });
    }
    const host = peer.addr.transport === "tcp" ? peer.addr.hostname : "localhost";
    const port = peer.addr.transport === "tcp" ? peer.addr.port : 80;
    const hostPart = host.includes(":") ? `[${host}]` : host;
    const url = `${peer.tls ? "https" : "http"}://${hostPart}:${port}${head.path}`;
    const init: RequestInit & { client: Deno.HttpClient; duplex?: "half" } = {
      method: head.method,
      headers,
      redirect: "manual",
      client,
      signal: ctl.signal,
    };
    if (body !== null) {
      init.body = body as BodyInit;
      if (!(body instanceof Uint8Array)) init.duplex = "half";
    }
    arm(headTimeout, "receive a response head");
    let res: Response;
    try {
      res = await fetch(url, init);
    } catch (err) {
      done();
      if (ctl.signal.aborted && ctl.signal.reason instanceof ProxyError) throw ctl.signal.reason;
      throw classify(err, peer);
    }
    const responseHead = coarseNow() - t0;
    const out: HeaderPairs = [];
    const enc = res.headers.get("content-encoding");
    const decoded = enc !== null &&
      enc.split(",").some((c) => DECODED.has(c.trim().toLowerCase()));
    for (const [k, v] of res.headers) {
      if (decoded && (k === "content-encoding" || k === "content-length")) continue;
      out.push([k, v]);
    }
    let stream: ReadableStream<Uint8Array> | null = null;
    const src = res.body;
    if (src === null || !responseHasBody(head.method, res.status)) {
      src?.cancel().catch(() => {});
      done();
    } else {
      const reader = src.getReader();
      stream = new ReadableStream<Uint8Array>({
        async pull(c) {
          arm(readTimeout, "read the body");
          try {
            const { done: end, value } = await reader.read();
            clearTimeout(timer);
            if (end) {
              done();
              c.close();
            } else c.enqueue(value);
          } catch (err) {
            done();
            if (ctl.signal.aborted && ctl.signal.reason instanceof ProxyError) {
              throw ctl.signal.reason;
            }
            throw classify(err, peer);
          }
        },
        cancel(reason) {
          done();
          return reader.cancel(reason);
        },
      }, { highWaterMark: 0 });
      clearTimeout(timer);
    }
    return {
      status: res.status,
      statusText: res.statusText,
      headers: out,
      body: stream,
      trailers: EMPTY_TRAILERS,
      reused: false,
      timing: { connected: 0, responseHead, start: t0 },
    };
  }

  /** Closes every HTTP client (and with it the idle connections). */
  close(): Promise<void> {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    return Promise.resolve();
  }

  /** Same as {@linkcode FetchConnector.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
