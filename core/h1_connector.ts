/**
 * `H1Connector`: our own HTTP/1.1 client over `Deno.connect` /
 * `Deno.connectTls`, with a connection pool, strict response parsing,
 * streaming with back-pressure both ways and per-operation timeouts.
 *
 * @module
 */

import type {
  AbortLike,
  Connector,
  ExchangeTiming,
  HeaderPairs,
  RequestBody,
  RequestHead,
  RequestOptions,
  UpstreamResponse,
} from "./connector.ts";
import { abortedError } from "./_connect_error.ts";
import { TCHAR as TOKEN_BYTES, VCHAR as VALUE_BYTES } from "./_byte_classes.ts";
import { coarseNow } from "./deadline.ts";
import { ProxyError } from "./error.ts";
import { HeaderMap, isFieldName, type RawFields } from "./http_header.ts";
import { BufferPool } from "./buffers.ts";
import { H1_READ_BUFFER_SIZE, H1Connection, type H1OpenOptions } from "./h1_connection.ts";
import {
  ChunkedDecoder,
  fieldLinesLength,
  findHeadEnd,
  HttpParseError,
  MAX_HEAD_BYTES,
  parseDecimalLength,
  type ParsedResponseFields,
  parseResponseFields,
  responseHasBody,
  writeFieldLines,
} from "./h1_parse.ts";
import { type HttpPeer, PEER_DEFAULTS } from "./peer.ts";
import { ConnectionPool, type PoolStats } from "./pool.ts";

// Module-level copies of the shared byte classes: V8 loads these like tables
// defined here, where each use of an imported binding adds a check (about 300
// instructions per proxied request across the parser and the connector).
const TCHAR = TOKEN_BYTES;
const VCHAR = VALUE_BYTES;

/** Options of {@linkcode H1Connector}. */
export interface H1ConnectorOptions {
  /**
   * Most idle connections kept over all peers (LRU eviction).
   * @default {128}
   */
  maxIdle?: number;
  /**
   * Largest response head in bytes.
   * @default {65536}
   */
  maxHeadBytes?: number;
  /**
   * Most response header fields.
   * @default {200}
   */
  maxFields?: number;
  /**
   * Custom layer-4 dialer (see {@linkcode H1OpenOptions.dial}).
   * @default {Deno.connect}
   */
  dial?: H1OpenOptions["dial"];
}

/**
 * A pull reader of a response body that needs no `ReadableStream` (the proxy's
 * HTTP/1.1 fast path). A chunk is a view into the connection's read buffer,
 * valid only until the next `read()` or `cancel()`. Read it to the end
 * (`null`) or cancel it: until then the connection stays busy.
 *
 * @example
 * ```ts
 * import { H1Connector } from "@cirque/core/h1";
 * import { HttpPeer } from "@cirque/core/peer";
 * import assert from "node:assert/strict";
 *
 * await using origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response("hello"));
 * await using connector = new H1Connector();
 * const peer = new HttpPeer(`127.0.0.1:${origin.addr.port}`);
 * const res = await connector.request(peer, { method: "GET", path: "/", headers: [] }, null, {
 *   bodySource: true,
 * });
 * let chunk = res.source!.read();
 * if (chunk instanceof Promise) chunk = await chunk;
 * assert.equal(new TextDecoder().decode(chunk!), "hello");
 * assert.equal(res.source!.read(), null); // the end: the connection goes back to the pool
 * ```
 */
export interface H1BodySource {
  /** The next chunk (valid until the next call), or `null` at the end. */
  read(): Promise<Uint8Array | null> | Uint8Array | null;
  /** Stops reading; the connection is pooled only if the body was complete. */
  cancel(reason?: unknown): void;
  /**
   * True: the bytes in front of a chunk in the connection's buffer (from 0 to
   * `chunk.byteOffset`) are spent (the response head, chunk framing), and the
   * caller may overwrite them until the next `read()`, e.g. to send its own
   * head and the body's first bytes in one write without copying the body.
   */
  readonly spareFront: boolean;
}

/**
 * {@linkcode RequestOptions} with the H1-specific switches; see
 * {@linkcode H1BodySource} for an example.
 *
 * @example
 * ```ts
 * import type { H1RequestOptions } from "@cirque/core/h1";
 * const options: H1RequestOptions = { bodySource: true };
 * console.log(options.bodySource);
 * ```
 */
export interface H1RequestOptions extends RequestOptions {
  /**
   * Offer the body as {@linkcode H1UpstreamResponse.source} (no stream, no
   * copies); `body` then becomes a stream made from it on first read.
   * Not for `101` responses.
   * @default {false}
   */
  bodySource?: boolean;
}

/**
 * The response of {@linkcode H1Connector.request}; see {@linkcode H1BodySource}
 * for an example.
 *
 * @example
 * ```ts
 * import type { H1UpstreamResponse } from "@cirque/core/h1";
 * const hasSource = (r: H1UpstreamResponse) => r.source != null;
 * console.log(typeof hasSource);
 * ```
 */
export interface H1UpstreamResponse extends UpstreamResponse {
  /** With `bodySource`: the body as a pull source, or `null` when there is none. */
  source?: H1BodySource | null;
  /**
   * With `bodySource`: the fields as parsed, for {@linkcode HeaderMap.fromRaw}
   * (`headers` makes their strings on first use).
   */
  fields?: RawFields;
}

const EMPTY_SOURCE: H1BodySource = {
  read: () => null,
  cancel: () => {},
  spareFront: true,
};

/** A response whose `body` stream is made from its source on first read. */
class SourceResponse implements H1UpstreamResponse {
  status: number;
  statusText: string;
  readonly fields: RawFields;
  #headers: HeaderPairs | null = null;
  trailers: Promise<HeaderPairs> = EMPTY_TRAILERS;
  reused: boolean;
  timing: ExchangeTiming;
  source: H1BodySource | null = null;
  #body: ReadableStream<Uint8Array> | null = null;

  constructor(
    status: number,
    statusText: string,
    fields: RawFields,
    reused: boolean,
    timing: ExchangeTiming,
  ) {
    this.status = status;
    this.statusText = statusText;
    this.fields = fields;
    this.reused = reused;
    this.timing = timing;
  }

  get headers(): HeaderPairs {
    return this.#headers ??= HeaderMap.fromRaw(this.fields).pairs;
  }

  set headers(headers: HeaderPairs) {
    this.#headers = headers;
  }

  get body(): ReadableStream<Uint8Array> | null {
    const src = this.source;
    if (src !== null) {
      this.source = null;
      this.#body = new ReadableStream<Uint8Array>({
        async pull(c) {
          let r = src.read();
          if (r instanceof Promise) r = await r;
          if (r === null) c.close();
          else c.enqueue((r as Uint8Array).slice());
        },
        cancel(reason) {
          src.cancel(reason);
        },
      }, { highWaterMark: 0 });
    }
    return this.#body;
  }

  set body(b: ReadableStream<Uint8Array> | null) {
    this.source = null;
    this.#body = b;
  }
}

const ENC = new TextEncoder();
const CRLF = new Uint8Array([13, 10]);
const LAST_CHUNK = ENC.encode("0\r\n\r\n");
const EMPTY_TRAILERS: Promise<HeaderPairs> = Promise.resolve([]);
/** Bodies up to this size go out in the same write as the head. */
const SMALL_BODY = 8192;
/**
 * Interim (1xx) responses accepted before the final one; one more is
 * `INVALID_RESPONSE` (an origin that never stops sending them would keep the
 * exchange reading forever, each read within its timeout). Go's net/http
 * allows 5, CPython's http.client 100; 32 leaves room for `102 Processing`
 * and `103 Early Hints` in practice.
 */
const MAX_INTERIM_RESPONSES = 32;
/** Scratch taken for a request head, plus an inline small body (a larger head grows it). */
const HEAD_SCRATCH = 4096;
/** Scratch for request-body chunk frames; a larger chunk goes out in three writes. */
const FRAME_SCRATCH = 16384;

function invalidRequest(message: string): ProxyError {
  return new ProxyError("INVALID_REQUEST", `Cannot send request: ${message}`, {
    source: "internal",
  });
}

function invalidResponse(message: string, peer: string, cause?: unknown): ProxyError {
  return new ProxyError("INVALID_RESPONSE", `Invalid response from ${peer}: ${message}`, {
    source: "upstream",
    cause,
    context: { peer },
  });
}

/** How the request body is framed on the wire. */
interface RequestFraming {
  /** Encoded head, possibly followed by a small body, in one array. */
  bytes: Uint8Array;
  /** The buffer `bytes` views: back to the connector's pool once written. */
  scratch: Uint8Array;
  /** Whether the request asks to close the connection. */
  close: boolean;
  /** Declared Content-Length of a stream body, or -1 for chunked. */
  streamLength: number;
  /** Whether `bytes` already carries the whole body. */
  bodyInline: boolean;
}

/** Writes request-head text byte for byte (every accepted character is Latin-1). */
class HeadWriter {
  out: Uint8Array;
  p = 0;
  constructor(out: Uint8Array) {
    this.out = out;
  }
  ensure(n: number): void {
    if (this.p + n <= this.out.length) return;
    const next = new Uint8Array(Math.max(this.out.length * 2, this.p + n + 1024));
    next.set(this.out.subarray(0, this.p));
    this.out = next;
  }
  put(s: string): void {
    const l = s.length;
    this.ensure(l + 4);
    const out = this.out;
    let p = this.p;
    for (let i = 0; i < l; i++) out[p++] = s.charCodeAt(i);
    this.p = p;
  }
  /**
   * Writes `s` if each of its characters is allowed by `table` (1 in a byte
   * class table); returns false otherwise. Checks and copies in one pass.
   */
  putIf(s: string, table: Uint8Array): boolean {
    const l = s.length;
    this.ensure(l + 4);
    const out = this.out;
    let p = this.p;
    for (let i = 0; i < l; i++) {
      const c = s.charCodeAt(i);
      if (c > 255 || table[c] === 0) return false;
      out[p++] = c;
    }
    this.p = p;
    return true;
  }
  crlf(): void {
    this.out[this.p++] = 13;
    this.out[this.p++] = 10;
  }
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || VCHAR[c] === 0) return false;
  }
  return true;
}

function isTarget(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** What the fields of a request head say about its framing, gathered while they are written. */
class FieldFacts {
  hasHost = false;
  /** Content-Length, or -1. */
  declared = -1;
  close = false;

  /**
   * Notes a Host, Connection, Content-Length or Transfer-Encoding field;
   * returns false for a framing field (Content-Length, Transfer-Encoding),
   * which is not written: the connector frames the body.
   */
  note(name: string, value: string): boolean {
    const l = name.length;
    if (l === 4) {
      if (isFieldName(name, "host")) this.hasHost = true;
    } else if (l === 10) {
      if (isFieldName(name, "connection") && /(^|[\s,])close($|[\s,])/i.test(value)) {
        this.close = true;
      }
    } else if (l === 14) {
      if (isFieldName(name, "content-length")) {
        if (!isFieldValue(value)) throw invalidRequest(`field "${name}" has an invalid value`);
        const n = parseDecimalLength(value);
        if (n < 0) throw invalidRequest(`Content-Length "${value}"`);
        if (this.declared !== -1 && this.declared !== n) {
          throw invalidRequest("conflicting Content-Length");
        }
        this.declared = n;
        return false;
      }
    } else if (l === 17) {
      if (isFieldName(name, "transfer-encoding")) {
        if (!isFieldValue(value)) throw invalidRequest(`field "${name}" has an invalid value`);
        return false;
      }
    }
    return true;
  }
}

/** Notes and writes one field given as strings, checked while copied. */
function putField(w: HeadWriter, f: FieldFacts, name: string, value: string): void {
  if (!f.note(name, value)) return;
  // A name must be a token, a value Latin-1 without controls (no CR, LF or
  // NUL: no request splitting).
  if (name.length === 0 || !w.putIf(name, TCHAR)) {
    throw invalidRequest(`field name "${name}" is not a token`);
  }
  w.out[w.p++] = 58;
  w.out[w.p++] = 32;
  if (!w.putIf(value, VCHAR)) throw invalidRequest(`field "${name}" has an invalid value`);
  w.crlf();
}

/** `raw` without the fields at the indices in `skip` (ascending). */
function without(raw: RawFields, skip: number[]): RawFields {
  const o = raw.offsets;
  const kept: number[] = [];
  for (let i = 0, k = 0; 4 * i < o.length; i++) {
    if (skip[k] === i) {
      k++;
      continue;
    }
    kept.push(o[4 * i]!, o[4 * i + 1]!, o[4 * i + 2]!, o[4 * i + 3]!);
  }
  return raw.buf === undefined
    ? { text: raw.text, offsets: kept }
    : { text: raw.text, offsets: kept, buf: raw.buf, base: raw.base ?? 0 };
}

/**
 * Encodes the head (and a small body) into `out` or, when it does not fit, a
 * larger new array, byte for byte: validation and encoding in one pass, no
 * intermediate string.
 */
function encodeRequest(
  out: Uint8Array,
  peer: HttpPeer,
  head: RequestHead,
  body: RequestBody,
): RequestFraming {
  const method = head.method;
  if (!isToken(method)) throw invalidRequest(`method "${method}" is not a token`);
  const path = head.path;
  if (!isTarget(path)) throw invalidRequest(`target "${path}" is invalid`);
  if (method === "CONNECT") throw invalidRequest("CONNECT is not supported");
  const w = new HeadWriter(out);
  w.put(method);
  w.out[w.p++] = 32;
  w.put(path);
  w.put(" HTTP/1.1\r\n");
  const f = new FieldFacts();
  const map = head.headerMap;
  const raw = map === undefined ? null : map.raw;
  if (map !== undefined && raw !== null) {
    // Fields as parsed: the parser checked them; their lines are copied, all
    // but the framing fields (the connector writes its own).
    const n = raw.offsets.length >> 2;
    let skip: number[] | null = null;
    for (let i = 0; i < n; i++) {
      // By length and name first: no string is made of a field that says nothing.
      const l = map.nameLengthAt(i);
      if (l === 4) {
        if (map.nameIs(i, "host")) f.hasHost = true;
      } else if (
        (l === 10 && map.nameIs(i, "connection")) ||
        (l === 14 && map.nameIs(i, "content-length")) ||
        (l === 17 && map.nameIs(i, "transfer-encoding"))
      ) {
        if (!f.note(map.nameAt(i), map.valueAt(i))) (skip ??= []).push(i);
      }
    }
    const lines = skip === null ? raw : without(raw, skip);
    w.ensure(fieldLinesLength(lines));
    w.p = writeFieldLines(w.out, w.p, lines, true);
    const tail = map.tail;
    for (let i = 0; i < tail.length; i++) putField(w, f, tail[i]![0], tail[i]![1]);
  } else {
    const headers = head.headers;
    for (let i = 0; i < headers.length; i++) putField(w, f, headers[i]![0], headers[i]![1]);
  }
  const { hasHost, declared, close } = f;
  if (!hasHost) {
    w.put("Host: ");
    w.put(peer.authority);
    w.crlf();
  }
  let streamLength = -1;
  let inline: Uint8Array | null = null;
  if (body === null) {
    if (declared > 0) throw invalidRequest(`Content-Length ${declared} without a body`);
    if (declared === 0 || method === "POST" || method === "PUT" || method === "PATCH") {
      w.put("Content-Length: 0\r\n");
    }
  } else if (body instanceof Uint8Array) {
    if (declared !== -1 && declared !== body.length) {
      throw invalidRequest(`Content-Length ${declared} but a body of ${body.length} bytes`);
    }
    w.put("Content-Length: " + body.length + "\r\n");
    if (body.length <= SMALL_BODY) inline = body;
  } else if (declared !== -1) {
    w.put("Content-Length: " + declared + "\r\n");
    streamLength = declared;
  } else {
    w.put("Transfer-Encoding: chunked\r\n");
  }
  w.put("\r\n");
  if (inline !== null) {
    w.ensure(inline.length);
    w.out.set(inline, w.p);
    w.p += inline.length;
  }
  return {
    bytes: w.out.subarray(0, w.p),
    scratch: w.out,
    close,
    streamLength,
    bodyInline: body === null || inline !== null,
  };
}

/** A request waiting for a connection to a peer at its `maxConnections`. */
interface Waiter {
  /** Only a new connection will do (a retry after a stale pooled one). */
  fresh: boolean;
  /** Ends the wait: a released connection, or `null` for a slot to open a new one in. */
  grant(conn: H1Connection | null): void;
  /** Ends the wait with an error. */
  fail(e: ProxyError): void;
}

/** Open connections (or connects under way) of one limited peer, and who waits. */
interface Limit {
  open: number;
  waiters: Waiter[];
}

/** Queues for a connection to a peer at its limit, bounded by its `connectTimeout` and `signal`. */
function waitForConnection(
  peer: HttpPeer,
  lim: Limit,
  max: number,
  signal: AbortLike | undefined,
  fresh: boolean,
): Promise<H1Connection | null> {
  return new Promise((resolve, reject) => {
    const ms = peer.options.connectTimeout ?? PEER_DEFAULTS.connectTimeout;
    const end = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const w: Waiter = {
      fresh,
      grant(conn) {
        end();
        resolve(conn);
      },
      fail(e) {
        const i = lim.waiters.indexOf(w);
        if (i >= 0) lim.waiters.splice(i, 1);
        end();
        reject(e);
      },
    };
    const onAbort = () => w.fail(abortedError(peer));
    const timer = setTimeout(() =>
      w.fail(
        new ProxyError(
          "CONNECT_TIMEOUT",
          `Cannot connect to ${peer.address}: no connection free within ${ms} ms ` +
            `(maxConnections ${max})`,
          { source: "upstream", retryable: true, context: { peer: peer.address } },
        ),
      ), ms);
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    lim.waiters.push(w);
  });
}

/** State shared by the request-body pump and the response-body stream of one exchange. */
class Exchange {
  conn: H1Connection;
  /** Request body fully written. */
  written = false;
  /** The pump failed (its error). */
  pumpError: ProxyError | null = null;
  pump: Promise<void> | null = null;
  reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  finished = false;
  onAbort: (() => void) | null = null;
  signal: AbortLike | undefined;
  idleTimeout: number;
  maxIdle: number;

  constructor(conn: H1Connection, peer: HttpPeer) {
    this.conn = conn;
    this.idleTimeout = peer.options.idleTimeout ?? PEER_DEFAULTS.idleTimeout;
    this.maxIdle = peer.options.maxIdlePerPeer ?? PEER_DEFAULTS.maxIdlePerPeer;
  }
}

/**
 * Ends an exchange (`ok`: the connection may be pooled). Given the error that
 * ended a body read, returns the error to report instead
 * ({@linkcode readError}).
 */
type Finish = (ok: boolean, err?: unknown) => unknown;

/**
 * The error a failed response-body read reports: when the request-body pump
 * failed first (and closed the socket, which failed the read), the pump's
 * error, as for the response head; a timeout, an abort or an invalid
 * response stays itself.
 */
function readError(x: Exchange, err: unknown): unknown {
  const p = x.pumpError;
  if (p === null || !(err instanceof ProxyError)) return err;
  const code = err.code;
  return code === "INVALID_RESPONSE" || code === "READ_TIMEOUT" || code === "ABORTED" ? err : p;
}

/**
 * HTTP/1.1 to upstreams over `Deno.connect` / `Deno.connectTls` with pooled
 * keep-alive connections.
 *
 * - Request bodies: `Uint8Array` (Content-Length; up to 8 KiB sent in the
 *   same write as the head) or a stream (chunked, or raw when the head
 *   carries Content-Length, which is then enforced). The connector owns the
 *   framing: it drops a `Transfer-Encoding` field of `head` and adds `Host`
 *   when absent.
 * - Response bodies: Content-Length, chunked with trailers, or read until
 *   close; none for HEAD, 1xx, 204 and 304. The body stream pulls from the
 *   socket only when read (back-pressure); a connection returns to the pool
 *   only after the whole response was read and the whole request written.
 * - Strict RFC 9112 parsing (`@cirque/core/h1-parse`): any violation rejects
 *   with `INVALID_RESPONSE` and the connection is discarded.
 * - Timeouts from the peer's options bound every connect, read and write, and
 *   close the socket when they fire; `signal` aborts the exchange at any time.
 * - `maxConnections` in the peer's options bounds the connections open to
 *   it at once; a request beyond it waits in a FIFO queue for a released
 *   connection (at most `connectTimeout`, then `CONNECT_TIMEOUT`).
 * - A reused connection that turns out closed before any response byte
 *   arrived is retried once on a fresh connection when the request body can
 *   be replayed (none or bytes); otherwise the error is `CONNECTION_CLOSED`
 *   with `retryable: true`.
 *
 * @example
 * ```ts
 * import { H1Connector } from "@cirque/core/h1";
 * import { HttpPeer } from "@cirque/core/peer";
 * import assert from "node:assert/strict";
 *
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("hello"));
 * await using connector = new H1Connector();
 * const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`);
 * const res = await connector.request(peer, { method: "GET", path: "/", headers: [] }, null);
 * assert.equal(res.status, 200);
 * assert.equal(await new Response(res.body).text(), "hello");
 * ```
 */
export class H1Connector implements Connector {
  readonly #pool: ConnectionPool<H1Connection>;
  readonly #maxHead: number;
  readonly #limits: { maxHeadBytes: number; maxFields: number };
  readonly #dial: H1OpenOptions["dial"];
  /**
   * Every open connection it made, idle or in use, for close(): added once
   * per connection, not per request (a Set's table rebuilt per request lands
   * in V8's old space once the connector is long-lived).
   */
  readonly #conns = new Set<H1Connection>();
  /** Exchanges whose response ended while their request body was still being sent. */
  readonly #draining = new Set<Exchange>();
  /** Per reuse key of a peer with `maxConnections`: connections open or opening, and the queue. */
  readonly #limited = new Map<string, Limit>();
  #closing = false;
  /**
   * Scratch buffers for request heads and chunk frames, shared by all
   * connections: held only while a write reads from one, so an idle pooled
   * connection keeps none.
   */
  readonly #scratch = new BufferPool(2 * 1024 * 1024, 64 * 1024);

  /** Creates a connector with its own pool. */
  constructor(options: H1ConnectorOptions = {}) {
    this.#pool = new ConnectionPool({ maxIdle: options.maxIdle ?? 128 });
    this.#maxHead = options.maxHeadBytes ?? MAX_HEAD_BYTES;
    this.#limits = { maxHeadBytes: this.#maxHead, maxFields: options.maxFields ?? 200 };
    this.#dial = options.dial;
  }

  /** Pool counters: created, reused, evicted, closed by peer, … */
  get stats(): PoolStats {
    return this.#pool.stats;
  }

  /**
   * Low level, for a raw byte-piping fast path: a pooled connection to `peer`
   * (its `uses` is then above 1) or a new one; for a peer at its
   * `maxConnections`, one released by another request after a wait. The caller writes the request
   * bytes, reads the response through {@linkcode H1Connection.fill}, and must
   * hand the connection back with {@linkcode H1Connector.release}.
   *
   * @example
   * ```ts
   * import { H1Connector } from "@cirque/core/h1";
   * import { findHeadEnd, parseResponseHead } from "@cirque/core/h1-parse";
   * import { HttpPeer } from "@cirque/core/peer";
   * import assert from "node:assert/strict";
   *
   * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("raw"));
   * await using connector = new H1Connector();
   * const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`);
   * const conn = await connector.acquire(peer);
   * await conn.writeAll(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 1000);
   * let end = -1;
   * while ((end = findHeadEnd(conn.buf, conn.start, conn.end)) < 0) await conn.fill(1000);
   * const head = parseResponseHead(conn.buf, conn.start, end);
   * conn.start = end;
   * while (conn.end - conn.start < head.contentLength) await conn.fill(1000);
   * assert.equal(new TextDecoder().decode(conn.buf.subarray(conn.start, conn.end)), "raw");
   * conn.start = conn.end;
   * connector.release(peer, conn, true);
   * assert.equal(connector.stats.idle, 1);
   * ```
   */
  async acquire(peer: HttpPeer, options: { signal?: AbortLike } = {}): Promise<H1Connection> {
    const conn = this.#pool.take(peer.reuseKey) ?? await this.#obtain(peer, options.signal, false);
    conn.uses++;
    return conn;
  }

  /**
   * A connection when the pool had none: a new one, or, for a peer at its
   * `maxConnections`, one released by another request (or a slot to open a
   * new one) after waiting in the queue. `fresh` never takes a used one.
   */
  async #obtain(
    peer: HttpPeer,
    signal: AbortLike | undefined,
    fresh: boolean,
  ): Promise<H1Connection> {
    const max = peer.options.maxConnections;
    if (max === undefined) return await this.#open(peer, signal, null);
    const key = peer.reuseKey;
    let lim = this.#limited.get(key);
    if (lim === undefined) this.#limited.set(key, lim = { open: 0, waiters: [] });
    if (lim.open < max) lim.open++;
    else {
      const handed = await waitForConnection(peer, lim, max, signal, fresh);
      if (handed !== null) return handed;
      // Otherwise a closed connection's slot was passed on: open a new one in it.
    }
    return await this.#open(peer, signal, () => this.#slotFreed(key));
  }

  /** Opens a connection; `onClose` (a limited peer's slot) runs when it closes or fails to open. */
  async #open(
    peer: HttpPeer,
    signal: AbortLike | undefined,
    onClose: (() => void) | null,
  ): Promise<H1Connection> {
    const o: H1OpenOptions = {};
    if (signal) o.signal = signal;
    if (this.#dial) o.dial = this.#dial;
    if (this.#maxHead + 1024 > H1_READ_BUFFER_SIZE) o.bufferSize = this.#maxHead + 1024;
    let conn: H1Connection;
    try {
      conn = await H1Connection.open(peer, o);
    } catch (e) {
      onClose?.();
      throw e;
    }
    this.#pool.countCreated();
    this.#conns.add(conn);
    conn.onClose = onClose === null ? () => this.#conns.delete(conn) : () => {
      this.#conns.delete(conn);
      onClose();
    };
    // Closed while the connect finished (the connector shut down): free the slot now.
    if (this.#closing) conn.close();
    return conn;
  }

  /** A limited peer's connection closed (or failed to open): its slot goes to the next waiter. */
  #slotFreed(key: string): void {
    const lim = this.#limited.get(key);
    if (lim === undefined) return;
    const w = lim.waiters.shift();
    if (w !== undefined) w.grant(null);
    else if (--lim.open <= 0) this.#limited.delete(key);
  }

  /**
   * Gives a reusable connection back: straight to the first request waiting
   * for one (a limited peer's queue), otherwise to the pool. When only
   * requests that need a fresh connection wait, it is closed instead, so its
   * slot passes to the first of them.
   */
  #put(conn: H1Connection, idleTimeout: number, maxIdle: number): void {
    if (this.#limited.size !== 0 && idleTimeout > 0 && !this.#closing) {
      const lim = this.#limited.get(conn.reuseKey);
      if (lim !== undefined && lim.waiters.length !== 0 && conn.start === conn.end) {
        const i = lim.waiters.findIndex((w) => !w.fresh);
        if (i < 0) {
          conn.close(); // its onClose (#slotFreed) grants the first waiter a slot
          return;
        }
        const w = lim.waiters.splice(i, 1)[0]!;
        conn.start = conn.end = 0;
        this.#pool.countReused();
        w.grant(conn);
        return;
      }
    }
    this.#pool.put(conn.reuseKey, conn, idleTimeout, maxIdle);
  }

  /**
   * Low level: ends the use of a connection from {@linkcode H1Connector.acquire}.
   * With `reusable` it goes back to the pool (dropped if bytes are left
   * unread), otherwise it is closed.
   */
  release(peer: HttpPeer, conn: H1Connection, reusable: boolean): void {
    if (!reusable || conn.closed) {
      conn.close();
      return;
    }
    this.#put(
      conn,
      peer.options.idleTimeout ?? PEER_DEFAULTS.idleTimeout,
      peer.options.maxIdlePerPeer ?? PEER_DEFAULTS.maxIdlePerPeer,
    );
  }

  /** Sends one request; see the class documentation. */
  async request(
    peer: HttpPeer,
    head: RequestHead,
    body: RequestBody,
    options: H1RequestOptions = {},
  ): Promise<H1UpstreamResponse> {
    const t0 = coarseNow();
    const signal = options.signal;
    if (signal?.aborted) {
      throw new ProxyError("ABORTED", "Cannot send request: aborted", { source: "downstream" });
    }
    let conn = this.#pool.take(peer.reuseKey);
    let reused = conn !== undefined;
    for (let attempt = 0;; attempt++) {
      if (conn === undefined) {
        // A retry (attempt 1) needs a fresh connection, never a used one.
        conn = await this.#obtain(peer, signal, attempt > 0);
        reused = conn.uses > 0;
      }
      const connected = reused ? 0 : coarseNow() - t0;
      if (options.beforeSend !== undefined) {
        try {
          const r = options.beforeSend(reused);
          if (r !== undefined) await r;
        } catch (e) {
          // Nothing was written; the connection is simply not used.
          conn.close();
          throw e;
        }
      }
      try {
        return await this.#exchange(conn, peer, head, body, options, reused, t0, connected);
      } catch (err) {
        const e = err instanceof ProxyError
          ? err
          : new ProxyError("INTERNAL", String(err), { cause: err });
        const replayable = body === null || body instanceof Uint8Array;
        if (reused && e.code === "CONNECTION_CLOSED" && e.context.responseBytes === 0) {
          if (replayable && attempt === 0) {
            conn = undefined; // retry on a FRESH connection, never another pooled one
            continue;
          }
          e.retryable = true;
        }
        throw e;
      }
    }
  }

  async #exchange(
    conn: H1Connection,
    peer: HttpPeer,
    head: RequestHead,
    body: RequestBody,
    options: H1RequestOptions,
    reused: boolean,
    t0: number,
    connected: number,
  ): Promise<UpstreamResponse> {
    const o = peer.options;
    const readTimeout = o.readTimeout ?? PEER_DEFAULTS.readTimeout;
    const writeTimeout = o.writeTimeout ?? PEER_DEFAULTS.writeTimeout;
    const x = new Exchange(conn, peer);
    conn.uses++;
    const signal = options.signal;
    if (signal) {
      x.signal = signal;
      // Captures only `conn`: a closure over `x` here keeps whole exchanges
      // reachable longer (about 6 MiB more peak RSS under load, bench/ab.sh).
      x.onAbort = conn.abortListener;
      // No `{ once: true }` (an options object to convert per request): a
      // signal aborts at most once, and #finish removes the listener.
      signal.addEventListener("abort", x.onAbort);
      // Aborted before the listener existed (during beforeSend or the connect):
      // the write below then fails with ABORTED and nothing is sent.
      if (signal.aborted) x.onAbort();
    }
    let framing: RequestFraming;
    const scratch = this.#scratch.take(
      body instanceof Uint8Array && body.length <= SMALL_BODY
        ? HEAD_SCRATCH + body.length
        : HEAD_SCRATCH,
    );
    try {
      framing = encodeRequest(scratch, peer, head, body);
    } catch (e) {
      this.#scratch.give(scratch);
      this.#finish(x, false);
      throw e;
    }
    let responseBytes = 0;
    try {
      try {
        await conn.writeAll(framing.bytes, writeTimeout);
      } finally {
        // The write completed or failed: nothing reads the buffer any more.
        this.#scratch.give(framing.scratch);
      }
      if (framing.bodyInline) x.written = true;
      else {
        x.pump = this.#pumpBody(x, body!, framing.streamLength, writeTimeout);
      }
      // Response head(s).
      let parsed: ParsedResponseFields;
      let interim = 0;
      for (;;) {
        let scanFrom = conn.start;
        let end: number;
        for (;;) {
          end = conn.end > conn.start ? findHeadEnd(conn.buf, scanFrom, conn.end) : -1;
          if (end >= 0) break;
          if (end === -2) throw new HttpParseError("bare-lf");
          const have = conn.end - conn.start;
          if (have >= this.#maxHead) throw new HttpParseError("head-too-large");
          const n = await conn.fill(readTimeout);
          if (n === 0) {
            if (responseBytes === 0) {
              throw new ProxyError(
                "CONNECTION_CLOSED",
                `Upstream ${peer.address} closed the connection before responding`,
                { source: "upstream", context: { peer: peer.address, responseBytes: 0 } },
              );
            }
            throw invalidResponse("connection closed inside the response head", peer.address);
          }
          responseBytes += n;
          scanFrom = Math.max(conn.start, conn.start + have - 3);
        }
        parsed = parseResponseFields(conn.buf, conn.start, end, this.#limits);
        conn.start = end;
        if (parsed.status >= 200 || parsed.status === 101) break;
        // Interim response (100 Continue, 103 Early Hints, …).
        if (parsed.contentLength > 0 || parsed.transferEncoding) {
          throw invalidResponse(`${parsed.status} response with a body`, peer.address);
        }
        if (++interim > MAX_INTERIM_RESPONSES) {
          throw invalidResponse(
            `more than ${MAX_INTERIM_RESPONSES} interim (1xx) responses`,
            peer.address,
          );
        }
        options.onInformational?.(parsed.status, HeaderMap.fromRaw(parsed.fields).pairs);
      }
      const keepAlive = !framing.close && !parsed.connectionClose &&
        (parsed.versionMinor >= 1 || parsed.connectionKeepAlive);
      const timing = { connected, responseHead: coarseNow() - t0, start: t0 };
      if (options.bodySource === true && parsed.status !== 101) {
        return this.#respondSource(x, peer, head, parsed, keepAlive, reused, timing, readTimeout);
      }
      return this.#respond(x, peer, head, parsed, keepAlive, reused, timing, readTimeout);
    } catch (err) {
      let e: ProxyError;
      if (err instanceof HttpParseError) e = invalidResponse(err.message, peer.address, err);
      else if (err instanceof ProxyError) e = err;
      else e = new ProxyError("INTERNAL", String(err), { cause: err });
      if (
        x.pumpError !== null && e.code !== "INVALID_RESPONSE" && e.code !== "READ_TIMEOUT" &&
        e.code !== "ABORTED"
      ) e = x.pumpError;
      if (e.code === "CONNECTION_CLOSED" && e.context.responseBytes === undefined) {
        e.context.responseBytes = responseBytes;
      }
      this.#finish(x, false);
      throw e;
    }
  }

  #respond(
    x: Exchange,
    peer: HttpPeer,
    req: RequestHead,
    h: ParsedResponseFields,
    keepAlive: boolean,
    reused: boolean,
    timing: ExchangeTiming,
    readTimeout: number,
  ): UpstreamResponse {
    const conn = x.conn;
    const res: UpstreamResponse = {
      status: h.status,
      statusText: h.reason,
      headers: HeaderMap.fromRaw(h.fields).pairs,
      body: null,
      trailers: EMPTY_TRAILERS,
      reused,
      timing,
    };
    const status = h.status;
    if (!responseHasBody(req.method, status)) {
      if (status === 101) {
        // Upgrade: hand out the raw byte streams; the connection is never pooled.
        res.body = this.#closeDelimited(x, peer, readTimeout);
        const writeTimeout = peer.options.writeTimeout ?? PEER_DEFAULTS.writeTimeout;
        res.upgrade = new WritableStream<Uint8Array>({
          write: (chunk) => conn.writeAll(chunk, writeTimeout),
          close: () => conn.close(),
          abort: () => conn.close(),
        });
        return res;
      }
      if (conn.start !== conn.end) {
        throw invalidResponse("bytes after a response without a body", peer.address);
      }
      this.#finish(x, keepAlive);
      return res;
    }
    if (h.chunked) {
      let resolveTrailers!: (t: HeaderPairs) => void;
      res.trailers = new Promise((r) => resolveTrailers = r);
      res.body = this.#chunked(x, peer, keepAlive, readTimeout, resolveTrailers);
      return res;
    }
    if (h.contentLength >= 0) {
      const cl = h.contentLength;
      const buffered = conn.end - conn.start;
      if (buffered >= cl) {
        // The whole body is here: copy it and release the connection now.
        if (buffered > cl) {
          throw invalidResponse("bytes after a complete body", peer.address);
        }
        const bytes = conn.buf.slice(conn.start, conn.end);
        conn.start = conn.end;
        this.#finish(x, keepAlive);
        res.body = cl === 0 ? emptyStream() : new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(bytes);
            c.close();
          },
        });
        return res;
      }
      res.body = this.#fixed(x, peer, cl, keepAlive, readTimeout);
      return res;
    }
    res.body = this.#closeDelimited(x, peer, readTimeout);
    return res;
  }

  /** Like {@linkcode H1Connector.#respond}, with the body as a pull source. */
  #respondSource(
    x: Exchange,
    peer: HttpPeer,
    req: RequestHead,
    h: ParsedResponseFields,
    keepAlive: boolean,
    reused: boolean,
    timing: ExchangeTiming,
    readTimeout: number,
  ): H1UpstreamResponse {
    const conn = x.conn;
    const res = new SourceResponse(h.status, h.reason, h.fields, reused, timing);
    if (!responseHasBody(req.method, h.status)) {
      if (conn.start !== conn.end) {
        throw invalidResponse("bytes after a response without a body", peer.address);
      }
      this.#finish(x, keepAlive);
      return res;
    }
    const fin: Finish = (ok, err) => {
      this.#finish(x, ok);
      return readError(x, err);
    };
    if (h.chunked) {
      let resolveTrailers!: (t: HeaderPairs) => void;
      res.trailers = new Promise((r) => resolveTrailers = r);
      res.source = new ChunkedSource(
        conn,
        h.fields,
        peer.address,
        keepAlive,
        readTimeout,
        fin,
        resolveTrailers,
      );
      return res;
    }
    if (h.contentLength >= 0) {
      const cl = h.contentLength;
      const buffered = conn.end - conn.start;
      if (buffered > cl) {
        throw invalidResponse("bytes after a complete body", peer.address);
      }
      if (cl === 0) {
        this.#finish(x, keepAlive);
        res.source = EMPTY_SOURCE;
        return res;
      }
      res.source = new FixedSource(conn, h.fields, peer.address, cl, keepAlive, readTimeout, fin);
      return res;
    }
    res.source = new CloseSource(conn, h.fields, readTimeout, fin);
    return res;
  }

  #fixed(
    x: Exchange,
    peer: HttpPeer,
    length: number,
    keepAlive: boolean,
    readTimeout: number,
  ): ReadableStream<Uint8Array> {
    const conn = x.conn;
    let remaining = length;
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          const buffered = conn.end - conn.start;
          if (buffered > 0) {
            const k = Math.min(buffered, remaining);
            c.enqueue(conn.buf.slice(conn.start, conn.start + k));
            conn.start += k;
            remaining -= k;
          } else {
            const chunk = new Uint8Array(Math.min(remaining, 65536));
            const n = await conn.readInto(chunk, readTimeout);
            if (n === 0) {
              throw new ProxyError(
                "CONNECTION_CLOSED",
                `Upstream ${peer.address} closed the connection ${remaining} bytes before the end of the body (Content-Length ${length})`,
                { source: "upstream", context: { peer: peer.address } },
              );
            }
            remaining -= n;
            c.enqueue(n === chunk.length ? chunk : chunk.subarray(0, n));
          }
          if (remaining === 0) {
            if (conn.start !== conn.end) {
              throw invalidResponse("bytes after a complete body", peer.address);
            }
            this.#finish(x, keepAlive);
            c.close();
          }
        } catch (err) {
          this.#finish(x, false);
          throw readError(x, err);
        }
      },
      cancel: () => this.#finish(x, false),
    }, { highWaterMark: 0 });
  }

  #chunked(
    x: Exchange,
    peer: HttpPeer,
    keepAlive: boolean,
    readTimeout: number,
    resolveTrailers: (t: HeaderPairs) => void,
  ): ReadableStream<Uint8Array> {
    const conn = x.conn;
    const dec = new ChunkedDecoder();
    const fail = (err: unknown) => {
      resolveTrailers([]);
      this.#finish(x, false);
      if (err instanceof HttpParseError) throw invalidResponse(err.message, peer.address, err);
      throw readError(x, err);
    };
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          for (;;) {
            if (conn.start < conn.end) {
              conn.start = dec.decode(conn.buf, conn.start, conn.end);
              if (dec.dataEnd > dec.dataStart) {
                c.enqueue(conn.buf.slice(dec.dataStart, dec.dataEnd));
                return;
              }
              if (dec.done) {
                if (conn.start !== conn.end) {
                  throw invalidResponse("bytes after a complete body", peer.address);
                }
                this.#finish(x, keepAlive);
                resolveTrailers(dec.trailers);
                c.close();
                return;
              }
            }
            const n = await conn.fill(readTimeout);
            if (n === 0) {
              throw new ProxyError(
                "CONNECTION_CLOSED",
                `Upstream ${peer.address} closed the connection inside a chunked body`,
                { source: "upstream", context: { peer: peer.address } },
              );
            }
          }
        } catch (err) {
          fail(err);
        }
      },
      cancel: () => {
        resolveTrailers([]);
        this.#finish(x, false);
      },
    }, { highWaterMark: 0 });
  }

  #closeDelimited(x: Exchange, _peer: HttpPeer, readTimeout: number): ReadableStream<Uint8Array> {
    const conn = x.conn;
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          if (conn.start < conn.end) {
            c.enqueue(conn.buf.slice(conn.start, conn.end));
            conn.start = conn.end;
            return;
          }
          const chunk = new Uint8Array(65536);
          const n = await conn.readInto(chunk, readTimeout);
          if (n === 0) {
            this.#finish(x, false);
            c.close();
            return;
          }
          c.enqueue(chunk.subarray(0, n));
        } catch (err) {
          this.#finish(x, false);
          throw readError(x, err);
        }
      },
      cancel: () => this.#finish(x, false),
    }, { highWaterMark: 0 });
  }

  /** Writes a request body that did not fit in the head write. */
  async #pumpBody(
    x: Exchange,
    body: Uint8Array | ReadableStream<Uint8Array>,
    streamLength: number,
    writeTimeout: number,
  ): Promise<void> {
    const conn = x.conn;
    // Chunk frames are built in a shared scratch buffer, taken at the first frame.
    let frames: Uint8Array | null = null;
    try {
      if (body instanceof Uint8Array) {
        await conn.writeAll(body, writeTimeout);
      } else {
        const reader = x.reader = body.getReader();
        let sent = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (value.length === 0) continue;
          sent += value.length;
          if (streamLength >= 0) {
            if (sent > streamLength) {
              throw invalidRequest(`body longer than its Content-Length ${streamLength}`);
            }
            await conn.writeAll(value, writeTimeout);
          } else {
            const prefix = ENC.encode(value.length.toString(16) + "\r\n");
            const wb = frames ??= this.#scratch.take(FRAME_SCRATCH);
            if (prefix.length + value.length + 2 <= wb.length) {
              wb.set(prefix, 0);
              wb.set(value, prefix.length);
              wb.set(CRLF, prefix.length + value.length);
              await conn.writeAll(wb.subarray(0, prefix.length + value.length + 2), writeTimeout);
            } else {
              await conn.writeAll(prefix, writeTimeout);
              await conn.writeAll(value, writeTimeout);
              await conn.writeAll(CRLF, writeTimeout);
            }
          }
        }
        if (streamLength >= 0 && sent !== streamLength) {
          throw invalidRequest(`body of ${sent} bytes shorter than its Content-Length`);
        }
        if (streamLength < 0) await conn.writeAll(LAST_CHUNK, writeTimeout);
      }
      x.written = true;
    } catch (err) {
      const e = err instanceof ProxyError
        ? err
        : new ProxyError("INVALID_REQUEST", `Cannot read the request body: ${err}`, {
          source: "downstream",
          cause: err,
        });
      x.pumpError = e;
      x.reader?.cancel(e).catch(() => {});
      // Closing the socket makes the response side fail too.
      conn.close();
    } finally {
      // Every write of the pump has completed or failed.
      if (frames !== null) this.#scratch.give(frames);
    }
  }

  /** Ends an exchange: pool the connection if clean, else close it. */
  #finish(x: Exchange, reusable: boolean): void {
    if (x.finished) return;
    x.finished = true;
    const conn = x.conn;
    if (!x.written && reusable && x.pump !== null && x.pumpError === null && !conn.closed) {
      // The response is complete; the last request bytes are still being
      // written (or their write just completed): pool once the pump is done.
      // Until then the connection stays busy, so close() and the signal still
      // end it and the request body.
      this.#draining.add(x);
      if (x.onAbort) {
        // From now on an abort must also stop the pump, which may be waiting
        // for the request body rather than on the socket.
        const signal = x.signal!;
        signal.removeEventListener("abort", x.onAbort);
        const onAbort = x.onAbort;
        x.onAbort = () => {
          onAbort();
          x.reader?.cancel().catch(() => {});
        };
        signal.addEventListener("abort", x.onAbort);
      }
      x.pump.then(() => {
        this.#draining.delete(x);
        if (x.onAbort) x.signal!.removeEventListener("abort", x.onAbort);
        if (x.written && !conn.closed) {
          this.#put(conn, x.idleTimeout, x.maxIdle);
        } else conn.close();
      });
      return;
    }
    if (x.onAbort) x.signal!.removeEventListener("abort", x.onAbort);
    if (!x.written) {
      // The response ended before the request was fully sent: stop sending.
      x.reader?.cancel().catch(() => {});
      conn.close();
      return;
    }
    if (!reusable || conn.closed) {
      conn.close();
      return;
    }
    this.#put(conn, x.idleTimeout, x.maxIdle);
  }

  /** Closes idle connections and every connection still in use. */
  close(): Promise<void> {
    this.#closing = true;
    for (const lim of this.#limited.values()) {
      for (const w of lim.waiters.splice(0)) {
        w.fail(
          new ProxyError("ABORTED", "Cannot get a connection: the connector closed", {
            source: "upstream",
          }),
        );
      }
    }
    for (const x of this.#draining) x.reader?.cancel().catch(() => {});
    this.#draining.clear();
    // Idle ones too: closing twice is harmless, and the pool forgets them.
    for (const c of [...this.#conns]) c.close();
    return this.#pool.close();
  }

  /** Same as {@linkcode H1Connector.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.close();
    },
  });
}

/**
 * A Content-Length body: buffered bytes first, then reads of at most the
 * remaining length straight into the connection's buffer.
 */
class FixedSource implements H1BodySource {
  readonly spareFront = true;
  #conn: H1Connection;
  /** The response head's fields: their `buf` is deleted before the first read into it. */
  #fields: RawFields;
  #peer: string;
  #length: number;
  #remaining: number;
  #keepAlive: boolean;
  #timeout: number;
  #fin: Finish;
  #done = false;

  constructor(
    conn: H1Connection,
    fields: RawFields,
    peer: string,
    length: number,
    keepAlive: boolean,
    timeout: number,
    fin: Finish,
  ) {
    this.#conn = conn;
    this.#fields = fields;
    this.#peer = peer;
    this.#length = length;
    this.#remaining = length;
    this.#keepAlive = keepAlive;
    this.#timeout = timeout;
    this.#fin = fin;
  }

  read(): Promise<Uint8Array | null> | Uint8Array | null {
    if (this.#done) return null;
    if (this.#remaining === 0) {
      this.#done = true;
      this.#fin(this.#keepAlive);
      return null;
    }
    const conn = this.#conn;
    const buffered = conn.end - conn.start;
    if (buffered > 0) {
      const k = Math.min(buffered, this.#remaining);
      const view = conn.buf.subarray(conn.start, conn.start + k);
      conn.start += k;
      this.#remaining -= k;
      if (this.#remaining === 0 && conn.start !== conn.end) {
        this.#done = true;
        this.#fin(false);
        throw invalidResponse("bytes after a complete body", this.#peer);
      }
      return view;
    }
    return this.#more();
  }

  async #more(): Promise<Uint8Array> {
    const conn = this.#conn;
    this.#fields.buf = undefined;
    try {
      conn.start = conn.end = 0;
      if (this.#remaining > conn.buf.length) conn.growBuffer();
      const target = conn.buf.subarray(0, Math.min(this.#remaining, conn.buf.length));
      const n = await conn.readInto(target, this.#timeout);
      if (n === 0) {
        throw new ProxyError(
          "CONNECTION_CLOSED",
          `Upstream ${this.#peer} closed the connection ${this.#remaining} bytes before the end of the body (Content-Length ${this.#length})`,
          { source: "upstream", context: { peer: this.#peer } },
        );
      }
      this.#remaining -= n;
      return target.subarray(0, n);
    } catch (err) {
      this.#done = true;
      throw this.#fin(false, err);
    }
  }

  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    const conn = this.#conn;
    // All bytes already taken: the connection is clean, as if read to the end.
    this.#fin(this.#remaining === 0 && conn.start === conn.end && this.#keepAlive);
  }
}

/** A chunked body, de-chunked in place in the connection's buffer. */
class ChunkedSource implements H1BodySource {
  readonly spareFront = true;
  #conn: H1Connection;
  /** The response head's fields: their `buf` is deleted before the first read into it. */
  #fields: RawFields;
  #peer: string;
  #keepAlive: boolean;
  #timeout: number;
  #fin: Finish;
  #trailers: (t: HeaderPairs) => void;
  #dec = new ChunkedDecoder();
  #done = false;

  constructor(
    conn: H1Connection,
    fields: RawFields,
    peer: string,
    keepAlive: boolean,
    timeout: number,
    fin: Finish,
    trailers: (t: HeaderPairs) => void,
  ) {
    this.#conn = conn;
    this.#fields = fields;
    this.#peer = peer;
    this.#keepAlive = keepAlive;
    this.#timeout = timeout;
    this.#fin = fin;
    this.#trailers = trailers;
  }

  read(): Promise<Uint8Array | null> | Uint8Array | null {
    if (this.#done) return null;
    try {
      const r = this.#step();
      return r === undefined ? this.#more() : r;
    } catch (err) {
      this.#fail(err);
    }
  }

  /** A chunk, `null` at the end, or `undefined` when more bytes are needed. */
  #step(): Uint8Array | null | undefined {
    const conn = this.#conn;
    const dec = this.#dec;
    while (conn.start < conn.end) {
      conn.start = dec.decode(conn.buf, conn.start, conn.end);
      if (dec.dataEnd > dec.dataStart) return conn.buf.subarray(dec.dataStart, dec.dataEnd);
      if (dec.done) {
        if (conn.start !== conn.end) {
          throw invalidResponse("bytes after a complete body", this.#peer);
        }
        this.#done = true;
        this.#fin(this.#keepAlive);
        this.#trailers(dec.trailers);
        return null;
      }
    }
    return undefined;
  }

  async #more(): Promise<Uint8Array | null> {
    this.#fields.buf = undefined;
    try {
      // Not all in the first read: a body worth the full-size buffer.
      this.#conn.growBuffer();
      for (;;) {
        const n = await this.#conn.fill(this.#timeout);
        if (n === 0) {
          throw new ProxyError(
            "CONNECTION_CLOSED",
            `Upstream ${this.#peer} closed the connection inside a chunked body`,
            { source: "upstream", context: { peer: this.#peer } },
          );
        }
        const r = this.#step();
        if (r !== undefined) return r;
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(err: unknown): never {
    this.#done = true;
    this.#trailers([]);
    if (err instanceof HttpParseError) {
      this.#fin(false);
      throw invalidResponse(err.message, this.#peer, err);
    }
    throw this.#fin(false, err);
  }

  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#trailers([]);
    this.#fin(false);
  }
}

/** A body that ends when the upstream closes the connection. */
class CloseSource implements H1BodySource {
  readonly spareFront = true;
  #conn: H1Connection;
  /** The response head's fields: their `buf` is deleted before the first read into it. */
  #fields: RawFields;
  #timeout: number;
  #fin: Finish;
  #done = false;

  constructor(conn: H1Connection, fields: RawFields, timeout: number, fin: Finish) {
    this.#conn = conn;
    this.#fields = fields;
    this.#timeout = timeout;
    this.#fin = fin;
  }

  read(): Promise<Uint8Array | null> | Uint8Array | null {
    if (this.#done) return null;
    const conn = this.#conn;
    if (conn.start < conn.end) {
      const view = conn.buf.subarray(conn.start, conn.end);
      conn.start = conn.end;
      return view;
    }
    return this.#more();
  }

  async #more(): Promise<Uint8Array | null> {
    const conn = this.#conn;
    this.#fields.buf = undefined;
    try {
      conn.start = conn.end = 0;
      conn.growBuffer();
      const n = await conn.readInto(conn.buf, this.#timeout);
      if (n === 0) {
        this.#done = true;
        this.#fin(false);
        return null;
      }
      return conn.buf.subarray(0, n);
    } catch (err) {
      this.#done = true;
      throw this.#fin(false, err);
    }
  }

  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#fin(false);
  }
}
