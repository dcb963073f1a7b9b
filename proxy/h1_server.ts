/**
 * The HTTP/1.1 fast path: our own downstream server over `Deno.listen` /
 * `Deno.listenTls`, feeding the same transport-neutral {@linkcode Session} as
 * `Deno.serve` does. No `Request`/`Response` objects on the way in; one
 * reusable read buffer per connection; head and first body bytes in one write.
 *
 * Strict like hyper: every malformed request is answered 400 and the
 * connection closed; nothing of it reaches the upstream.
 *
 * @module
 */

import {
  ChunkedDecoder,
  fieldLinesLength,
  findHeadEnd,
  HttpParseError,
  parseDecimalLength,
  type ParsedRequestFields,
  type ParsedRequestHead,
  parseRequestFields,
  responseHasBody,
  writeFieldLines,
} from "@cirque/core/h1-parse";
import { BufferPool } from "@cirque/core/buffers";
import { DeadlineSweeper, type Expirable } from "@cirque/core/deadline";
import { ProxyError } from "@cirque/core/error";
import {
  HeaderMap,
  type RawFields,
  RequestHeader,
  type ResponseHeader,
} from "@cirque/core/http-header";
import type { HttpProxy, ProxyOutcome } from "./http_proxy.ts";
import { type BodyReader, type Endpoint, Session } from "./session.ts";
import { cancelOutcome, reportFinishFailure } from "./_finish.ts";
import { isThenable } from "./_thenable.ts";

/** Options of {@linkcode serveH1}. */
export interface H1ServerOptions {
  /** Address to bind. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port to bind; 0 picks one. @default {8080} */
  port?: number;
  /** Bind with SO_REUSEPORT (needs `--unstable-net`). @default {false} */
  reusePort?: boolean;
  /** PEM certificate chain: serve HTTPS (HTTP/1.1 only on this path). */
  cert?: string;
  /** PEM private key, with `cert`. */
  key?: string;
  /**
   * Milliseconds to receive a whole request head once its first byte arrived
   * (no slowloris).
   * @default {30000}
   */
  headerTimeout?: number;
  /**
   * Milliseconds an idle keep-alive connection waits for the next request.
   * @default {60000}
   */
  keepAliveTimeout?: number;
  /**
   * Milliseconds for each read of a request body and each write to the client.
   * @default {60000}
   */
  ioTimeout?: number;
  /** Head size limit in bytes. @default {65536} */
  maxHeadBytes?: number;
  /** Field count limit. @default {200} */
  maxFields?: number;
  /**
   * Accept absolute-form request targets (forward-proxy style). The target's
   * authority replaces Host (RFC 9112 §3.2.2) and its path goes upstream as
   * sent (no dot-segment or percent normalisation); a target whose authority
   * is not a non-empty `uri-host[:port]` (userinfo included) gets 400.
   * @default {false}
   */
  allowAbsoluteForm?: boolean;
  /**
   * Keep a request going when its client closes the connection (or only its
   * sending side) after sending it (its body included) and before the
   * response starts. By default such a request is aborted, its upstream
   * exchange cancelled and nothing is written, as nginx does with
   * `proxy_ignore_client_abort off` (noticed from the first 250 ms sweep of
   * the timeouts after the request went upstream: a quicker answer pays
   * nothing for the watch); a request filling a cache entry (it holds
   * the cache lock or writes the entry) goes on to store its response, as in
   * nginx. Set it for clients that send a request and then half-close,
   * expecting the answer.
   * @default {false}
   */
  ignoreClientAbort?: boolean;
  /**
   * Lingering close (nginx's `lingering_time`): when the server answers and
   * closes while the client may still be sending its request (a filter's
   * early answer before the body was read, a 4xx for a bad head), it
   * half-closes, then reads and discards what the client still sends for at
   * most this many milliseconds in all before closing, so that the client's
   * TCP stack does not get a reset that could lose the response. 0 closes at
   * once.
   * @default {30000}
   */
  lingeringTime?: number;
  /**
   * Milliseconds each read of a lingering close waits for more bytes before
   * the connection is closed (nginx's `lingering_timeout`).
   * @default {5000}
   */
  lingeringTimeout?: number;
  /** Called once listening, with the bound address. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running fast-path server. */
export interface H1Server {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Resolves when the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /**
   * Graceful stop: closes the listener and idle connections, lets in-flight
   * requests finish (their responses carry `Connection: close`).
   */
  shutdown(): Promise<void>;
  /** Hard stop: closes everything now. */
  close(): void;
  /** Open connections. */
  readonly connections: number;
}

const enc = new TextEncoder();
const CONTINUE_100 = enc.encode("HTTP/1.1 100 Continue\r\n\r\n");
const LAST_CHUNK = enc.encode("0\r\n\r\n");
const NO_BODY: { reader: BodyReader | null; complete: () => boolean } = {
  reader: null,
  complete: () => true,
};

function badRequest(status: number, reason: string): Uint8Array {
  const body = `${status} ${reason}\n`;
  const text = status === 400
    ? "Bad Request"
    : status === 431
    ? "Request Header Fields Too Large"
    : status === 505
    ? "HTTP Version Not Supported"
    : status === 405
    ? "Method Not Allowed"
    : status === 408
    ? "Request Timeout"
    : status === 500
    ? "Internal Server Error"
    : status === 501
    ? "Not Implemented"
    : "Error";
  return enc.encode(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${body.length}\r\nCache-Control: private, no-store\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}

/** Maps a parse failure to a status: heads too large → 431, else 400. */
function parseStatus(e: HttpParseError): number {
  if (e.reason === "head-too-large" || e.reason === "too-many-fields") return 431;
  if (e.reason === "invalid-version") return 505;
  return 400;
}

/**
 * Serves `proxy` over HTTP/1.1 (optionally TLS) with Cirque's own server.
 *
 * @example
 * ```ts ignore
 * import { HttpProxy, serveH1 } from "@cirque/proxy";
 * const server = serveH1(new HttpProxy(myProxy, { connector }), { port: 8080 });
 * await server.finished;
 * ```
 */
export function serveH1<Ctx>(proxy: HttpProxy<Ctx>, options: H1ServerOptions = {}): H1Server {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8080;
  const listener: Deno.Listener = options.cert !== undefined && options.key !== undefined
    ? Deno.listenTls({
      hostname,
      port,
      cert: options.cert,
      key: options.key,
      alpnProtocols: ["http/1.1"],
    })
    : Deno.listen({ hostname, port, ...(options.reusePort ? { reusePort: true } : {}) });
  const addr = listener.addr as Deno.NetAddr;
  const tls = options.cert !== undefined;
  const sweeper = new DeadlineSweeper({ resolution: 250 });
  const conns = new Set<H1Connection<Ctx>>();
  const outBuffers = new BufferPool();
  const limits = {
    maxHeadBytes: options.maxHeadBytes ?? 65536,
    maxFields: options.maxFields ?? 200,
    allowAbsoluteForm: options.allowAbsoluteForm ?? false,
    // Parsed so that CONNECT gets a clear 405 rather than a 400.
    allowAuthorityForm: true,
  };
  const settings: ConnSettings = {
    headerTimeout: options.headerTimeout ?? 30_000,
    keepAliveTimeout: options.keepAliveTimeout ?? 60_000,
    ioTimeout: options.ioTimeout ?? 60_000,
    limits,
    tls,
    serverAddr: { hostname: addr.hostname, port: addr.port },
    outBuffers,
    watchClient: !(options.ignoreClientAbort ?? false),
    lingeringTime: options.lingeringTime ?? 30_000,
    lingeringTimeout: options.lingeringTimeout ?? 5_000,
  };
  let draining = false;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => (resolveFinished = r));
  let acceptDone = false;
  const maybeFinished = () => {
    if (acceptDone && conns.size === 0) {
      sweeper.close();
      resolveFinished();
    }
  };
  options.onListen?.(addr);

  (async () => {
    try {
      for await (const conn of listener) {
        if (draining) {
          conn.close();
          continue;
        }
        const c = new H1Connection(conn, proxy, settings, sweeper, () => draining);
        conns.add(c);
        c.run().finally(() => {
          conns.delete(c);
          maybeFinished();
        });
      }
    } catch {
      // Listener closed.
    }
    acceptDone = true;
    maybeFinished();
  })();

  return {
    addr,
    finished,
    get connections() {
      return conns.size;
    },
    shutdown() {
      if (!draining) {
        draining = true;
        try {
          listener.close();
        } catch { /* already closed */ }
        for (const c of conns) c.closeIfIdle();
      }
      return finished;
    },
    close() {
      draining = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const c of conns) c.close();
    },
  };
}

interface ConnSettings {
  headerTimeout: number;
  keepAliveTimeout: number;
  ioTimeout: number;
  limits: {
    maxHeadBytes: number;
    maxFields: number;
    allowAbsoluteForm: boolean;
    allowAuthorityForm: boolean;
  };
  tls: boolean;
  serverAddr: Endpoint;
  /** Output buffers shared by the connections (one per response being written). */
  outBuffers: BufferPool;
  /** Abort a request whose client goes away before its response (not `ignoreClientAbort`). */
  watchClient: boolean;
  lingeringTime: number;
  lingeringTimeout: number;
}

const NO_BYTES = new Uint8Array(0);
/** `#headStep`: the head is not all here, a read must come first. */
const NEED_READ = -3;

/** One downstream connection: a loop of requests. */
class H1Connection<Ctx> implements Expirable {
  deadline = 0;
  readonly #conn: Deno.Conn;
  readonly #proxy: HttpProxy<Ctx>;
  readonly #s: ConnSettings;
  readonly #sweeper: DeadlineSweeper;
  readonly #draining: () => boolean;
  readonly #client: Endpoint | null;
  #buf: Uint8Array;
  /** The fields of the last request head while their `buf` is `#buf` (see `#unlend`). */
  #lent: RawFields | null = null;
  #start = 0;
  #end = 0;
  #closed = false;
  #idle = true;
  /** Where the search for the head's end resumes (see `#headStep`). */
  #scanFrom = 0;
  #timedOut = false;
  /**
   * An answer went out that ends the connection while the client may still
   * be sending (its request body unread, or a bad head): close lingering.
   */
  #linger = false;
  /** The request in flight, aborted when the connection times out. */
  #session: Session | null = null;
  /**
   * Output buffer (response head + first body bytes, chunk frames), taken
   * from the server's {@linkcode BufferPool} for one response and given back
   * once its writes completed.
   */
  #out: Uint8Array = NO_BYTES;
  /**
   * The session inside `process()`, from its head until its outcome is there:
   * the one `#watch` aborts when the client goes away.
   */
  #proxying: Session | null = null;
  /**
   * The client's next read, started while a request waits for its response
   * (`#watchClient`, at the first sweep after `#watchSoon`): it notices a
   * client that goes away, and it is also the first read of the next
   * request. Resolves with the byte count read into `#buf` at `#end` (not yet
   * added to it), or null for EOF and for a failed read; it never rejects.
   */
  #watch: Promise<number | null> | null = null;
  /** `#watchSoon` armed the deadline: the next sweep starts `#watch` instead of expiring. */
  #watchDue = false;
  readonly #onWatchRead = (n: number | null): number | null => {
    if (n === null) this.#clientGone();
    return n;
  };
  readonly #onWatchFail = (): null => {
    this.#clientGone();
    return null;
  };

  constructor(
    conn: Deno.Conn,
    proxy: HttpProxy<Ctx>,
    s: ConnSettings,
    sweeper: DeadlineSweeper,
    draining: () => boolean,
  ) {
    this.#conn = conn;
    this.#proxy = proxy;
    this.#s = s;
    this.#sweeper = sweeper;
    this.#draining = draining;
    // One write per small response avoids Nagle's delay; a body written in
    // several writes must not wait for the client's delayed ACK either. Plain
    // TCP only: Deno.TlsConn has no setNoDelay (Deno 2.9).
    (conn as Deno.TcpConn).setNoDelay?.(true);
    const ra = conn.remoteAddr as Deno.NetAddr;
    this.#client = ra.hostname !== undefined ? { hostname: ra.hostname, port: ra.port } : null;
    // Starts small and grows (up to the head limit) only for a head that needs it.
    this.#buf = new Uint8Array(Math.min(INITIAL_BUFFER, s.limits.maxHeadBytes + 1024));
  }

  expire(): void {
    if (this.#watchDue) {
      // Not a timeout: the request has waited a sweep for its response.
      this.#watchDue = false;
      this.#watchClient();
      return;
    }
    this.#timedOut = true;
    this.#session?.abort(
      new ProxyError("READ_TIMEOUT", "client timed out", { source: "downstream" }),
    );
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  closeIfIdle(): void {
    if (this.#idle) this.close();
  }

  #arm(ms: number): void {
    this.deadline = ms > 0 ? this.#sweeper.now() + ms : 0;
  }

  /**
   * Watches the client of `#proxying` (a bodiless request about to be
   * proxied, or a request whose body was just read to its end) from the next
   * sweep on: a request answered before it (most are, the sweep runs every
   * 250 ms) costs no watch read, its promise chain and its abort plumbing
   * (about 5% of the fast path's CPU per request when every request paid for
   * them); one that waits longer is aborted at most a sweep after its client
   * went away. Nothing to do with `ignoreClientAbort`, for an upgrade, on a
   * closed connection or with a watch pending. The session's abort link is
   * made now (a request with a body has its signal already) so that the
   * upstream exchange gets something to be aborted with.
   */
  #watchSoon(): void {
    const session = this.#watchable();
    if (session === null) return;
    session.watch();
    this.#watchDue = true;
    this.deadline = this.#sweeper.now() + 1;
  }

  /** The response is there: disarms what `#watchSoon` armed if its sweep has not come. */
  #watchDone(): void {
    if (this.#watchDue) {
      this.#watchDue = false;
      this.deadline = 0;
    }
  }

  /** `#proxying` if its client is to be watched and is not yet. */
  #watchable(): Session | null {
    const session = this.#proxying;
    return session === null || session.upgrade || !this.#s.watchClient || this.#closed ||
        this.#watch !== null
      ? null
      : session;
  }

  /** Starts `#watch` (from the sweep `#watchSoon` armed). */
  #watchClient(): void {
    // `#watchSoon` gave the session its abort link already.
    if (this.#watchable() === null) return;
    this.#unlend();
    if (this.#start === this.#end) this.#start = this.#end = 0;
    const buf = this.#buf;
    // A buffer full of pipelined bytes: the next request is there already.
    if (this.#end === buf.length) return;
    this.#watch = this.#conn.read(this.#end === 0 ? buf : buf.subarray(this.#end))
      .then(this.#onWatchRead, this.#onWatchFail);
  }

  /** The client closed (or reset) the connection while `#proxying` waits for its response. */
  #clientGone(): void {
    const session = this.#proxying;
    if (session === null || this.#closed) return;
    session.abort(
      new ProxyError("CONNECTION_CLOSED", "client closed the connection before the response", {
        source: "downstream",
      }),
    );
    this.close();
  }

  async #read(into: Uint8Array): Promise<number | null> {
    try {
      return await this.#conn.read(into);
    } catch (e) {
      if (this.#closed) return null;
      throw e;
    }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    this.#arm(this.#s.ioTimeout);
    let off = 0;
    while (off < bytes.byteLength) {
      off += await this.#conn.write(off === 0 ? bytes : bytes.subarray(off));
    }
  }

  async run(): Promise<void> {
    this.#sweeper.add(this);
    try {
      while (!this.#closed) {
        const keep = await this.#one();
        if (!keep || this.#draining()) break;
      }
      if (this.#linger) await this.#lingeringClose();
    } catch {
      // Socket errors end the connection.
    } finally {
      this.#sweeper.delete(this);
      this.close();
    }
  }

  /**
   * nginx's lingering close, once an answer is out while the client may still
   * be sending: half-closes (the client reads the response, then EOF), then
   * reads and discards what it sends until it closes, a read waits
   * `lingeringTimeout`, or `lingeringTime` has passed in all (the sweeper's
   * deadline closes the connection). Closing with unread bytes instead would
   * send the client a reset, which can make it drop the response.
   */
  async #lingeringClose(): Promise<void> {
    const total = this.#s.lingeringTime;
    if (total <= 0 || this.#closed) return;
    try {
      await this.#conn.closeWrite();
    } catch {
      return;
    }
    // The answer is out: `shutdown()` closes a lingering connection as an idle one.
    this.#idle = true;
    const end = this.#sweeper.now() + total;
    this.#unlend();
    const buf = this.#buf;
    // Bounded in time: every read has a deadline, and none goes past `end`.
    while (!this.#closed) {
      const left = end - this.#sweeper.now();
      if (left <= 0 || this.#draining()) return;
      this.#arm(Math.min(this.#s.lingeringTimeout, left));
      const n = await this.#read(buf);
      if (n === null) return;
    }
  }

  /**
   * Writes an answer that ends the connection before the request was read
   * (its body, or the rest of a bad head, may still be coming).
   */
  async #refuse(answer: Uint8Array): Promise<false> {
    await this.#write(answer);
    this.#linger = true;
    return false;
  }

  /**
   * Starts reading a head: the offsets reset when nothing is buffered (a
   * pending watch reads into the buffer at `#end`: the offsets stay until it
   * is in).
   */
  #headStart(): void {
    this.#unlend();
    if (this.#start === this.#end && this.#watch === null) this.#start = this.#end = 0;
    this.#scanFrom = this.#start;
  }

  /**
   * One step of reading a head, without the read itself: returns the head's
   * end when a whole head is buffered, -1 when the connection should end
   * quietly (idle and draining), or `NEED_READ` after making room and arming
   * the deadline (`first`: before the head's first read). Throws
   * {@linkcode HttpParseError}. `#one` awaits the read itself, so that a
   * request costs no async frame for its head.
   */
  #headStep(first: boolean): number {
    let buf = this.#buf;
    if (this.#end > this.#start) {
      const e = findHeadEnd(buf, Math.max(this.#start, this.#scanFrom), this.#end);
      if (e >= 0) return e;
      if (e === -2) throw new HttpParseError("bare-lf");
      this.#scanFrom = Math.max(this.#start, this.#end - 3);
      if (this.#end - this.#start > this.#s.limits.maxHeadBytes) {
        throw new HttpParseError("head-too-large");
      }
    }
    if (this.#end === buf.length) {
      // Compact: move the partial head to the front.
      buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#scanFrom = Math.max(0, this.#scanFrom - this.#start);
      this.#start = 0;
      if (this.#end === buf.length) {
        // Still full: a head larger than the buffer; grow it (bounded by the check above).
        const next = new Uint8Array(Math.min(buf.length * 2, this.#s.limits.maxHeadBytes + 1024));
        next.set(buf.subarray(0, this.#end));
        buf = this.#buf = next;
      }
    }
    if (first) {
      // Idle keep-alive wait until the first byte, then the head deadline.
      this.#arm(this.#end > this.#start ? this.#s.headerTimeout : this.#s.keepAliveTimeout);
    }
    this.#idle = this.#end === this.#start;
    if (this.#idle && this.#draining()) return -1;
    return NEED_READ;
  }

  /**
   * Takes the result of a head read (`null` at end of stream); returns false
   * on a clean end between requests, throws on one mid-head.
   */
  #headRead(n: number | null, first: boolean): boolean {
    if (n === null) {
      if (this.#end === this.#start) return false;
      throw new HttpParseError("invalid-start-line", -1, "connection closed mid-head");
    }
    if (first && this.#end === this.#start) this.#arm(this.#s.headerTimeout);
    this.#idle = false;
    this.#end += n;
    return true;
  }

  /**
   * Ends the loan of `#buf` to the last request head's fields: from here on
   * their maps (the request, its snapshots, a cache subrequest's copy) write
   * them from the parsed text. Called before anything is read into `#buf`
   * where the head was: the next head, the client watch, a chunked body,
   * the lingering close.
   */
  #unlend(): void {
    const lent = this.#lent;
    if (lent !== null) {
      lent.buf = undefined;
      this.#lent = null;
    }
  }

  /** Serves one request; returns whether the connection may be reused. */
  async #one(): Promise<boolean> {
    let head: ParsedRequestFields;
    try {
      // Reads until a whole head is buffered (straight to the socket: no
      // helper frame on the per-request path).
      this.#headStart();
      let headEnd: number;
      for (let first = true;; first = false) {
        headEnd = this.#headStep(first);
        if (headEnd !== NEED_READ) break;
        let n: number | null;
        const watch = this.#watch;
        if (watch !== null) {
          // Started while the last request was proxied, into this same spot.
          this.#watch = null;
          n = await watch;
        } else {
          try {
            n = await this.#conn.read(this.#end === 0 ? this.#buf : this.#buf.subarray(this.#end));
          } catch (e) {
            if (!this.#closed) throw e;
            n = null;
          }
        }
        if (!this.#headRead(n, first)) return false;
      }
      if (headEnd < 0) return false;
      head = parseRequestFields(this.#buf, this.#start, headEnd, this.#s.limits);
      this.#start = headEnd;
      // The fields refer to #buf until it is read into again (#unlend).
      this.#lent = head.fields;
    } catch (e) {
      if (this.#timedOut || this.#closed) return false;
      if (e instanceof HttpParseError) {
        await this.#refuse(badRequest(parseStatus(e), e.reason)).catch(() => {});
      }
      return false;
    }
    this.#arm(0);
    const http10 = head.versionMinor === 0;
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1; at most one in HTTP/1.0.
    if (head.hostCount > 1 || (!http10 && head.hostCount === 0) || head.invalidHost) {
      return await this.#refuse(
        badRequest(
          400,
          head.hostCount > 1 ? "multiple-host" : head.invalidHost ? "invalid-host" : "missing-host",
        ),
      );
    }
    // Like nginx: chunked is the one transfer coding we decode (RFC 9112 §6.1).
    if (head.transferCodings > 1) {
      return await this.#refuse(badRequest(501, "unsupported-transfer-encoding"));
    }
    // Stricter than RFC 9112 allows: a repeated or list-valued Content-Length is
    // a smuggling vector, so the fast path refuses it outright.
    const headers = HeaderMap.fromRaw(head.fields);
    if (head.contentLength >= 0 && !singleContentLength(headers)) {
      return await this.#refuse(badRequest(400, "duplicate-content-length"));
    }
    if (head.method === "CONNECT") {
      return await this.#refuse(badRequest(405, "connect-not-supported"));
    }
    let path = head.target;
    let authority: string | null = null;
    if (head.targetForm === "absolute") {
      // As sent (no URL normalisation: `%2e%2e` stays); the parser checked the authority.
      const t = head.target;
      const as = t.indexOf("://") + 3;
      let ae = as;
      while (ae < t.length && t[ae] !== "/" && t[ae] !== "?" && t[ae] !== "#") ae++;
      authority = t.slice(as, ae);
      path = ae === t.length ? "/" : t[ae] === "/" ? t.slice(ae) : "/" + t.slice(ae);
    }
    let keepAlive = http10
      ? head.connectionKeepAlive && !head.connectionClose
      : !head.connectionClose;
    const req = new RequestHeader(head.method, path, headers, http10 ? "1.0" : "1.1");
    // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
    if (authority !== null) req.headers.set("Host", authority);
    if (head.expectContinue) {
      req.headers.delete("expect");
      // RFC 9110 §10.1.1: an HTTP/1.0 request's 100-continue is ignored (no 100).
      if (http10) head.expectContinue = false;
    }
    const body = this.#bodyReader(head);
    const session = new Session(req, body.reader, {
      clientAddr: this.#client,
      serverAddr: this.#s.serverAddr,
      tls: this.#s.tls,
    });
    this.#session = session;
    session.upgrade = !http10 && head.upgrade !== null &&
      (head.connectionTokens?.includes("upgrade") ?? false);
    this.#proxying = session;
    // A request with a body is watched once the body is read to its end.
    if (body.reader === null) this.#watchSoon();
    const outcome = await this.#proxy.process(session);
    // From here on, a client that goes away shows up as a failed write.
    this.#proxying = null;
    this.#watchDone();
    let error: ProxyError | null = null;
    if (this.#closed) {
      cancelOutcome(outcome);
      error = new ProxyError("CONNECTION_CLOSED", "client went away", { source: "downstream" });
      keepAlive = false;
    } else if (session.status === 0) {
      // failToProxy decided there is no one to answer (client gone).
      cancelOutcome(outcome);
      keepAlive = false;
    } else if (outcome.upgrade !== null) {
      error = await this.#tunnel(session, outcome, body.complete());
      keepAlive = false;
    } else {
      if (this.#draining()) keepAlive = false;
      // A request body not read to the end leaves the connection unusable.
      if (!session.isBodyDone || !body.complete()) keepAlive = false;
      try {
        const reusable = await this.#writeResponse(
          session,
          outcome,
          head.method,
          http10,
          keepAlive,
        );
        if (body.complete()) keepAlive = keepAlive && reusable;
        else {
          // Answered before the request body ended (a filter's early answer).
          keepAlive = false;
          this.#linger = true;
        }
      } catch (e) {
        error = e instanceof ProxyError ? e : new ProxyError("CONNECTION_CLOSED", String(e), {
          source: "downstream",
          cause: e,
        });
        session.abort(error);
        keepAlive = false;
      }
      // Every write of this response has completed (or failed): the buffer is free.
      this.#releaseOut();
    }
    this.#session = null;
    // A hook that throws in finish (suppressErrorLog, errorLog, logging) is
    // reported like on the Deno.serve path; the response is out and the
    // connection stays usable.
    try {
      await outcome.finish(error);
    } catch (e) {
      reportFinishFailure(e);
    }
    return keepAlive;
  }

  /**
   * Writes the `101` head, then copies bytes both ways until either side
   * closes: client → `outcome.upgrade`, `outcome.body` → client. The
   * connection is never reused afterwards.
   */
  async #tunnel(
    session: Session,
    outcome: ProxyOutcome,
    requestDone: boolean,
  ): Promise<ProxyError | null> {
    const upstreamIn = outcome.upgrade!.getWriter();
    const upstreamOut = outcome.body?.getReader() ?? null;
    const closeAll = () => {
      upstreamIn.abort().catch(() => {});
      upstreamOut?.cancel().catch(() => {});
      this.close();
    };
    if (!requestDone || upstreamOut === null) {
      // A 101 to a request with a body, or without a readable side: refuse.
      closeAll();
      return new ProxyError("INVALID_RESPONSE", "cannot tunnel this upgrade", {
        source: "upstream",
      });
    }
    try {
      const n = this.#serializeHead(outcome.head, false);
      await this.#write(this.#out.subarray(0, n));
    } catch (e) {
      closeAll();
      return downstreamFailure(e);
    } finally {
      this.#releaseOut();
    }
    // No deadline while tunnelling: each side's own timeouts apply upstream;
    // downstream the tunnel lives as long as the client keeps it.
    this.#arm(0);
    const toUpstream = (async () => {
      if (this.#end > this.#start) {
        await upstreamIn.write(this.#buf.slice(this.#start, this.#end));
        this.#start = this.#end;
      }
      while (true) {
        const chunk = new Uint8Array(16384);
        const n = await this.#read(chunk);
        if (n === null) break;
        session.bodyBytesRead += n;
        await upstreamIn.write(chunk.subarray(0, n));
      }
    })();
    const toClient = (async () => {
      while (true) {
        const r = await upstreamOut.read();
        if (r.done) break;
        let off = 0;
        while (off < r.value.byteLength) off += await this.#conn.write(r.value.subarray(off));
        session.bodyBytesSent += r.value.byteLength;
      }
    })();
    let error: ProxyError | null = null;
    try {
      // Either direction ending ends the tunnel.
      await Promise.race([toUpstream, toClient]);
    } catch (e) {
      error = e instanceof ProxyError ? e : new ProxyError("CONNECTION_CLOSED", String(e), {
        source: "downstream",
        cause: e,
      });
    }
    closeAll();
    await Promise.allSettled([toUpstream, toClient]);
    return error;
  }

  /** Builds the request body reader for the parsed head. */
  #bodyReader(head: ParsedRequestHead): { reader: BodyReader | null; complete: () => boolean } {
    if (head.chunked) return this.#chunkedReader(head);
    const length = head.contentLength;
    if (length <= 0) return NO_BODY;
    let remaining = length;
    let sentContinue = !head.expectContinue;
    const reader: BodyReader = {
      read: async () => {
        if (remaining === 0) {
          this.#watchSoon();
          return null;
        }
        // The answer is out: the rest of the body is the lingering close's to discard.
        if (this.#linger) throw bodyDiscarded();
        const buffered = this.#end - this.#start;
        if (buffered > 0) {
          const n = Math.min(buffered, remaining);
          const chunk = this.#buf.slice(this.#start, this.#start + n);
          this.#start += n;
          remaining -= n;
          return chunk;
        }
        if (!sentContinue) {
          sentContinue = true;
          await this.#write(CONTINUE_100);
        }
        const chunk = new Uint8Array(Math.min(remaining, 65536));
        this.#arm(this.#s.ioTimeout);
        const n = await this.#read(chunk);
        this.#arm(0);
        if (n === null) {
          throw new ProxyError("CONNECTION_CLOSED", "client closed the request body early", {
            source: "downstream",
            context: { missing: remaining },
          });
        }
        remaining -= n;
        return n === chunk.length ? chunk : chunk.subarray(0, n);
      },
      cancel: () => {},
    };
    return { reader, complete: () => remaining === 0 };
  }

  #chunkedReader(head: ParsedRequestHead): { reader: BodyReader; complete: () => boolean } {
    const dec = new ChunkedDecoder();
    let sentContinue = !head.expectContinue;
    const reader: BodyReader = {
      read: async () => {
        while (true) {
          if (dec.done) {
            this.#watchSoon();
            return null;
          }
          if (this.#linger) throw bodyDiscarded();
          if (this.#end > this.#start) {
            let p: number;
            try {
              p = dec.decode(this.#buf, this.#start, this.#end);
            } catch (e) {
              throw new ProxyError("INVALID_REQUEST", (e as Error).message, {
                source: "downstream",
                cause: e,
              });
            }
            const data = dec.dataEnd > dec.dataStart
              ? this.#buf.slice(dec.dataStart, dec.dataEnd)
              : null;
            this.#start = p;
            if (data !== null) return data;
            continue;
          }
          if (!sentContinue) {
            sentContinue = true;
            await this.#write(CONTINUE_100);
          }
          this.#start = this.#end = 0;
          this.#unlend();
          this.#arm(this.#s.ioTimeout);
          const n = await this.#read(this.#buf);
          this.#arm(0);
          if (n === null) {
            throw new ProxyError("CONNECTION_CLOSED", "client closed a chunked body early", {
              source: "downstream",
            });
          }
          this.#end = n;
        }
      },
      cancel: () => {},
    };
    return { reader, complete: () => dec.done };
  }

  /**
   * Makes `#out` hold at least `n` bytes, keeping its first `keep` bytes. The
   * outgrown buffer goes back to the pool: no write reads it while a head or
   * frame is being built.
   */
  #reserve(n: number, keep: number): void {
    if (this.#out.length >= n) return;
    const next = this.#s.outBuffers.take(n);
    if (keep > 0) next.set(this.#out.subarray(0, keep));
    this.#releaseOut();
    this.#out = next;
  }

  /**
   * Writes `s` at `p` in `#out` and returns the new end: one byte per
   * character (Latin-1, so the bytes of a parsed upstream field go back out
   * unchanged), or UTF-8 when `s` holds a character beyond U+00FF (text a
   * filter wrote). With `check`, refuses CR, LF or NUL (no response splitting).
   */
  #put(s: string, p: number, check: boolean): number {
    const l = s.length;
    this.#reserve(p + l * 3 + 4, p);
    const out = this.#out;
    for (let i = 0; i < l; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.#putWide(s, i, p, check);
      if (check && (c === 13 || c === 10 || c === 0)) throw unsafeHead();
      out[p++] = c;
    }
    return p;
  }

  /** The rest of {@linkcode #put} from the first non-ASCII character `s[i]`. */
  #putWide(s: string, i: number, p: number, check: boolean): number {
    const out = this.#out;
    const rest = s.slice(i);
    if (check && UNSAFE.test(rest)) throw unsafeHead();
    if (BEYOND_LATIN1.test(rest)) return p + enc.encodeInto(rest, out.subarray(p)).written;
    for (let j = 0; j < rest.length; j++) out[p++] = rest.charCodeAt(j);
    return p;
  }

  /**
   * Writes fields kept as parsed (`HeaderMap.fromRaw`) at `p` as
   * `name: value` lines ({@linkcode writeFieldLines}). When `first` (the
   * body's first chunk) still follows the head in the buffer it was parsed
   * from and the fields still have that buffer (the body source deletes
   * `buf` before it reads into it again), the lines are copied from there;
   * otherwise from the parsed text.
   */
  #putRaw(raw: RawFields, p: number, first: Uint8Array | null): number {
    this.#reserve(p + fieldLinesLength(raw), p);
    const b = raw.buf;
    return writeFieldLines(
      this.#out,
      p,
      raw,
      b !== undefined && first !== null && first.buffer === b.buffer &&
        first.byteOffset === b.byteOffset + raw.base! + raw.text.length,
    );
  }

  /** Gives `#out` back to the server's buffers; call only when no write uses it. */
  #releaseOut(): void {
    if (this.#out !== NO_BYTES) {
      this.#s.outBuffers.give(this.#out);
      this.#out = NO_BYTES;
    }
  }

  /** Serialises the response head into `#out`; returns its length. */
  #serializeHead(
    head: ResponseHeader,
    http10: boolean,
    first: Uint8Array | null = null,
  ): number {
    let p = this.#put(http10 ? "HTTP/1.0 " : "HTTP/1.1 ", 0, false);
    p = this.#put(String(head.status), p, false);
    this.#out[p++] = 32;
    p = this.#put(head.statusText, p, true);
    this.#out[p++] = 13;
    this.#out[p++] = 10;
    const raw = head.headers.raw;
    let pairs: readonly (readonly [string, string])[];
    if (raw !== null) {
      p = this.#putRaw(raw, p, first);
      // The upstream buffer is reused from the next read: a map a phase kept must not hold it.
      if (raw.buf !== undefined) head.headers.releaseBuffer();
      pairs = head.headers.tail;
    } else pairs = head.headers.pairs;
    for (let i = 0; i < pairs.length; i++) {
      const f = pairs[i]!;
      p = this.#put(f[0], p, true);
      this.#out[p++] = 58;
      this.#out[p++] = 32;
      p = this.#put(f[1], p, true);
      this.#out[p++] = 13;
      this.#out[p++] = 10;
    }
    this.#reserve(p + 2, p);
    this.#out[p++] = 13;
    this.#out[p++] = 10;
    return p;
  }

  /**
   * Puts the first body chunk (framed if chunked, plus the last chunk if the
   * body already ended) behind the head in `#out`; returns the bytes to write.
   */
  #appendFirst(
    headLength: number,
    first: Uint8Array | null,
    chunked: boolean,
    ended: boolean,
  ): Uint8Array {
    const size = first === null ? 0 : first.byteLength;
    const total = headLength + size + (chunked ? 20 : 0) + (ended && chunked ? 5 : 0);
    if (size > MAX_OUT) {
      // Too big to keep a buffer that size per connection: one-off array.
      const out = new Uint8Array(total);
      out.set(this.#out.subarray(0, headLength), 0);
      return out.subarray(0, this.#frameInto(out, headLength, first, chunked, ended));
    }
    this.#reserve(total, headLength);
    const out = this.#out;
    return out.subarray(0, this.#frameInto(out, headLength, first, chunked, ended));
  }

  /** The head (the first `headLength` bytes of `#out`) written right in front of `chunk`, in its buffer. */
  #prependHead(headLength: number, chunk: Uint8Array): Uint8Array {
    const at = chunk.byteOffset - headLength;
    const out = new Uint8Array(chunk.buffer, at, headLength + chunk.byteLength);
    out.set(this.#out.subarray(0, headLength));
    return out;
  }

  #frameInto(
    out: Uint8Array,
    p: number,
    chunk: Uint8Array | null,
    chunked: boolean,
    last: boolean,
  ): number {
    if (chunk !== null) {
      if (chunked) {
        const hex = chunk.byteLength.toString(16);
        for (let i = 0; i < hex.length; i++) out[p++] = hex.charCodeAt(i);
        out[p++] = 13;
        out[p++] = 10;
      }
      out.set(chunk, p);
      p += chunk.byteLength;
      if (chunked) {
        out[p++] = 13;
        out[p++] = 10;
      }
    }
    if (last && chunked) {
      out.set(LAST_CHUNK, p);
      p += LAST_CHUNK.length;
    }
    return p;
  }

  /** One chunk of a chunked body, framed. */
  #frame(chunk: Uint8Array): Uint8Array {
    const total = chunk.byteLength + 20;
    if (chunk.byteLength > MAX_OUT) {
      const out = new Uint8Array(total);
      return out.subarray(0, this.#frameInto(out, 0, chunk, true, false));
    }
    this.#reserve(total, 0);
    const out = this.#out;
    return out.subarray(0, this.#frameInto(out, 0, chunk, true, false));
  }

  /**
   * Writes the response head and body. Returns false when the framing forces
   * the connection closed (close-delimited body).
   */
  async #writeResponse(
    session: Session,
    outcome: ProxyOutcome,
    method: string,
    http10: boolean,
    keepAlive: boolean,
  ): Promise<boolean> {
    const head = outcome.head;
    // The stream-free source when the engine offers one, else the stream.
    let src = outcome.source ?? null;
    let body = src === null ? outcome.body : null;
    const noBody = !responseHasBody(method, head.status);
    if (noBody) {
      if (src !== null) src.cancel();
      else body?.cancel().catch(() => {});
      src = null;
      body = null;
    }
    // One pass over the fields instead of repeated get/delete scans; the
    // resulting head is the same.
    const h = head.headers;
    let cl: string | null = null;
    let hasTe = false;
    let hasConnection = false;
    for (let i = 0, n = h.size; i < n; i++) {
      const l = h.nameLengthAt(i);
      if (l === 14) {
        if (cl === null && h.nameIs(i, "content-length")) cl = h.valueAt(i);
      } else if (l === 17) {
        if (!hasTe && h.nameIs(i, "transfer-encoding")) hasTe = true;
      } else if (l === 10) {
        if (!hasConnection && h.nameIs(i, "connection")) hasConnection = true;
      }
    }
    let length = -1;
    if (cl !== null) {
      length = parseDecimalLength(cl);
      if (length < 0) head.headers.delete("content-length");
    }
    let mode: "none" | "length" | "chunked" | "close";
    if (noBody) mode = "none";
    else if (body === null && src === null) {
      mode = "length";
      if (length !== 0) head.headers.set("Content-Length", "0");
      length = 0;
    } else if (length >= 0) mode = "length";
    else if (!http10) mode = "chunked";
    else mode = "close";
    if (mode === "close") keepAlive = false;
    if (mode === "chunked") head.headers.set("Transfer-Encoding", "chunked");
    else if (hasTe) head.headers.delete("transfer-encoding");
    if (hasConnection) head.headers.delete("connection");
    if (!keepAlive) head.headers.append("Connection", "close");
    else if (http10) head.headers.append("Connection", "keep-alive");

    const reader = body?.getReader() ?? null;
    // Read the first body chunk so head and body leave in one write.
    let first: Uint8Array | null = null;
    let ended = reader === null && src === null;
    if (!ended) {
      try {
        const r = src !== null ? src.read() : readChunk(reader!);
        first = isThenable(r) ? await r : r;
      } catch (e) {
        throw upstreamFailure(e);
      }
      if (first === null) ended = true;
    }
    let headLength: number;
    try {
      headLength = this.#serializeHead(head, http10, first);
    } catch (e) {
      // Nothing was written yet: answer 500 instead of a broken head.
      if (src !== null) src.cancel(e);
      else reader?.cancel(e).catch(() => {});
      await this.#write(badRequest(500, "invalid-response-head")).catch(() => {});
      throw e;
    }
    let sent = 0;
    if (first !== null && mode === "length" && sent + first.byteLength > length) {
      first = first.subarray(0, length - sent);
    }
    if (first !== null && first.byteLength === 0) first = null;
    // Head and first bytes leave in one write: the head goes into the spent
    // bytes in front of the chunk when the source allows it (the upstream's
    // own head was there), else both are copied into the output buffer,
    // unless the chunk is large (a cache hit's whole body): then copying it
    // costs more than a second write.
    let out: Uint8Array;
    let after: Uint8Array | null = null;
    if (
      first !== null && mode !== "chunked" && src?.spareFront === true &&
      first.byteOffset >= headLength
    ) {
      out = this.#prependHead(headLength, first);
    } else if (first !== null && mode !== "chunked" && first.byteLength > COPY_FIRST_MAX) {
      out = this.#out.subarray(0, headLength);
      after = first;
    } else out = this.#appendFirst(headLength, first, mode === "chunked", ended);
    this.#arm(this.#s.ioTimeout);
    try {
      let off = await this.#conn.write(out);
      while (off < out.byteLength) off += await this.#conn.write(out.subarray(off));
      if (after !== null) await this.#write(after);
    } catch (e) {
      throw downstreamFailure(e);
    }
    this.#arm(0);
    if (first !== null) {
      sent += first.byteLength;
      session.bodyBytesSent += first.byteLength;
    }
    if (ended) {
      if (mode === "length" && sent < length) throw truncated(sent, length);
      return keepAlive;
    }
    try {
      while (true) {
        let next: Uint8Array | null;
        try {
          const r = src !== null ? src.read() : readChunk(reader!);
          next = isThenable(r) ? await r : r;
        } catch (e) {
          throw upstreamFailure(e);
        }
        if (next === null) break;
        let chunk = next;
        if (mode === "length" && sent + chunk.byteLength > length) {
          chunk = chunk.subarray(0, length - sent);
        }
        if (chunk.byteLength === 0) continue;
        try {
          await this.#write(mode === "chunked" ? this.#frame(chunk) : chunk);
        } catch (e) {
          throw downstreamFailure(e);
        }
        this.#arm(0);
        sent += chunk.byteLength;
        session.bodyBytesSent += chunk.byteLength;
      }
    } catch (e) {
      if (src !== null) src.cancel(e);
      else reader!.cancel(e).catch(() => {});
      throw e;
    }
    if (mode === "length" && sent < length) throw truncated(sent, length);
    if (mode === "chunked") {
      await this.#write(LAST_CHUNK).catch((e) => {
        throw downstreamFailure(e);
      });
      this.#arm(0);
    }
    return keepAlive;
  }
}

function readChunk(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<Uint8Array | null> {
  return reader.read().then((r) => r.done ? null : r.value);
}

function singleContentLength(headers: HeaderMap): boolean {
  let n = 0;
  for (let i = 0; i < headers.size; i++) {
    if (headers.nameLengthAt(i) === 14 && headers.nameIs(i, "content-length")) {
      if (++n > 1 || !/^[0-9]+$/.test(headers.valueAt(i))) return false;
    }
  }
  return true;
}

const UNSAFE = /[\r\n\0]/;
const BEYOND_LATIN1 = /[^\0-\xff]/;
/** Initial read buffer per client connection; grows up to `maxHeadBytes` + 1 KiB for a big head. */
const INITIAL_BUFFER = 16384;
/** Largest first body chunk copied behind the head into the connection's output buffer. */
const MAX_OUT = 256 * 1024;
/**
 * Largest first body chunk copied behind the head when it cannot go in front
 * of the chunk (`BodySource.spareFront`); a larger one is written on its own
 * after the head. A cache hit of 100 KiB copied into a fresh buffer spent
 * 40% of its CPU time in the allocation, the copy and the collection.
 */
const COPY_FIRST_MAX = 32 * 1024;

function unsafeHead(): ProxyError {
  return new ProxyError("INTERNAL", "response head contains CR, LF or NUL", { source: "internal" });
}

function upstreamFailure(e: unknown): ProxyError {
  return e instanceof ProxyError
    ? e
    : new ProxyError("CONNECTION_CLOSED", `upstream body failed: ${e}`, {
      source: "upstream",
      cause: e,
    });
}

function downstreamFailure(e: unknown): ProxyError {
  return new ProxyError("CONNECTION_CLOSED", `client write failed: ${e}`, {
    source: "downstream",
    cause: e,
  });
}

function bodyDiscarded(): ProxyError {
  return new ProxyError("CONNECTION_CLOSED", "the response ended before the request body", {
    source: "downstream",
  });
}

function truncated(sent: number, length: number): ProxyError {
  return new ProxyError(
    "CONNECTION_CLOSED",
    `upstream body ended after ${sent} of ${length} bytes`,
    {
      source: "upstream",
      context: { sent, length },
    },
  );
}
