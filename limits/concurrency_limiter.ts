/**
 * A concurrency limiter: at most N requests in flight per key.
 *
 * @module
 */
import { PROBLEM_TYPES, problemResponse, sfString } from "./_headers.ts";
import { Inflight, type InflightGuard, type InflightOptions } from "./inflight.ts";
import { byClientIp, type KeyExtractor, type RequestLike } from "./key_extractor.ts";
import type { SketchKey } from "./estimator.ts";

/** Options of {@linkcode ConcurrencyLimiter}. */
export interface ConcurrencyLimiterOptions extends InflightOptions {
  /**
   * Status of the refusal: 503 (the server is at capacity, problem type
   * `temporary-reduced-capacity`) or 429 (the client asks too much, problem
   * type `quota-exceeded`).
   * @default {503}
   */
  status?: 429 | 503;
  /**
   * `Retry-After` seconds of a refusal.
   * @default {1}
   */
  retryAfterSeconds?: number;
  /**
   * The policy name in the RateLimit header fields (printable ASCII).
   * @default {"concurrency"}
   */
  policy?: string;
  /**
   * How {@linkcode ConcurrencyLimiter.acquireRequest} keys a request.
   * @default {byClientIp()}
   */
  key?: KeyExtractor;
}

/**
 * The answer of {@linkcode ConcurrencyLimiter.acquire}: a permit to release
 * when the request ends (`using` does it), or the response to send instead.
 */
export type ConcurrencyDecision =
  | { kind: "permit"; permit: InflightGuard }
  | { kind: "respond"; response: Response };

/**
 * Allows at most `limit` requests in flight per key, on an {@linkcode Inflight}
 * sketch (default 4 × 8192, 128 KiB). A permit is an {@linkcode InflightGuard}:
 * release it once the response is done (or hold it with `using`); a second
 * release does nothing. Refusals carry `RateLimit-Policy` (`qu="concurrent-requests"`),
 * `RateLimit` and `Retry-After`. The sketch can over-count, never under-count,
 * so a key is at worst refused early.
 *
 * @example Hold a permit for the length of a request
 * ```ts
 * import { ConcurrencyLimiter } from "@cirque/limits/concurrency-limiter";
 * import assert from "node:assert/strict";
 *
 * const limiter = new ConcurrencyLimiter(1);
 * const first = limiter.acquire("10.0.0.1");
 * assert.equal(first.kind, "permit");
 * const second = limiter.acquire("10.0.0.1");
 * assert.equal(second.kind, "respond");
 * if (second.kind === "respond") assert.equal(second.response.status, 503);
 * if (first.kind === "permit") first.permit.release();
 * assert.equal(limiter.acquire("10.0.0.1").kind, "permit");
 * ```
 */
export class ConcurrencyLimiter {
  #limit: number;
  #inflight: Inflight;
  #status: 429 | 503;
  #retryAfter: string;
  #key: KeyExtractor;
  #policyName: string;
  #policyField: string;
  #refusedField: string;
  #none: InflightGuard;

  /** Creates a limiter of `limit` concurrent units per key. */
  constructor(limit: number, options: ConcurrencyLimiterOptions = {}) {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot create ConcurrencyLimiter: limit must be a non-negative integer, got ${limit}`,
      );
    }
    const status = options.status ?? 503;
    if (status !== 429 && status !== 503) {
      throw new RangeError(
        `Cannot create ConcurrencyLimiter: status must be 429 or 503, got ${status}`,
      );
    }
    const retryAfter = options.retryAfterSeconds ?? 1;
    if (!Number.isInteger(retryAfter) || retryAfter < 0) {
      throw new RangeError(
        `Cannot create ConcurrencyLimiter: retryAfterSeconds must be a non-negative integer, got ${retryAfter}`,
      );
    }
    const { status: _s, retryAfterSeconds: _r, policy: _p, key: _k, ...sketch } = options;
    this.#limit = limit;
    this.#inflight = new Inflight(sketch);
    this.#status = status;
    this.#retryAfter = String(retryAfter);
    this.#key = options.key ?? byClientIp();
    this.#policyName = options.policy ?? "concurrency";
    const item = sfString(this.#policyName, "ConcurrencyLimiter");
    this.#policyField = `${item};q=${limit};qu="concurrent-requests"`;
    this.#refusedField = `${item};r=0`;
    this.#none = new Inflight({ hashes: 1, slots: 1 }).incr("", 0);
  }

  /** Concurrent units allowed per key. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * The key's in-flight estimate.
   *
   * @example
   * ```ts
   * import { ConcurrencyLimiter } from "@cirque/limits/concurrency-limiter";
   * import assert from "node:assert/strict";
   *
   * const limiter = new ConcurrencyLimiter(4);
   * using _permit = limiter.tryAcquire("k");
   * assert.equal(limiter.inflight("k"), 1);
   * ```
   */
  inflight(key: SketchKey): number {
    return this.#inflight.get(key);
  }

  /**
   * Takes `cost` units for `key` if they fit, answering the permit, or `null`
   * (and takes nothing) if they do not. Allocates no response.
   *
   * @example
   * ```ts
   * import { ConcurrencyLimiter } from "@cirque/limits/concurrency-limiter";
   * import assert from "node:assert/strict";
   *
   * const limiter = new ConcurrencyLimiter(2);
   * const a = limiter.tryAcquire("k", 2);
   * assert.notEqual(a, null);
   * assert.equal(limiter.tryAcquire("k"), null);
   * a?.release();
   * ```
   */
  tryAcquire(key: SketchKey, cost: number = 1): InflightGuard | null {
    const guard = this.#inflight.incr(key, cost);
    if (guard.count <= this.#limit) return guard;
    guard.release();
    return null;
  }

  /**
   * {@linkcode ConcurrencyLimiter.tryAcquire} as a tagged decision: the permit,
   * or the refusal response to send.
   *
   * @example
   * ```ts
   * import { ConcurrencyLimiter } from "@cirque/limits/concurrency-limiter";
   * import assert from "node:assert/strict";
   *
   * const limiter = new ConcurrencyLimiter(0, { status: 429 });
   * const decision = limiter.acquire("k");
   * assert.equal(decision.kind, "respond");
   * if (decision.kind === "respond") {
   *   assert.equal(decision.response.status, 429);
   *   assert.equal(decision.response.headers.get("ratelimit"), '"concurrency";r=0');
   * }
   * ```
   */
  acquire(key: SketchKey, cost: number = 1): ConcurrencyDecision {
    const permit = this.tryAcquire(key, cost);
    if (permit !== null) return { kind: "permit", permit };
    return { kind: "respond", response: this.response() };
  }

  /**
   * {@linkcode ConcurrencyLimiter.acquire} keyed by the `key` option (default:
   * the client IP). A request without a key gets a permit that holds nothing.
   *
   * @example
   * ```ts
   * import { ConcurrencyLimiter } from "@cirque/limits/concurrency-limiter";
   * import assert from "node:assert/strict";
   *
   * const limiter = new ConcurrencyLimiter(1);
   * const headers = new Headers();
   * const decision = limiter.acquireRequest({ clientAddr: "192.0.2.1:4000", headers });
   * assert.equal(decision.kind, "permit");
   * assert.equal(limiter.inflight("192.0.2.1"), 1);
   * ```
   */
  acquireRequest(input: RequestLike, cost: number = 1): ConcurrencyDecision {
    const key = this.#key(input);
    if (key === null) return { kind: "permit", permit: this.#none };
    return this.acquire(key, cost);
  }

  /**
   * The refusal: 503 or 429 with `RateLimit-Policy`, `RateLimit` (`r=0`),
   * `Retry-After` and an RFC 9457 problem body.
   *
   * @example
   * ```ts
   * import { ConcurrencyLimiter } from "@cirque/limits/concurrency-limiter";
   * import assert from "node:assert/strict";
   *
   * const response = new ConcurrencyLimiter(8).response();
   * assert.equal(response.status, 503);
   * assert.equal(
   *   response.headers.get("ratelimit-policy"),
   *   '"concurrency";q=8;qu="concurrent-requests"',
   * );
   * assert.equal(response.headers.get("retry-after"), "1");
   * ```
   */
  response(): Response {
    const status = this.#status;
    return problemResponse(
      status,
      status === 503 ? PROBLEM_TYPES.reducedCapacity : PROBLEM_TYPES.quotaExceeded,
      status === 503 ? "Temporary reduced capacity" : "Quota exceeded",
      this.#policyName,
      [
        ["ratelimit-policy", this.#policyField],
        ["ratelimit", this.#refusedField],
        ["retry-after", this.#retryAfter],
      ],
    );
  }
}
