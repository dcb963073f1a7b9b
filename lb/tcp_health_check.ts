/**
 * {@linkcode TcpHealthCheck}: a backend is healthy when a TCP connection (and
 * optionally a TLS handshake) to it succeeds.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { HealthCheck } from "./health_check.ts";
import { checkThreshold, requirePort } from "./_check_util.ts";

/** TLS settings of a {@linkcode TcpHealthCheck}. */
export interface TcpHealthCheckTls {
  /**
   * Name sent as SNI and verified against the certificate.
   * @default {the backend's hostname}
   */
  serverName?: string;
  /** Extra trusted root certificates (PEM). */
  caCerts?: string[];
}

/** Options of {@linkcode TcpHealthCheck}. */
export interface TcpHealthCheckOptions {
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
  /**
   * Bound on connect (and TLS handshake), in ms.
   * @default {1000}
   */
  connectTimeoutMs?: number;
  /**
   * Also complete a TLS handshake.
   * @default {undefined}
   */
  tls?: TcpHealthCheckTls;
  /** Called on each flip. */
  onHealthChange?: (backend: Backend, healthy: boolean) => void | Promise<void>;
}

/**
 * Connects to the backend (fresh connection every time) and closes at once.
 * Pingora's `TcpHealthCheck`.
 *
 * @example Two failures in a row to flip
 * ```ts
 * import { TcpHealthCheck } from "@cirque/lb/tcp-health-check";
 * import assert from "node:assert/strict";
 *
 * const check = new TcpHealthCheck({ consecutiveFailure: 2 });
 * assert.equal(check.healthThreshold(false), 2);
 * assert.equal(check.healthThreshold(true), 1);
 * ```
 */
export class TcpHealthCheck implements HealthCheck {
  #success: number;
  #failure: number;
  #timeoutMs: number;
  #tls: TcpHealthCheckTls | undefined;
  #onChange: ((backend: Backend, healthy: boolean) => void | Promise<void>) | undefined;

  /** Creates the check. */
  constructor(options: TcpHealthCheckOptions = {}) {
    this.#success = checkThreshold("consecutiveSuccess", options.consecutiveSuccess ?? 1);
    this.#failure = checkThreshold("consecutiveFailure", options.consecutiveFailure ?? 1);
    this.#timeoutMs = options.connectTimeoutMs ?? 1000;
    this.#tls = options.tls;
    this.#onChange = options.onHealthChange;
  }

  /** Connects (and handshakes); rejects on failure or timeout. */
  async check(backend: Backend, signal?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const bound = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let conn: Deno.Conn | undefined;
    try {
      if (backend.kind === "unix") {
        conn = await Deno.connect({ transport: "unix", path: backend.hostname });
      } else {
        conn = await Deno.connect({
          hostname: backend.hostname,
          port: requirePort(backend),
          signal: bound,
        });
      }
      if (this.#tls !== undefined) {
        const tlsConn = await Deno.startTls(conn as Deno.TcpConn, {
          hostname: this.#tls.serverName ?? backend.hostname,
          ...(this.#tls.caCerts ? { caCerts: this.#tls.caCerts } : {}),
        });
        conn = tlsConn;
        const abort = () => tlsConn.close();
        bound.addEventListener("abort", abort, { once: true });
        try {
          await tlsConn.handshake();
        } finally {
          bound.removeEventListener("abort", abort);
        }
      }
      if (bound.aborted) throw bound.reason;
    } finally {
      try {
        conn?.close();
      } catch {
        // already closed
      }
    }
  }

  /** `consecutiveSuccess` or `consecutiveFailure`. */
  healthThreshold(success: boolean): number {
    return success ? this.#success : this.#failure;
  }

  /** Forwards to the `onHealthChange` option. */
  onHealthChange(backend: Backend, healthy: boolean): void | Promise<void> {
    return this.#onChange?.(backend, healthy);
  }
}
