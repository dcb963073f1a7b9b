/**
 * One upstream HTTP/1.1 connection: a socket plus one reusable read buffer,
 * with every socket operation bounded by a timeout that closes the socket.
 *
 * This is the transport layer under `H1Connector`; it is public so a raw
 * byte-piping fast path can drive it directly: write head bytes with
 * {@linkcode H1Connection.writeAll}, read into {@linkcode H1Connection.buf}
 * with {@linkcode H1Connection.fill} and look at the unread bytes
 * `buf[start, end)`.
 *
 * @module
 */

import { abortedError } from "./_connect_error.ts";
import type { AbortLike } from "./connector.ts";
import { coarseNow, MAX_TIMER_MS } from "./deadline.ts";
import { type ErrorCode, ProxyError } from "./error.ts";
import { type HttpPeer, PEER_DEFAULTS } from "./peer.ts";
import type { IdleGoneReason, Poolable } from "./pool.ts";

/**
 * Default maximum size of a connection's read buffer: 128 KiB plus 1 KiB, so
 * that a body of about 100 KiB comes in one read and leaves in one write
 * (with 64 KiB reads, two of each: 11% less throughput on such bodies). It
 * must hold the head limit plus 1 KiB; the connector raises it for a larger
 * `maxHeadBytes`.
 */
export const H1_READ_BUFFER_SIZE = 131072 + 1024;
/** A connection's read buffer starts at this size and grows to its maximum only when needed. */
const INITIAL_READ_BUFFER = 16384;
/**
 * How long a connection stays idle in the pool, at least, before its watch
 * read stops keeping the process alive (see {@linkcode H1Connection.watchIdle}).
 */
const UNREF_AFTER_MS = 100;

/** Options of {@linkcode H1Connection.open}. */
export interface H1OpenOptions {
  /** Aborts the connect and TLS handshake. */
  signal?: AbortLike;
  /**
   * Maximum read buffer size in bytes (the buffer starts at 16 KiB and grows
   * for a large head or body).
   * @default {H1_READ_BUFFER_SIZE}
   */
  bufferSize?: number;
  /**
   * Opens the TCP (or unix) connection; replace it to add a custom layer 4
   * (tests use it to simulate a connect that never completes). It must honour
   * `signal`.
   * @default {Deno.connect}
   */
  dial?: (addr: HttpPeer["addr"], signal: AbortSignal) => Promise<Deno.Conn>;
  /**
   * How long a TLS handshake that timed out counts against its peer at most
   * (see {@linkcode MAX_UNANSWERED_HANDSHAKES}); its socket stays until the
   * handshake ends.
   * @default {UNANSWERED_HOLD_MS}
   */
  unansweredHoldMs?: number;
}

let serverNameSymbol: symbol | undefined;
function internalServerNameSymbol(): symbol | undefined {
  if (serverNameSymbol === undefined) {
    // Not public API (deno-runtime.md §4.1): lets connectTls send an SNI that
    // differs from the TCP target while also presenting a client certificate.
    const d = Deno as unknown as Record<symbol | string, unknown>;
    const internal = d[d.internal as symbol] as { serverNameSymbol?: symbol } | undefined;
    serverNameSymbol = internal?.serverNameSymbol;
  }
  return serverNameSymbol;
}

function defaultDial(addr: HttpPeer["addr"], signal: AbortSignal): Promise<Deno.Conn> {
  return addr.transport === "unix"
    ? Deno.connect({ transport: "unix", path: addr.path })
    : Deno.connect({ hostname: addr.hostname, port: addr.port, signal });
}

/**
 * TLS handshakes that timed out and still hold a socket, per reuse key.
 * Deno 2.9's `TlsConn.close()` during a pending handshake cancels the
 * handshake but keeps the socket open until the peer closes it, so a
 * handshake given up (on a timeout or an abort) is left to end on its own and
 * its connection is closed then. A peer holding this many timed-out ones is
 * not connected to again until one ends or has counted for
 * {@linkcode UNANSWERED_HOLD_MS}: a backend that accepts TCP and never
 * answers TLS would otherwise cost a socket per connect.
 */
const unanswered = new Map<string, number>();

/** Timed-out TLS handshakes one peer may hold before a connect to it fails at once. */
export const MAX_UNANSWERED_HANDSHAKES = 4;

/**
 * How long a timed-out TLS handshake counts against its peer at most, in ms:
 * a peer that recovers without ending the handshakes it left unanswered (a
 * dropped flow) is tried again after this.
 */
export const UNANSWERED_HOLD_MS = 60_000;

/** How many timed-out TLS handshakes to the peer with `reuseKey` count against it now. */
export function unansweredHandshakes(reuseKey: string): number {
  return unanswered.get(reuseKey) ?? 0;
}

/**
 * `conn.handshake()`, rejecting with the signal's reason when it aborts. A
 * handshake given up that way keeps running and its connection is closed
 * when it ends; one given up on a timeout (`timedOut()` at that moment)
 * counts against the peer meanwhile, for `holdMs` at most (see
 * {@linkcode unanswered}), one aborted
 * by the caller does not (a client that goes away says nothing of the peer).
 * `onGiveUp` tells the caller the connection is no longer its own.
 */
function handshake(
  conn: Deno.TlsConn,
  signal: AbortSignal,
  key: string,
  timedOut: () => boolean,
  holdMs: number,
  onGiveUp: () => void,
): Promise<Deno.TlsHandshakeInfo> {
  const hs = conn.handshake();
  const giveUp = () => {
    onGiveUp();
    let release = () => {};
    if (timedOut()) {
      unanswered.set(key, unansweredHandshakes(key) + 1);
      let counted = true;
      const hold = setTimeout(() => release(), holdMs);
      Deno.unrefTimer(hold);
      release = () => {
        if (!counted) return;
        counted = false;
        clearTimeout(hold);
        const n = unansweredHandshakes(key) - 1;
        if (n > 0) unanswered.set(key, n);
        else unanswered.delete(key);
      };
    }
    const done = () => {
      release();
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    hs.then(done, done);
  };
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      giveUp();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    hs.then((info) => {
      signal.removeEventListener("abort", onAbort);
      resolve(info);
    }, (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
  });
}

function connectError(err: unknown, peer: HttpPeer, timedOut: boolean, tls: boolean): ProxyError {
  if (err instanceof ProxyError) return err;
  const context = { peer: peer.address };
  if (timedOut) {
    return new ProxyError("CONNECT_TIMEOUT", `Cannot connect to ${peer.address}: timed out`, {
      source: "upstream",
      retryable: true,
      cause: err,
      context,
    });
  }
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof Deno.errors.ConnectionRefused) {
    return new ProxyError("CONNECT_REFUSED", `Cannot connect to ${peer.address}: ${msg}`, {
      source: "upstream",
      retryable: true,
      cause: err,
      context,
    });
  }
  if (tls) {
    return new ProxyError("TLS_HANDSHAKE", `Cannot connect to ${peer.address}: TLS: ${msg}`, {
      source: "upstream",
      cause: err,
      context,
    });
  }
  return new ProxyError("CONNECT_ERROR", `Cannot connect to ${peer.address}: ${msg}`, {
    source: "upstream",
    retryable: true,
    cause: err,
    context,
  });
}

/**
 * An HTTP/1.1 connection to one peer.
 *
 * Timeouts: each {@linkcode H1Connection.fill}, {@linkcode H1Connection.readInto}
 * and {@linkcode H1Connection.writeAll} call takes a limit in milliseconds;
 * when it passes, the socket is closed, which cancels the pending operation,
 * and the call rejects with `READ_TIMEOUT` / `WRITE_TIMEOUT`. One lazily
 * re-armed timer per connection serves all operations, so a fast operation
 * costs no `setTimeout`.
 *
 * Idle watch (used by the pool): while idle, the connection keeps one read
 * pending into its buffer. It completes only if the peer closes or sends
 * unexpected bytes, and the pool then drops the connection. When the
 * connection is taken for a new request, that pending read becomes the first
 * read of the response.
 *
 * @example Talk raw HTTP/1.1 to an origin
 * ```ts
 * import { H1Connection } from "@cirque/core/h1-connection";
 * import { HttpPeer } from "@cirque/core/peer";
 * import assert from "node:assert/strict";
 *
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("hi"));
 * const conn = await H1Connection.open(new HttpPeer(`127.0.0.1:${server.addr.port}`));
 * await conn.writeAll(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 1000);
 * let text = "";
 * for (let n; (n = await conn.fill(1000)) > 0;) {
 *   text += new TextDecoder().decode(conn.buf.subarray(conn.start, conn.end));
 *   conn.start = conn.end;
 * }
 * conn.close();
 * assert.match(text, /^HTTP\/1\.1 200 OK/);
 * assert.ok(text.endsWith("hi"));
 * ```
 */
export class H1Connection implements Poolable {
  /** The socket. */
  readonly conn: Deno.Conn;
  /**
   * The read buffer; unread bytes are `buf[start, end)`. It may be replaced
   * by a larger one ({@linkcode H1Connection.growBuffer}, or `fill` when full):
   * read the field again after either.
   */
  buf: Uint8Array;
  /** First unread byte in {@linkcode H1Connection.buf}. */
  start = 0;
  /** End of the bytes read into {@linkcode H1Connection.buf}. */
  end = 0;
  /** Pool key of the peer this connection belongs to. */
  readonly reuseKey: string;
  /** Requests started on this connection. */
  uses = 0;
  /** The ALPN protocol negotiated over TLS, or null. */
  readonly alpnProtocol: string | null;
  /** Called once when the connection closes (the connector counts open connections with it). */
  onClose: (() => void) | null = null;
  /**
   * Fails this connection with `ABORTED`: the abort listener of every
   * exchange on it, made once per connection rather than once per request.
   */
  readonly abortListener = (): void => this.fail("ABORTED", "Cannot complete request: aborted");

  #closed = false;
  #failCode: ErrorCode | null = null;
  #failMessage = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = 0;
  #readDeadline = 0;
  #writeDeadline = 0;
  /** The pending idle-watch read: bytes read, 0 at EOF, -1 on error (see #idleError). */
  #idle: Promise<number> | null = null;
  #idleError: unknown = null;
  #idleRead = (n: number | null): number => {
    const r = n ?? 0;
    this.#reportGone(r === 0 ? "closed" : "data");
    return r;
  };
  #idleFailed = (err: unknown): number => {
    this.#idleError = err;
    this.#reportGone("closed");
    return -1;
  };
  #onGone: ((reason: IdleGoneReason) => void) | null = null;
  /** Waiting in {@linkcode H1Connection.#unrefQueue}. */
  #unrefQueued = false;
  /** The socket is unref'd (idle since the last sweep of the queue). */
  #unrefd = false;
  readonly #maxBuf: number;

  /**
   * Idle connections to unref at the next sweep. `unref()` and `ref()` are an
   * op each and cost a busy proxy 2% (its connections are idle for
   * microseconds between requests), so a released connection is only queued,
   * and unref'd if it is still idle when the queue's one timer fires: the
   * process can exit at most about {@linkcode UNREF_AFTER_MS} after its last
   * upstream request, and a connection reused in between pays nothing.
   */
  static #unrefQueue: H1Connection[] = [];
  static #unrefTimer: ReturnType<typeof setTimeout> | undefined;
  static #sweepUnref = (): void => {
    const queue = H1Connection.#unrefQueue;
    H1Connection.#unrefQueue = [];
    H1Connection.#unrefTimer = undefined;
    for (const c of queue) {
      c.#unrefQueued = false;
      if (c.#closed || c.#onGone === null || c.#unrefd) continue;
      c.#unrefd = true;
      try {
        c.conn.unref();
      } catch { /* closed */ }
    }
  };

  /** Wraps an open socket. Prefer {@linkcode H1Connection.open}. */
  constructor(
    conn: Deno.Conn,
    reuseKey: string,
    bufferSize: number = H1_READ_BUFFER_SIZE,
    alpnProtocol: string | null = null,
  ) {
    this.conn = conn;
    this.reuseKey = reuseKey;
    this.#maxBuf = bufferSize;
    this.buf = new Uint8Array(Math.min(bufferSize, INITIAL_READ_BUFFER));
    this.alpnProtocol = alpnProtocol;
  }

  /**
   * Connects to `peer` (TCP or unix socket, then TLS if `peer.tls`), bounded
   * by `connectTimeout` for the TCP connect and `totalConnectTimeout` for
   * connect plus handshake. Rejects with a `ProxyError` (`CONNECT_REFUSED`,
   * `CONNECT_TIMEOUT`, `CONNECT_ERROR`, `TLS_HANDSHAKE`, `ABORTED`).
   *
   * TLS: SNI and certificate verification use `peer.sni`; `caCerts` are added
   * to the built-in roots; `cert`/`key` present a client certificate;
   * `verifyCert: false` disables only the host name check (Deno always
   * verifies the chain, so give the CA of a self-signed upstream in
   * `caCerts`). ALPN offers `http/1.1` only.
   */
  static async open(peer: HttpPeer, options: H1OpenOptions = {}): Promise<H1Connection> {
    const o = peer.options;
    const connectTimeout = o.connectTimeout ?? PEER_DEFAULTS.connectTimeout;
    const total = o.totalConnectTimeout ?? PEER_DEFAULTS.totalConnectTimeout;
    const started = performance.now();
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new DOMException("connect timed out", "TimeoutError"));
    }, peer.tls ? Math.min(connectTimeout, total) : connectTimeout);
    const user = options.signal;
    const onAbort = () => ctl.abort(user?.reason);
    user?.addEventListener("abort", onAbort, { once: true });
    let tcp: Deno.Conn | undefined;
    let tls = false;
    // Set when a given-up handshake took the connection over (it closes it when it ends).
    const handedOff = () => tcp = undefined;
    const hold = Math.min(options.unansweredHoldMs ?? UNANSWERED_HOLD_MS, MAX_TIMER_MS);
    // The handshake, on either TLS path: an abort gives it up (see `unanswered`).
    const secure = async (c: Deno.TlsConn): Promise<H1Connection> => {
      const info = await handshake(c, ctl.signal, peer.reuseKey, () => timedOut, hold, handedOff);
      return new H1Connection(c, peer.reuseKey, options.bufferSize, info.alpnProtocol);
    };
    try {
      if (user?.aborted) throw abortedError(peer);
      if (peer.tls && unansweredHandshakes(peer.reuseKey) >= MAX_UNANSWERED_HANDSHAKES) {
        throw new ProxyError(
          "CONNECT_ERROR",
          `Cannot connect to ${peer.address}: ${MAX_UNANSWERED_HANDSHAKES} TLS handshakes to it timed out and are still unanswered`,
          { source: "upstream", retryable: true, context: { peer: peer.address } },
        );
      }
      const addr = peer.addr;
      const hostname = addr.transport === "tcp" ? addr.hostname : "";
      const withCert = peer.tls && o.cert !== undefined && o.key !== undefined;
      if (withCert && addr.transport === "tcp") {
        // connectTls is the only way to present a client certificate; it takes
        // no signal, so a timeout closes the socket as soon as it exists.
        tls = true;
        const opts: Deno.ConnectTlsOptions & Deno.TlsCertifiedKeyPem = {
          hostname,
          port: addr.port,
          cert: o.cert!,
          key: o.key!,
          alpnProtocols: ["http/1.1"],
        };
        if (o.caCerts) opts.caCerts = o.caCerts;
        if (o.verifyCert === false) opts.unsafelyDisableHostnameVerification = true;
        if (peer.sni !== hostname) {
          const sym = internalServerNameSymbol();
          if (sym === undefined) {
            throw new ProxyError(
              "CONNECT_ERROR",
              `Cannot connect to ${peer.address}: SNI "${peer.sni}" differs from the host and a client certificate is set, which this Deno version cannot combine`,
              { source: "internal" },
            );
          }
          (opts as unknown as Record<symbol, string>)[sym] = peer.sni;
        }
        const pending = Deno.connectTls(opts);
        clearTimeout(timer);
        const hsTimer = setTimeout(() => {
          timedOut = true;
          ctl.abort();
        }, total);
        try {
          const c = await pending;
          tcp = c;
          return await secure(c);
        } finally {
          clearTimeout(hsTimer);
        }
      }
      const dial = options.dial ?? defaultDial;
      tcp = await dial(addr, ctl.signal);
      clearTimeout(timer);
      if (!peer.tls) {
        if (addr.transport === "tcp") (tcp as Deno.TcpConn).setNoDelay?.(true);
        return new H1Connection(tcp, peer.reuseKey, options.bufferSize);
      }
      tls = true;
      const hsTimer = setTimeout(() => {
        timedOut = true;
        ctl.abort();
      }, Math.max(0, total - (performance.now() - started)));
      let current: Deno.Conn = tcp;
      const close = () => {
        try {
          current.close();
        } catch { /* already closed or taken over */ }
      };
      ctl.signal.addEventListener("abort", close, { once: true });
      try {
        const opts: Deno.StartTlsOptions = { hostname: peer.sni, alpnProtocols: ["http/1.1"] };
        if (o.caCerts) opts.caCerts = o.caCerts;
        if (o.verifyCert === false) opts.unsafelyDisableHostnameVerification = true;
        const c = await Deno.startTls(tcp as Deno.TcpConn, opts);
        // From here an abort gives the handshake up instead of closing (see `unanswered`).
        ctl.signal.removeEventListener("abort", close);
        tcp = current = c;
        return await secure(c);
      } finally {
        clearTimeout(hsTimer);
        ctl.signal.removeEventListener("abort", close);
      }
    } catch (err) {
      try {
        tcp?.close();
      } catch { /* already closed */ }
      if (user?.aborted && !timedOut) throw abortedError(peer, err);
      throw connectError(err, peer, timedOut, tls);
    } finally {
      clearTimeout(timer);
      user?.removeEventListener("abort", onAbort);
    }
  }

  /** Whether the socket is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads more bytes into {@linkcode H1Connection.buf} after `end` and returns
   * how many (0 at end of stream). When the buffer is full it first moves the
   * unread bytes to the front; when no byte was unread it starts at 0. Throws
   * `RangeError` if `buf[start, end)` already fills the whole buffer.
   */
  async fill(timeoutMs: number): Promise<number> {
    if (this.start === this.end) this.start = this.end = 0;
    else if (this.end === this.buf.length) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else if (!this.growBuffer()) {
        throw new RangeError("Cannot read: the connection buffer is full");
      }
    }
    const idle = this.#idle;
    if (idle !== null) {
      // The idle watch read (into buf[0..]) becomes this read.
      this.#idle = null;
      this.#arm(timeoutMs, "READ_TIMEOUT");
      const n = await idle;
      this.#readDeadline = 0;
      if (n < 0) throw this.#ioError(this.#idleError, "read");
      this.end += n;
      return n;
    }
    this.#arm(timeoutMs, "READ_TIMEOUT");
    try {
      const n = await this.conn.read(this.end === 0 ? this.buf : this.buf.subarray(this.end));
      if (n === null) return 0;
      this.end += n;
      return n;
    } catch (err) {
      throw this.#ioError(err, "read");
    } finally {
      this.#readDeadline = 0;
    }
  }

  /**
   * Grows {@linkcode H1Connection.buf} to its maximum size, keeping the unread
   * bytes (at the same offsets). Returns false if it is that size already.
   * Body readers call it before large reads; a small response never pays for
   * a big buffer.
   */
  growBuffer(): boolean {
    const old = this.buf;
    if (old.length >= this.#maxBuf) return false;
    const next = new Uint8Array(this.#maxBuf);
    if (this.end > 0) next.set(old.subarray(0, this.end));
    this.buf = next;
    return true;
  }

  /**
   * Reads directly into `target` (bypassing the buffer, which must be empty)
   * and returns how many bytes arrived (0 at end of stream).
   */
  async readInto(target: Uint8Array, timeoutMs: number): Promise<number> {
    if (this.#idle !== null || this.start !== this.end) {
      throw new RangeError("Cannot read directly: buffered bytes are pending");
    }
    this.#arm(timeoutMs, "READ_TIMEOUT");
    try {
      return (await this.conn.read(target)) ?? 0;
    } catch (err) {
      throw this.#ioError(err, "read");
    } finally {
      this.#readDeadline = 0;
    }
  }

  /**
   * Writes all of `bytes`, each write bounded by `timeoutMs`: the limit is the
   * longest wait without progress (as nginx's `proxy_send_timeout`), not the
   * time to write everything.
   */
  async writeAll(bytes: Uint8Array, timeoutMs: number): Promise<void> {
    this.#arm(timeoutMs, "WRITE_TIMEOUT");
    try {
      let n = await this.conn.write(bytes);
      while (n < bytes.length) {
        // Progress moves the deadline; the armed timer re-checks it, so a
        // partial write costs a field write, not a timer.
        this.#writeDeadline = coarseNow() + timeoutMs;
        n += await this.conn.write(bytes.subarray(n));
      }
    } catch (err) {
      throw this.#ioError(err, "write");
    } finally {
      this.#writeDeadline = 0;
    }
  }

  /**
   * Closes the socket; pending and later operations reject with `code`.
   * Used for cancellation (`ABORTED`) and by the timeouts.
   */
  fail(code: ErrorCode, message: string): void {
    if (this.#failCode === null) {
      this.#failCode = code;
      this.#failMessage = message;
    }
    this.close();
  }

  /** Closes the socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onGone = null;
    if (this.#unrefQueued) this.#dequeueUnref();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.conn.close();
    } catch { /* already closed */ }
    const cb = this.onClose;
    if (cb !== null) {
      this.onClose = null;
      cb();
    }
  }

  /** Tells the pool (once) that this idle connection is gone. */
  #reportGone(reason: IdleGoneReason): void {
    const cb = this.#onGone;
    if (cb !== null) {
      this.#onGone = null;
      cb(reason);
    }
  }

  /** Pool hook: starts the idle watch. See {@linkcode Poolable.watchIdle}. */
  watchIdle(onGone: (reason: IdleGoneReason) => void): IdleGoneReason | null {
    if (this.#closed) return "closed";
    if (this.start !== this.end) return "data";
    this.start = this.end = 0;
    this.#onGone = onGone;
    if (this.#idle === null) {
      // Prebound handlers: no closures per release. The derived promise never
      // rejects (a failure becomes -1 and #idleError), so nothing is unhandled.
      this.#idle = this.conn.read(this.buf).then(this.#idleRead, this.#idleFailed);
    }
    if (!this.#unrefd && !this.#unrefQueued) {
      this.#unrefQueued = true;
      H1Connection.#unrefQueue.push(this);
      if (H1Connection.#unrefTimer === undefined) {
        H1Connection.#unrefTimer = setTimeout(H1Connection.#sweepUnref, UNREF_AFTER_MS);
        Deno.unrefTimer(H1Connection.#unrefTimer);
      }
    }
    return null;
  }

  /** Leaves the unref queue (on close); stops its timer when no one is left. */
  #dequeueUnref(): void {
    this.#unrefQueued = false;
    const queue = H1Connection.#unrefQueue;
    const i = queue.indexOf(this);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0 && H1Connection.#unrefTimer !== undefined) {
      clearTimeout(H1Connection.#unrefTimer);
      H1Connection.#unrefTimer = undefined;
    }
  }

  /** Pool hook: ends the idle watch before the connection is handed out. */
  unwatchIdle(): boolean {
    if (this.#closed || this.#onGone === null) return false;
    this.#onGone = null;
    if (this.#unrefd) {
      this.#unrefd = false;
      try {
        this.conn.ref();
      } catch { /* closed */ }
    }
    return true;
  }

  #arm(ms: number, code: ErrorCode): void {
    if (this.#closed) return;
    const deadline = coarseNow() + ms;
    if (code === "READ_TIMEOUT") this.#readDeadline = deadline;
    else this.#writeDeadline = deadline;
    if (this.#timer === undefined || this.#timerAt > deadline + 1) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timerAt = deadline;
      this.#timer = setTimeout(this.#onTimer, ms);
      Deno.unrefTimer(this.#timer);
    }
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = performance.now();
    const r = this.#readDeadline;
    const w = this.#writeDeadline;
    if (r !== 0 && r - now <= 1) {
      this.fail("READ_TIMEOUT", `Cannot read from upstream ${this.reuseKey}: timed out`);
      return;
    }
    if (w !== 0 && w - now <= 1) {
      this.fail("WRITE_TIMEOUT", `Cannot write to upstream ${this.reuseKey}: timed out`);
      return;
    }
    const next = r === 0 ? w : w === 0 ? r : Math.min(r, w);
    if (next === 0) return;
    this.#timerAt = next;
    this.#timer = setTimeout(this.#onTimer, next - now);
    Deno.unrefTimer(this.#timer);
  };

  #ioError(err: unknown, op: string): ProxyError {
    if (this.#failCode !== null) {
      return new ProxyError(this.#failCode, this.#failMessage, {
        source: this.#failCode === "ABORTED" ? "downstream" : "upstream",
        cause: err,
      });
    }
    this.close();
    const msg = err instanceof Error ? err.message : String(err);
    return new ProxyError("CONNECTION_CLOSED", `Cannot ${op} upstream: ${msg}`, {
      source: "upstream",
      cause: err,
    });
  }
}
