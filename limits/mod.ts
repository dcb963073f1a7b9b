/**
 * `@cirque/limits`: Pingora's `pingora-limits` in TypeScript, plus the rate
 * limits an edge proxy needs.
 *
 * - {@linkcode Estimator}: a count-min sketch (default 4 × 1024 counters,
 *   16 KiB), allocation-free on the hot path.
 * - {@linkcode Rate}: events per key per interval with a current and a
 *   previous window, lazily rolled, and the proportional (sliding) estimate.
 * - {@linkcode Inflight}: in-flight counts per key with guards that release once
 *   (`using` supported).
 * - {@linkcode RateLimiter} and {@linkcode ConcurrencyLimiter}: checks for a
 *   `requestFilter` keyed by client IP, header or any function, answering 429
 *   (or 503) with `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit`
 *   header fields.
 *
 * @example Limit each client IP to 2 requests per second
 * ```ts
 * import { RateLimiter } from "@cirque/limits";
 * import assert from "node:assert/strict";
 *
 * const limiter = new RateLimiter(2);
 * const request = { clientAddr: "203.0.113.7:51000", headers: new Headers() };
 * assert.equal(limiter.checkRequest(request).allowed, true);
 * assert.equal(limiter.checkRequest(request).allowed, true);
 * const refused = limiter.checkRequest(request);
 * assert.equal(refused.allowed, false);
 * assert.equal(limiter.response(refused).status, 429);
 * ```
 *
 * @module
 */
export * from "./estimator.ts";
export * from "./rate.ts";
export * from "./inflight.ts";
export * from "./key_extractor.ts";
export * from "./rate_limiter.ts";
export * from "./concurrency_limiter.ts";
