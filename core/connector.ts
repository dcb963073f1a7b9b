/**
 * The upstream connector contract: send one HTTP request to a peer, get its
 * response head and a streamed body back.
 *
 * Implementations: `H1Connector` (our own HTTP/1.1 over `Deno.connect` /
 * `Deno.connectTls` with a connection pool) and `FetchConnector` (`fetch` +
 * `Deno.createHttpClient`, for HTTP/2 upstreams).
 *
 * @module
 */

import type { HeaderMap } from "./http_header.ts";
import type { HttpPeer } from "./peer.ts";

/**
 * Header fields in order, names as written. Names compare case-insensitively;
 * repeated names are repeated entries.
 */
export type HeaderPairs = [name: string, value: string][];

/** The request head sent upstream. */
export interface RequestHead {
  /** Request method, e.g. `GET`. */
  method: string;
  /** Origin-form target: path and query, e.g. `/a?b=1`. */
  path: string;
  /** Fields in order. The connector adds `Host` only when absent. */
  headers: HeaderPairs;
  /**
   * The same fields as a `HeaderMap`, when the caller has one. `H1Connector`
   * then copies the fields still as parsed (`HeaderMap.raw`, trusted as a
   * parser's output) instead of checking and encoding each one, and leaves
   * `headers` alone (reading it would make the strings of every field).
   */
  readonly headerMap?: HeaderMap;
}

/** A request body: bytes, a stream, or none. */
export type RequestBody = Uint8Array | ReadableStream<Uint8Array> | null;

/**
 * Timing of one upstream exchange, in milliseconds since the request started.
 * Cirque's connectors read `coarseNow()` (`@cirque/core/deadline`: `performance.now()` cached
 * for about a millisecond, as nginx caches its time per event-loop turn), so
 * the resolution is about 1 ms: a precise read is an op of about 150 ns, and
 * four per request cost a fast proxy 2–3% of its throughput.
 */
export interface ExchangeTiming {
  /** Time until a connection was ready (0 for a reused one). */
  connected: number;
  /** Time until the response head was parsed. */
  responseHead: number;
  /** When the request started (the `coarseNow()` clock), if the connector reports it. */
  start?: number;
}

/** A response head from an upstream and its body. */
export interface UpstreamResponse {
  /** Status code. */
  status: number;
  /** Reason phrase as sent. */
  statusText: string;
  /** Fields in order, as sent (hop-by-hop fields included; the proxy strips them). */
  headers: HeaderPairs;
  /**
   * The body, streamed with back-pressure, or `null` when the response has none
   * (HEAD, 1xx, 204, 304). The connection returns to the pool once it is read
   * to the end; cancelling it discards the connection. Always read it to the
   * end or cancel it: until then the connection stays busy.
   */
  body: ReadableStream<Uint8Array> | null;
  /** Trailer fields of a chunked body; resolves after the body ends (empty if none). */
  trailers: Promise<HeaderPairs>;
  /**
   * After a `101 Switching Protocols`: the client-to-upstream direction of the
   * tunnel (`body` is the other direction). Closing or aborting it closes the
   * upstream connection. Absent for every other status.
   */
  upgrade?: WritableStream<Uint8Array>;
  /** Whether the request went over a pooled (reused) connection. */
  reused: boolean;
  /** Timing of the exchange. */
  timing: ExchangeTiming;
}

/**
 * What connectors use of an `AbortSignal`: an `AbortSignal` is one, and so is
 * the lighter {@linkcode AbortLink}.
 */
export interface AbortLike {
  /** Whether it fired. */
  readonly aborted: boolean;
  /** The reason it fired with. */
  readonly reason: unknown;
  /** Calls `listener` (once) when it fires; not if it fired already. */
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  /** Forgets `listener`. */
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * An {@linkcode AbortLike} without `EventTarget`: function listeners only, no
 * events. The proxy engine passes one to the connector for each request whose
 * client the transport watches; creating an `AbortController` and listening
 * on its signal cost about 5% of the fast path's throughput, this almost
 * nothing.
 *
 * @example
 * ```ts
 * import { AbortLink } from "@cirque/core/connector";
 * import assert from "node:assert/strict";
 *
 * const link = new AbortLink();
 * let calls = 0;
 * link.addEventListener("abort", () => calls++);
 * link.abort(new Error("client went away"));
 * link.abort(new Error("again"));
 * assert.equal(calls, 1);
 * assert.equal((link.reason as Error).message, "client went away");
 * ```
 */
export class AbortLink implements AbortLike {
  aborted = false;
  reason: unknown = undefined;
  // The first listener in a field (the usual case: one exchange listens), more in an array.
  #first: (() => void) | null = null;
  #more: (() => void)[] | null = null;

  /** Calls `listener` once when {@linkcode AbortLink.abort} runs; not if it ran already. */
  addEventListener(_type: "abort", listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    if (this.#first === null && this.#more === null) this.#first = listener;
    else (this.#more ??= []).push(listener);
  }

  /** Forgets `listener` (its first registration). */
  removeEventListener(_type: "abort", listener: () => void): void {
    if (this.#first === listener) {
      this.#first = null;
      return;
    }
    const l = this.#more;
    if (l === null) return;
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
  }

  /** Fires once: sets `aborted` and `reason`, then calls the listeners in order. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const first = this.#first;
    const more = this.#more;
    this.#first = null;
    this.#more = null;
    if (first !== null) first();
    if (more !== null) { for (const f of more) f(); }
  }
}

/** Options of one {@linkcode Connector.request} call. */
export interface RequestOptions {
  /**
   * Aborts the exchange: pending connect, write, read and body stream. An
   * `AbortSignal` or an {@linkcode AbortLink}.
   */
  signal?: AbortLike;
  /**
   * Called for each interim (1xx other than 101) response, e.g. 103 Early Hints.
   * `100 Continue` is consumed unless this is set.
   */
  onInformational?: (status: number, headers: HeaderPairs) => void;
  /**
   * Awaited once a connection is ready and before the request head is written,
   * with whether the connection was reused from the pool. The head may still be
   * changed in it (the proxy runs `connectedToUpstream` and
   * `upstreamRequestFilter` here). If it throws, the connection goes back to the
   * pool untouched and `request` rejects with that error.
   */
  beforeSend?: (reused: boolean) => void | Promise<void>;
}

/** Anything that can carry a request to an {@linkcode HttpPeer}. */
export interface Connector {
  /**
   * Sends `head` and `body` to `peer` and resolves with the response head once
   * it has arrived. Rejects with a `ProxyError`: connect errors (nothing was
   * sent) with a `CONNECT_*` or `TLS_HANDSHAKE` code; after connecting, only a
   * reused connection that the upstream closed or reset before any response
   * byte is marked `retryable` (the proxy retries nothing else it sent).
   */
  request(
    peer: HttpPeer,
    head: RequestHead,
    body: RequestBody,
    options?: RequestOptions,
  ): Promise<UpstreamResponse>;
  /** Closes idle connections and releases resources. */
  close(): Promise<void>;
}

/**
 * Returns the first value of header `name` (case-insensitive), or `null`.
 *
 * @example
 * ```ts
 * import { getHeader } from "@cirque/core/connector";
 * import assert from "node:assert/strict";
 *
 * assert.equal(getHeader([["Content-Type", "text/plain"]], "content-type"), "text/plain");
 * ```
 */
export function getHeader(headers: HeaderPairs, name: string): string | null {
  const lower = name.toLowerCase();
  for (const [k, v] of headers) {
    if (k.length === lower.length && k.toLowerCase() === lower) return v;
  }
  return null;
}
