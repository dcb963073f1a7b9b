/**
 * The one error type of Cirque's proxy path.
 *
 * Callers match on {@linkcode ProxyError.code}, never on messages. The
 * `instanceof` check works across two copies of this package (a brand symbol
 * from `Symbol.for`), so an error thrown by one copy is still recognised by
 * another.
 *
 * @module
 */

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export const ERROR_CODES = [
  "CONNECT_REFUSED",
  "CONNECT_TIMEOUT",
  "CONNECT_ERROR",
  "TLS_HANDSHAKE",
  "READ_TIMEOUT",
  "WRITE_TIMEOUT",
  "CONNECTION_CLOSED",
  "INVALID_RESPONSE",
  "INVALID_REQUEST",
  "RESPONSE_TOO_LARGE",
  "UPSTREAM_STATUS",
  "ABORTED",
  "INTERNAL",
] as const;

/** One of {@linkcode ERROR_CODES}. */
export type ErrorCode = typeof ERROR_CODES[number];

/** Which side of the proxy caused an error. */
export type ErrorSource = "upstream" | "downstream" | "internal";

/** Options of {@linkcode ProxyError}. */
export interface ProxyErrorOptions {
  /**
   * Which side caused it.
   * @default {"internal"}
   */
  source?: ErrorSource;
  /**
   * Whether the same request may be tried again (on another connection or peer).
   * @default {false}
   */
  retryable?: boolean;
  /** The underlying error. */
  cause?: unknown;
  /** Free-form details (peer address, byte offsets, …) for logs. */
  context?: Record<string, unknown>;
}

const BRAND: unique symbol = Symbol.for("@cirque/core/ProxyError") as never;

/**
 * An error on the proxy path with a stable `code`.
 *
 * @example Create and match an error
 * ```ts
 * import { ProxyError } from "@cirque/core/error";
 * import assert from "node:assert/strict";
 *
 * const err = new ProxyError("CONNECT_TIMEOUT", "connect to 10.0.0.1:80 timed out", {
 *   source: "upstream",
 *   retryable: true,
 * });
 * assert.ok(err instanceof ProxyError);
 * assert.equal(err.code, "CONNECT_TIMEOUT");
 * assert.equal(err.retryable, true);
 * ```
 */
export class ProxyError extends Error {
  /** The stable machine-readable code. */
  readonly code: ErrorCode;
  /** Which side caused the error. */
  readonly source: ErrorSource;
  /** Whether the request may be retried. Mutable: phases such as `failToConnect` may decide. */
  retryable: boolean;
  /** Extra details for logs. */
  readonly context: Record<string, unknown>;

  /** Creates an error with a code and a human-readable message. */
  constructor(code: ErrorCode, message: string, options: ProxyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProxyError";
    this.code = code;
    this.source = options.source ?? "internal";
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
  }

  /** Brand for cross-copy `instanceof`. */
  get [BRAND](): true {
    return true;
  }

  /** `instanceof` that also recognises errors from another copy of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/**
 * Returns `err` if it is a {@linkcode ProxyError}, else wraps it as `INTERNAL`
 * (or `ABORTED` for an `AbortError`).
 *
 * @example
 * ```ts
 * import { toProxyError } from "@cirque/core/error";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toProxyError(new Error("boom")).code, "INTERNAL");
 * ```
 */
export function toProxyError(err: unknown, source: ErrorSource = "internal"): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err instanceof DOMException && (err.name === "AbortError" || err.name === "TimeoutError")) {
    return new ProxyError("ABORTED", err.message || "aborted", { source, cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProxyError("INTERNAL", message, { source, cause: err });
}
