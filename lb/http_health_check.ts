/**
 * {@linkcode HttpHealthCheck}: a backend is healthy when an HTTP request to it
 * gets an acceptable response in time.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { HealthCheck } from "./health_check.ts";
import { checkThreshold, requirePort } from "./_check_util.ts";

/** Options of {@linkcode HttpHealthCheck}. */
export interface HttpHealthCheckOptions {
  /**
   * `Host` header (and, with TLS, nothing else: the certificate is checked
   * against the backend's address).
   * @default {the backend's address}
   */
  host?: string;
  /**
   * Request path and query.
   * @default {"/"}
   */
  path?: string;
  /**
   * Request method.
   * @default {"GET"}
   */
  method?: string;
  /** Extra request headers. */
  headers?: HeadersInit;
  /**
   * Use HTTPS.
   * @default {false}
   */
  tls?: boolean;
  /** Extra trusted root certificates (PEM) for HTTPS. */
  caCerts?: string[];
  /**
   * Check this port instead of the backend's.
   * @default {undefined}
   */
  port?: number;
  /**
   * Bound on the whole check (connect, request, response head and body), in ms.
   * @default {2000}
   */
  timeoutMs?: number;
  /**
   * Keep the connection open between checks. When false, every check opens
   * and closes its own connection.
   * @default {false}
   */
  reuseConnection?: boolean;
  /**
   * Decides if a response passes: return `false` or throw to fail.
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

const MAX_DRAIN = 1 << 20;

/**
 * Sends one HTTP request per check and validates the response; the body is
 * then read to its end (up to 1 MiB, the rest is cancelled), and a body that
 * fails or does not end within the timeout fails the check even after a
 * passing status (when the validator threw, its error is the one reported).
 * Pingora's `HttpHealthCheck`, over `fetch`: the timeout bounds the whole
 * exchange rather than connect and read apart.
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
  #client: Deno.HttpClient | undefined;

  /** Creates the check. */
  constructor(options: HttpHealthCheckOptions = {}) {
    this.#options = options;
    this.#success = checkThreshold("consecutiveSuccess", options.consecutiveSuccess ?? 1);
    this.#failure = checkThreshold("consecutiveFailure", options.consecutiveFailure ?? 1);
    const path = options.path ?? "/";
    if (!path.startsWith("/")) {
      throw new TypeError(`Cannot create HttpHealthCheck: path "${path}" does not start with "/"`);
    }
  }

  #newClient(reuse: boolean): Deno.HttpClient {
    return Deno.createHttpClient({
      allowHost: true,
      ...(reuse ? {} : { poolMaxIdlePerHost: 0 }),
      ...(this.#options.caCerts ? { caCerts: this.#options.caCerts } : {}),
    });
  }

  /**
   * Sends the request and reads the response body; rejects when either fails, times out or
   * is not accepted.
   */
  async check(backend: Backend, signal?: AbortSignal): Promise<void> {
    const o = this.#options;
    const port = requirePort(backend, o.port);
    const host = backend.kind === "ipv6" ? `[${backend.hostname}]` : backend.hostname;
    const url = `${o.tls ? "https" : "http"}://${host}:${port}${o.path ?? "/"}`;
    const timeout = AbortSignal.timeout(o.timeoutMs ?? 2000);
    const bound = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const reuse = o.reuseConnection ?? false;
    const client = reuse ? (this.#client ??= this.#newClient(true)) : this.#newClient(false);
    try {
      const headers = new Headers(o.headers);
      if (o.host !== undefined) headers.set("host", o.host);
      const res = await fetch(url, {
        method: o.method ?? "GET",
        headers,
        client,
        redirect: "manual",
        signal: bound,
      });
      let ok: boolean;
      try {
        ok = o.validator ? (await o.validator(res)) !== false : res.status === 200;
      } catch (err) {
        // The validator's own error is the one reported.
        await drain(res).catch(() => {});
        throw err;
      }
      try {
        await drain(res);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(
          `health check of ${backend.address} failed: status ${res.status}, body not read: ${why}`,
          { cause: err },
        );
      }
      if (!ok) {
        throw new Error(`health check of ${backend.address} failed: status ${res.status}`);
      }
    } finally {
      if (!reuse) client.close();
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

  /** Closes the kept connection, if any. */
  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  /** Same as {@linkcode HttpHealthCheck.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

// Reads the rest of the body (up to MAX_DRAIN, then cancels); rejects when a read fails or
// the check's timeout aborts it.
async function drain(res: Response): Promise<void> {
  if (res.body === null || res.bodyUsed) return;
  const reader = res.body.getReader();
  let total = 0;
  try {
    while (total <= MAX_DRAIN) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.byteLength;
    }
    await reader.cancel();
  } finally {
    reader.releaseLock();
  }
}
