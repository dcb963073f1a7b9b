/**
 * {@linkcode HttpHealthCheck}: a backend is healthy when an HTTP/1.1 request
 * to it gets an acceptable response in time.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { HealthCheck } from "./health_check.ts";
import { checkThreshold, requirePort } from "./_check_util.ts";
import type { RequestHead, UpstreamResponse } from "@cirque/core/connector";
import { MAX_TIMER_MS } from "@cirque/core/deadline";
import { type ErrorCode, ProxyError } from "@cirque/core/error";
import { H1Connector } from "@cirque/core/h1";
import { isNullBodyStatus } from "@cirque/core/http-header";
import { HttpPeer, type HttpPeerInit } from "@cirque/core/peer";

/** Options of {@linkcode HttpHealthCheck}. */
export interface HttpHealthCheckOptions {
  /**
   * `Host` header. With TLS it is not the server name: that is `sni`.
   * @default {`sni` when given (the site the backend is asked for, as Pingora's one `host` for both), else the backend's address}
   */
  host?: string;
  /**
   * Request path and query (encoded as `fetch` would: `"/a b"` is sent as `/a%20b`).
   * @default {"/"}
   */
  path?: string;
  /**
   * Request method.
   * @default {"GET"}
   */
  method?: string;
  /**
   * Extra request headers. Only these are sent, besides `Host` and (without
   * `reuseConnection`) `Connection: close`: no `User-Agent` and no
   * `Accept-Encoding`, and a compressed body reaches the validator as sent.
   */
  headers?: HeadersInit;
  /**
   * Use HTTPS.
   * @default {false}
   */
  tls?: boolean;
  /**
   * Server name sent as SNI and checked against the certificate (with `tls`),
   * like the `sni` of an `HttpPeer`.
   * @default {the backend's hostname}
   */
  sni?: string;
  /**
   * Check that the certificate is for the server name (with `tls`). `false`
   * skips only that: Deno always verifies the chain, so the CA of a
   * self-signed backend still belongs in `caCerts`.
   * @default {true}
   */
  verifyCert?: boolean;
  /** Extra trusted root certificates (PEM) for HTTPS. */
  caCerts?: string[];
  /**
   * Check this port instead of the backend's.
   * @default {undefined}
   */
  port?: number;
  /**
   * Bound on the whole check (connect, TLS handshake, request, response head
   * and body), in ms; above 0, at most 2147483647.
   * @default {2000}
   */
  timeoutMs?: number;
  /**
   * Keep the connection open between checks. When false, every check opens a
   * new connection, sends `Connection: close` and closes it afterwards, so a
   * kept-alive connection never answers for a backend that takes no new ones.
   * @default {false}
   */
  reuseConnection?: boolean;
  /**
   * Decides if a response passes: return `false` or throw to fail. Its body
   * reads at most 1 MiB: reading past that rejects.
   * @default {status 200 passes}
   */
  validator?: (response: Response) => boolean | void | Promise<boolean | void>;
  /**
   * Consecutive passing checks that make an unhealthy backend healthy.
   * @default {1}
   */
  consecutiveSuccess?: number;
  /**
   * Consecutive failing checks that make a healthy backend unhealthy.
   * @default {1}
   */
  consecutiveFailure?: number;
  /** Called on each flip. */
  onHealthChange?: (backend: Backend, healthy: boolean) => void | Promise<void>;
}

const TIMEOUTS: readonly ErrorCode[] = ["CONNECT_TIMEOUT", "READ_TIMEOUT", "WRITE_TIMEOUT"];

/** Body bytes read at most; a longer body is read this far, then the connection is closed. */
const MAX_BODY = 1 << 20;
/** How long a connection kept with `reuseConnection` may stay idle. */
const KEEP_IDLE_MS = 3_600_000;
/** Methods `fetch` upper-cases. */
const NORMALIZED_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Reading the body went past {@linkcode MAX_BODY}. */
class BodyLimitError extends RangeError {
  constructor() {
    super(`Cannot read the health check response: the body is longer than ${MAX_BODY} bytes`);
  }
}

/**
 * Sends one HTTP/1.1 request per check over Cirque's own connector
 * (`H1Connector` from `@cirque/core/h1`, with a pool of its own, never the
 * proxy's) and validates the response; the body is then read to its end (up
 * to 1 MiB, then the connection is closed), and a body that fails or does not
 * end within the timeout fails the check even after a passing status (when
 * the validator threw, its error is the one reported). Over TLS the
 * connection takes the peer settings of a proxied request: `sni`,
 * `verifyCert` and `caCerts`. The response is parsed as strictly as the
 * proxy parses it: a malformed one (say, a body after a `HEAD`) fails.
 *
 * Pingora's `HttpHealthCheck`: by default a fresh connection per check; the
 * timeout bounds the whole exchange rather than connect and read apart.
 * Call {@linkcode HttpHealthCheck.close} (or `using`) when done if
 * `reuseConnection` is set.
 *
 * @example Custom validator
 * ```ts
 * import { HttpHealthCheck } from "@cirque/lb/http-health-check";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response("degraded", { status: 200 }));
 * const check = new HttpHealthCheck({
 *   validator: async (res) => (await res.text()) === "ok",
 * });
 * await assert.rejects(check.check(new Backend(`127.0.0.1:${server.addr.port}`)));
 * ```
 */
export class HttpHealthCheck implements HealthCheck {
  #options: HttpHealthCheckOptions;
  #success: number;
  #failure: number;
  #timeoutMs: number;
  #reuse: boolean;
  #head: RequestHead;
  #peerInit: HttpPeerInit;
  #connector: H1Connector | undefined;

  /** Creates the check; throws `TypeError` on a bad path, method or header. */
  constructor(options: HttpHealthCheckOptions = {}) {
    this.#options = options;
    this.#success = checkThreshold("consecutiveSuccess", options.consecutiveSuccess ?? 1);
    this.#failure = checkThreshold("consecutiveFailure", options.consecutiveFailure ?? 1);
    const timeoutMs = options.timeoutMs ?? 2000;
    if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
      throw new RangeError(
        `Cannot create HttpHealthCheck: timeoutMs ${timeoutMs} is not above 0 and at most ${MAX_TIMER_MS}`,
      );
    }
    this.#timeoutMs = timeoutMs;
    this.#reuse = options.reuseConnection ?? false;
    const path = options.path ?? "/";
    if (!path.startsWith("/")) {
      throw new TypeError(`Cannot create HttpHealthCheck: path "${path}" does not start with "/"`);
    }
    // The target fetch would send for this path: percent-encoded, without a fragment.
    const url = new URL(`http://host${path}`);
    let method = options.method ?? "GET";
    if (!TOKEN.test(method)) {
      throw new TypeError(`Cannot create HttpHealthCheck: method "${method}" is not a token`);
    }
    if (NORMALIZED_METHODS.includes(method.toUpperCase())) method = method.toUpperCase();
    const headers = new Headers(options.headers);
    // A backend chosen by name (why `sni` is set) answers its default site to an address Host.
    const host = options.host ?? (options.tls ? options.sni : undefined);
    if (host !== undefined) headers.set("host", host);
    if (!this.#reuse) headers.set("connection", "close");
    this.#head = { method, path: url.pathname + url.search, headers: [...headers] };
    const t = timeoutMs;
    this.#peerInit = {
      tls: options.tls ?? false,
      ...(options.sni !== undefined ? { sni: options.sni } : {}),
      options: {
        // Every wait is bounded by the check's timeout (the signal), these only name it.
        connectTimeout: t,
        totalConnectTimeout: t,
        readTimeout: t,
        writeTimeout: t,
        // A connection is kept only with reuseConnection, for an hour at most (the
        // backend's keep-alive timeout usually ends it first).
        idleTimeout: this.#reuse ? KEEP_IDLE_MS : 0,
        maxIdlePerPeer: this.#reuse ? 1 : 0,
        verifyCert: options.verifyCert ?? true,
        ...(options.caCerts ? { caCerts: options.caCerts } : {}),
      },
    };
  }

  /**
   * Sends the request and reads the response body; rejects when either fails, times out or
   * is not accepted.
   */
  async check(backend: Backend, signal?: AbortSignal): Promise<void> {
    const o = this.#options;
    const port = requirePort(backend, o.port);
    const host = backend.kind === "ipv6" ? `[${backend.hostname}]` : backend.hostname;
    const peer = new HttpPeer(`${host}:${port}`, this.#peerInit);
    const failed = `health check of ${backend.address} failed`;
    // Bounds connect, head and body; aborted at the end in any case, which
    // closes the connection unless the exchange ended cleanly before.
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(new DOMException("health check timed out", "TimeoutError"));
    }, this.#timeoutMs);
    const bound = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
    // The connector's own timeouts equal the check's: whichever fires first, it is the check's.
    const why = (err: unknown): string =>
      timedOut || (err instanceof ProxyError && TIMEOUTS.includes(err.code))
        ? `timed out after ${this.#timeoutMs} ms`
        : err instanceof Error
        ? err.message
        : String(err);
    try {
      this.#connector ??= new H1Connector({ maxIdle: this.#reuse ? Infinity : 0 });
      let res: UpstreamResponse;
      try {
        res = await this.#connector.request(peer, this.#head, null, { signal: bound });
      } catch (err) {
        throw new Error(`${failed}: ${why(err)}`, { cause: err });
      }
      const body = res.body === null ? null : bounded(res.body, why);
      let ok: boolean;
      let rest = body;
      if (o.validator) {
        let response: Response | undefined;
        try {
          response = toResponse(res, body);
          ok = (await o.validator(response)) !== false;
        } catch (err) {
          // The validator's own error is the one reported.
          const left = unread(response, body);
          if (left !== null) await drain(left).catch(() => {});
          throw err;
        }
        rest = unread(response, body);
      } else {
        ok = res.status === 200;
      }
      try {
        if (rest !== null) await drain(rest);
      } catch (err) {
        throw new Error(`${failed}: status ${res.status}, body not read: ${why(err)}`, {
          cause: err,
        });
      }
      if (!ok) throw new Error(`${failed}: status ${res.status}`);
    } finally {
      clearTimeout(timer);
      ctl.abort();
    }
  }

  /** `consecutiveSuccess` or `consecutiveFailure`. */
  healthThreshold(success: boolean): number {
    return success ? this.#success : this.#failure;
  }

  /** Forwards to the `onHealthChange` option. */
  onHealthChange(backend: Backend, healthy: boolean): void | Promise<void> {
    return this.#options.onHealthChange?.(backend, healthy);
  }

  /** Closes the kept connection, if any (a later check opens a new one). */
  close(): void {
    void this.#connector?.close();
    this.#connector = undefined;
  }

  /** Same as {@linkcode HttpHealthCheck.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** The response as a `Response` for the validator. */
function toResponse(res: UpstreamResponse, body: ReadableStream<Uint8Array> | null): Response {
  return new Response(isNullBodyStatus(res.status) ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/** What is left to read of the body after the validator: nothing when it read the body. */
function unread(
  response: Response | undefined,
  body: ReadableStream<Uint8Array> | null,
): ReadableStream<Uint8Array> | null {
  if (response === undefined || response.body === null) return body;
  return response.bodyUsed ? null : response.body;
}

/**
 * `body` read at most {@linkcode MAX_BODY} bytes: reading past that cancels
 * it (which closes the connection) and errors with a `BodyLimitError`; a
 * failed read errors with the check's description of it.
 */
function bounded(
  body: ReadableStream<Uint8Array>,
  why: (err: unknown) => string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let total = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new Error(why(err), { cause: err });
      }
      if (chunk.done) {
        c.close();
        return;
      }
      total += chunk.value.byteLength;
      if (total > MAX_BODY) {
        await reader.cancel().catch(() => {});
        throw new BodyLimitError();
      }
      c.enqueue(chunk.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

// Reads the rest of the body; its first MAX_BODY bytes suffice. Rejects when a read fails or
// the check's timeout aborts it.
async function drain(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  try {
    while (!(await reader.read()).done);
  } catch (err) {
    if (!(err instanceof BodyLimitError)) throw err;
  } finally {
    reader.releaseLock();
  }
}
