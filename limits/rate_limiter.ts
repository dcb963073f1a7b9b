/**
 * A request-rate limiter for `requestFilter`: N requests per window per key,
 * answered with 429 and the IETF RateLimit header fields beyond that.
 *
 * @module
 */
import { PROBLEM_TYPES, problemResponse, sfString } from "./_headers.ts";
import { byClientIp, type KeyExtractor, type RequestLike } from "./key_extractor.ts";
import { Rate, type RateComponents, type TimeSource } from "./rate.ts";
import type { SketchKey } from "./estimator.ts";

/**
 * How the limiter counts a window.
 * - `"sliding"`: Cloudflare's sliding-window estimate, `prev·(1 − elapsed) + curr`
 *   must stay within the limit, so a burst across a window boundary cannot pass 2×.
 * - `"fixed"`: the count of the current window alone (Pingora's example).
 */
export type RateLimitAlgorithm = "sliding" | "fixed";

/** Options of {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /**
   * Length of the window, in whole seconds (the header fields cannot say less).
   * @default {1}
   */
  windowSeconds?: number;
  /**
   * How requests in a window are counted.
   * @default {"sliding"}
   */
  algorithm?: RateLimitAlgorithm;
  /**
   * The policy name in `RateLimit-Policy` and `RateLimit` (printable ASCII).
   * @default {"default"}
   */
  policy?: string;
  /**
   * How {@linkcode RateLimiter.checkRequest} keys a request.
   * @default {byClientIp()}
   */
  key?: KeyExtractor;
  /**
   * The time source, in milliseconds.
   * @default {() => performance.now()}
   */
  clock?: TimeSource;
  /**
   * Rows of each of the two sketches.
   * @default {4}
   */
  hashes?: number;
  /**
   * Counters per row of each sketch, a power of two. The memory is
   * `2 × hashes × slots × 4` bytes; more slots means fewer clients wrongly
   * limited because they share counters with busy ones.
   * @default {4096}
   */
  slots?: number;
  /**
   * Hash seed; use a random one where clients could aim at others' counters.
   * @default {0}
   */
  seed?: number;
}

/** What {@linkcode RateLimitResult} is made from. */
export interface RateLimitResultInit {
  /** Whether the request may pass. */
  allowed: boolean;
  /** Requests per window. */
  limit: number;
  /** Requests still available in the window after this one. */
  remaining: number;
  /** Seconds until the window resets (the `t` parameter). */
  resetSeconds: number;
  /** Seconds to wait before retrying; 0 when allowed. */
  retryAfterSeconds: number;
  /** The `RateLimit-Policy` field value. */
  policyField: string;
  /** The policy name as a Structured Field String. */
  policyItem: string;
}

/**
 * The answer of {@linkcode RateLimiter.check}.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@cirque/limits/rate-limiter";
 * import assert from "node:assert/strict";
 *
 * const result = new RateLimiter(10).check("client");
 * assert.equal(result.allowed, true);
 * assert.equal(result.remaining, 9);
 * assert.deepEqual(result.headers(), [
 *   ["ratelimit-policy", '"default";q=10;w=1'],
 *   ["ratelimit", '"default";r=9;t=1'],
 * ]);
 * ```
 */
export class RateLimitResult {
  /** Whether the request may pass. */
  readonly allowed: boolean;
  /** Requests per window. */
  readonly limit: number;
  /** Requests still available in the window after this one. */
  readonly remaining: number;
  /** Seconds until the current window ends (at least 1). */
  readonly resetSeconds: number;
  /** Seconds to wait before a retry can pass (at least 1); 0 when allowed. */
  readonly retryAfterSeconds: number;
  #policyField: string;
  #policyItem: string;

  /** Made by {@linkcode RateLimiter.check}. */
  constructor(init: RateLimitResultInit) {
    this.allowed = init.allowed;
    this.limit = init.limit;
    this.remaining = init.remaining;
    this.resetSeconds = init.resetSeconds;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.#policyField = init.policyField;
    this.#policyItem = init.policyItem;
  }

  /**
   * The response header fields: `RateLimit-Policy` and `RateLimit`
   * (draft-ietf-httpapi-ratelimit-headers-11), plus `Retry-After` when the
   * request is refused. Add them to allowed responses too, so clients can pace.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "@cirque/limits/rate-limiter";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter(1, { windowSeconds: 60, algorithm: "fixed", clock: () => 0 });
   * limiter.check("k");
   * assert.deepEqual(limiter.check("k").headers(), [
   *   ["ratelimit-policy", '"default";q=1;w=60'],
   *   ["ratelimit", '"default";r=0;t=60'],
   *   ["retry-after", "60"],
   * ]);
   * ```
   */
  headers(): [string, string][] {
    const t = this.allowed ? this.resetSeconds : this.retryAfterSeconds;
    const fields: [string, string][] = [
      ["ratelimit-policy", this.#policyField],
      ["ratelimit", `${this.#policyItem};r=${this.remaining};t=${t}`],
    ];
    if (!this.allowed) fields.push(["retry-after", String(this.retryAfterSeconds)]);
    return fields;
  }
}

const EPSILON = 1e-9;

/**
 * Limits each key (client IP, API key, …) to `limit` requests per window,
 * on a {@linkcode Rate} (two count-min sketches, fixed memory whatever the
 * number of clients). Refused requests are not counted, so a client sending
 * faster than the limit still gets `limit` requests per window through.
 *
 * It works on web standards, so it fits any `requestFilter`, `Deno.serve`
 * handler or Hono middleware: {@linkcode RateLimiter.check} answers a
 * {@linkcode RateLimitResult}; {@linkcode RateLimiter.response} makes the 429.
 *
 * Accuracy: a count-min sketch can over-count a key that shares counters with
 * busy keys, never under-count; so a client is at worst limited early, never
 * let through beyond its limit. With the default 4 × 4096 sketches and N
 * requests per window in total, a client's count is over by more than
 * N·e/4096 ≈ 0.066 % of N with probability below 2 %.
 *
 * @example In a request handler
 * ```ts
 * import { RateLimiter } from "@cirque/limits/rate-limiter";
 * import assert from "node:assert/strict";
 *
 * let now = 0; // a fake clock in milliseconds; omit `clock` for the real one
 * const limiter = new RateLimiter(2, { windowSeconds: 1, clock: () => now });
 * function handle(clientIp: string): Response {
 *   const result = limiter.check(clientIp);
 *   if (!result.allowed) return limiter.response(result);
 *   return new Response("hello", { headers: result.headers() });
 * }
 * assert.equal(handle("203.0.113.7").status, 200);
 * assert.equal(handle("203.0.113.7").status, 200);
 * const refused = handle("203.0.113.7");
 * assert.equal(refused.status, 429);
 * // Sliding window: 2 in this second still weigh 1 at 1.5 s, when 1 more fits.
 * assert.equal(refused.headers.get("retry-after"), "2");
 * assert.equal(handle("198.51.100.1").status, 200); // another client
 * now = 1500;
 * assert.equal(handle("203.0.113.7").status, 200);
 * ```
 */
export class RateLimiter {
  #limit: number;
  #windowMs: number;
  #sliding: boolean;
  #rate: Rate;
  #key: KeyExtractor;
  #policyName: string;
  #policyItem: string;
  #policyField: string;
  // The decision of the last check, written by #decide (no allocation per check).
  #cost = 1;
  #prev = 0;
  #curr = 0;
  #fraction = 0;
  #allowed = false;
  #decide: (c: Readonly<RateComponents>) => number;

  /** Creates a limiter of `limit` requests per window per key. */
  constructor(limit: number, options: RateLimiterOptions = {}) {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot create RateLimiter: limit must be a non-negative integer, got ${limit}`,
      );
    }
    const windowSeconds = options.windowSeconds ?? 1;
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1) {
      throw new RangeError(
        `Cannot create RateLimiter: windowSeconds must be a positive integer, got ${windowSeconds}`,
      );
    }
    const algorithm = options.algorithm ?? "sliding";
    if (algorithm !== "sliding" && algorithm !== "fixed") {
      throw new TypeError(`Cannot create RateLimiter: unknown algorithm "${algorithm}"`);
    }
    this.#limit = limit;
    this.#windowMs = windowSeconds * 1000;
    this.#sliding = algorithm === "sliding";
    this.#key = options.key ?? byClientIp();
    this.#policyName = options.policy ?? "default";
    this.#policyItem = sfString(this.#policyName, "RateLimiter");
    this.#policyField = `${this.#policyItem};q=${limit};w=${windowSeconds}`;
    const rateOptions: ConstructorParameters<typeof Rate>[1] = {
      hashes: options.hashes ?? 4,
      slots: options.slots ?? 4096,
      seed: options.seed ?? 0,
    };
    if (options.clock) rateOptions.clock = options.clock;
    this.#rate = new Rate(this.#windowMs, rateOptions);
    this.#decide = (c) => {
      const prev = this.#sliding ? c.prevSamples : 0;
      this.#prev = prev;
      this.#curr = c.currSamples;
      this.#fraction = c.currentIntervalFraction;
      const cost = this.#cost;
      this.#allowed = prev * (1 - c.currentIntervalFraction) + c.currSamples + cost <=
        this.#limit + EPSILON;
      return this.#allowed ? cost : 0;
    };
  }

  /** Requests per window. */
  get limit(): number {
    return this.#limit;
  }

  /** The window in seconds. */
  get windowSeconds(): number {
    return this.#windowMs / 1000;
  }

  /** Bytes of counter memory, fixed at construction. */
  get memoryBytes(): number {
    return this.#rate.memoryBytes;
  }

  /**
   * Counts a request of `cost` units for `key` if it fits in the limit, and
   * answers the decision with the numbers for the header fields.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "@cirque/limits/rate-limiter";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter(5);
   * assert.equal(limiter.check("k", 3).remaining, 2);
   * assert.equal(limiter.check("k", 3).allowed, false);
   * assert.equal(limiter.check("k", 2).remaining, 0);
   * ```
   */
  check(key: SketchKey, cost: number = 1): RateLimitResult {
    checkCost(cost);
    const limit = this.#limit;
    const windowMs = this.#windowMs;
    this.#cost = cost;
    this.#rate.observeWith(key, this.#decide);
    const prev = this.#prev;
    const curr = this.#curr;
    const fraction = this.#fraction;
    const used = prev * (1 - fraction) + curr;
    const toNextMs = windowMs * (1 - fraction);
    if (this.#allowed) {
      return new RateLimitResult({
        allowed: true,
        limit,
        remaining: Math.max(0, Math.floor(limit - used - cost + EPSILON)),
        resetSeconds: Math.max(1, Math.ceil(toNextMs / 1000 - EPSILON)),
        retryAfterSeconds: 0,
        policyField: this.#policyField,
        policyItem: this.#policyItem,
      });
    }
    let waitMs: number;
    if (cost > limit) {
      waitMs = windowMs; // can never pass; say "a window"
    } else if (curr + cost <= limit) {
      // Room in this window once the previous window's weight has decayed enough.
      waitMs = (1 - (limit - curr - cost) / prev - fraction) * windowMs;
    } else {
      // Next window: prev' = curr, curr' = 0; wait until curr·(1 − g) + cost ≤ limit.
      const g = this.#sliding && curr > 0 ? Math.max(0, 1 - (limit - cost) / curr) : 0;
      waitMs = toNextMs + g * windowMs;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000 - EPSILON));
    return new RateLimitResult({
      allowed: false,
      limit,
      remaining: 0,
      resetSeconds: retryAfterSeconds,
      retryAfterSeconds,
      policyField: this.#policyField,
      policyItem: this.#policyItem,
    });
  }

  /**
   * {@linkcode RateLimiter.check} keyed by the `key` option (default: the
   * client IP). A request without a key is allowed and not counted; `cost`
   * is validated either way.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "@cirque/limits/rate-limiter";
   * import { byHeader } from "@cirque/limits/key-extractor";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter(1, { key: byHeader("x-api-key") });
   * const request = new Request("http://example.test/", { headers: { "x-api-key": "k1" } });
   * assert.equal(limiter.checkRequest(request).allowed, true);
   * assert.equal(limiter.checkRequest(request).allowed, false);
   * ```
   */
  checkRequest(input: RequestLike, cost: number = 1): RateLimitResult {
    checkCost(cost);
    const key = this.#key(input);
    if (key === null) {
      return new RateLimitResult({
        allowed: true,
        limit: this.#limit,
        remaining: this.#limit,
        resetSeconds: Math.max(1, Math.ceil(this.#rate.timeToNextInterval() / 1000 - EPSILON)),
        retryAfterSeconds: 0,
        policyField: this.#policyField,
        policyItem: this.#policyItem,
      });
    }
    return this.check(key, cost);
  }

  /**
   * The 429 (Too Many Requests) response for a refused request: the RateLimit
   * header fields, `Retry-After`, and an RFC 9457 problem body of type
   * `quota-exceeded` naming the violated policy.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "@cirque/limits/rate-limiter";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter(0);
   * const response = limiter.response(limiter.check("k"));
   * assert.equal(response.status, 429);
   * assert.equal(response.headers.get("content-type"), "application/problem+json");
   * assert.deepEqual((await response.json())["violated-policies"], ["default"]);
   * ```
   */
  response(result: RateLimitResult): Response {
    if (result.allowed) {
      throw new TypeError("Cannot make a 429 response: the request is allowed");
    }
    return problemResponse(
      429,
      PROBLEM_TYPES.quotaExceeded,
      "Quota exceeded",
      this.#policyName,
      result.headers(),
    );
  }
}

function checkCost(cost: number): void {
  if (!Number.isSafeInteger(cost) || cost < 0) {
    throw new RangeError(
      `Cannot check the rate: cost must be a non-negative safe integer, got ${cost}`,
    );
  }
}
