/**
 * {@linkcode CacheMeta}: a stored response head plus the times the freshness
 * rules need (RFC 9111 §4.2).
 *
 * @example
 * ```ts
 * import { CacheMeta } from "@cirque/cache/cache-meta";
 * import assert from "node:assert/strict";
 *
 * const meta = new CacheMeta({
 *   status: 200, headers: [["Age", "10"]], requestTime: 0, responseTime: 0, freshnessLifetime: 60_000,
 * });
 * assert.equal(meta.age(5_000), 15);
 * assert.ok(meta.isFresh(49_000));
 * assert.ok(!meta.isFresh(51_000));
 * ```
 *
 * @module
 */

import type { HeaderPairs } from "@cirque/core/connector";
import { HeaderMap, ResponseHeader, STATUS_TEXT } from "@cirque/core/http-header";
import { parseHttpDate } from "./http_date.ts";

/** What a {@linkcode CacheMeta} is made from. All times are epoch milliseconds. */
export interface CacheMetaInit {
  /** Status code of the stored response. */
  status: number;
  /** Reason phrase. @default {the standard one} */
  statusText?: string;
  /** Stored header fields (hop-by-hop fields already removed). */
  headers: HeaderPairs;
  /** When the request that produced the response was sent. */
  requestTime: number;
  /** When the response head arrived. */
  responseTime: number;
  /** Freshness lifetime in milliseconds (RFC 9111 §4.2.1). */
  freshnessLifetime: number;
  /** How long after expiry the response may be served while it is refreshed (RFC 5861 §3). @default {0} */
  staleWhileRevalidate?: number;
  /** How long after expiry the response may be served when the origin fails (RFC 5861 §4). @default {0} */
  staleIfError?: number;
  /** `must-revalidate`, `proxy-revalidate` or `s-maxage`: never served stale (RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10). @default {false} */
  mustRevalidate?: boolean;
  /** `no-cache` (unqualified): every use needs a successful revalidation (RFC 9111 §5.2.2.4). @default {false} */
  noCache?: boolean;
  /** The Vary secondary key this response was stored under, if any. @default {null} */
  variance?: string | null;
  /** When the entry was first created (kept across 304 refreshes). @default {responseTime} */
  created?: number;
}

/**
 * A stored response's head and timing. Immutable: a refresh makes a new one.
 *
 * @example
 * ```ts
 * import { CacheMeta } from "@cirque/cache/cache-meta";
 * import assert from "node:assert/strict";
 *
 * const meta = new CacheMeta({
 *   status: 200, headers: [["ETag", '"v1"']], requestTime: 0, responseTime: 0,
 *   freshnessLifetime: 1000, staleWhileRevalidate: 5000,
 * });
 * assert.equal(meta.etag, '"v1"');
 * assert.ok(!meta.canServeStaleWhileRevalidate(500)); // still fresh
 * assert.ok(meta.canServeStaleWhileRevalidate(3000));
 * assert.ok(!meta.canServeStaleWhileRevalidate(7000));
 * ```
 */
export class CacheMeta {
  /** Status code. */
  readonly status: number;
  /** Reason phrase. */
  readonly statusText: string;
  /** Stored header fields; do not mutate (use {@linkcode CacheMeta.responseHeader} for a copy). */
  readonly headers: HeaderMap;
  /** When the request was sent (epoch ms). */
  readonly requestTime: number;
  /** When the response arrived (epoch ms). */
  readonly responseTime: number;
  /** Freshness lifetime (ms). */
  readonly freshnessLifetime: number;
  /** stale-while-revalidate window (ms). */
  readonly staleWhileRevalidate: number;
  /** stale-if-error window (ms). */
  readonly staleIfError: number;
  /** Never serve stale. */
  readonly mustRevalidate: boolean;
  /** Always revalidate. */
  readonly noCache: boolean;
  /** Vary secondary key, or `null`. */
  readonly variance: string | null;
  /** When the entry was created (epoch ms). */
  readonly created: number;
  /** corrected_initial_age of RFC 9111 §4.2.3, in ms. */
  readonly correctedInitialAge: number;

  /** Creates the meta and computes its initial age (RFC 9111 §4.2.3). */
  constructor(init: CacheMetaInit) {
    this.status = init.status;
    this.statusText = init.statusText ?? STATUS_TEXT[init.status] ?? "";
    this.headers = new HeaderMap(init.headers);
    this.requestTime = init.requestTime;
    this.responseTime = init.responseTime;
    this.freshnessLifetime = Math.max(0, init.freshnessLifetime);
    this.staleWhileRevalidate = init.staleWhileRevalidate ?? 0;
    this.staleIfError = init.staleIfError ?? 0;
    this.mustRevalidate = init.mustRevalidate ?? false;
    this.noCache = init.noCache ?? false;
    this.variance = init.variance ?? null;
    this.created = init.created ?? init.responseTime;
    this.correctedInitialAge = initialAge(this.headers, init.requestTime, init.responseTime);
  }

  /** current_age in whole seconds at `now` (RFC 9111 §4.2.3), as sent in `Age`. */
  age(now: number): number {
    return Math.floor(this.ageMs(now) / 1000);
  }

  /** current_age in ms at `now`. */
  ageMs(now: number): number {
    return this.correctedInitialAge + Math.max(0, now - this.responseTime);
  }

  /** Remaining freshness in ms (negative once stale). */
  ttl(now: number): number {
    return this.freshnessLifetime - this.ageMs(now);
  }

  /** freshness_lifetime > current_age (RFC 9111 §4.2). */
  isFresh(now: number): boolean {
    return this.ttl(now) > 0;
  }

  /**
   * Whether the response, stale at `now`, may be served while it is refreshed
   * in the background (RFC 5861 §3); `false` while it is fresh.
   */
  canServeStaleWhileRevalidate(now: number): boolean {
    if (this.mustRevalidate || this.staleWhileRevalidate <= 0) return false;
    const stale = -this.ttl(now);
    return stale >= 0 && stale <= this.staleWhileRevalidate;
  }

  /** Whether a stale copy may be served when the origin fails (RFC 5861 §4). */
  canServeStaleIfError(now: number): boolean {
    return !this.mustRevalidate && this.staleIfError > 0 && -this.ttl(now) <= this.staleIfError;
  }

  /** The strong or weak entity tag, or `null`. */
  get etag(): string | null {
    return this.headers.get("etag");
  }

  /** The Last-Modified value, or `null`. */
  get lastModified(): string | null {
    return this.headers.get("last-modified");
  }

  /** Whether a conditional request can revalidate this response. */
  get hasValidator(): boolean {
    return this.etag !== null || this.lastModified !== null;
  }

  /** A mutable copy of the stored head. */
  responseHeader(): ResponseHeader {
    return new ResponseHeader(this.status, this.headers.clone(), this.statusText);
  }

  /** A copy with some fields replaced. */
  with(change: Partial<CacheMetaInit>): CacheMeta {
    return new CacheMeta({ ...this.toInit(), ...change });
  }

  /** The init object that rebuilds this meta (JSON-safe, for storages that serialise). */
  toInit(): CacheMetaInit {
    return {
      status: this.status,
      statusText: this.statusText,
      headers: this.headers.pairs.map((p) => [p[0], p[1]]),
      requestTime: this.requestTime,
      responseTime: this.responseTime,
      freshnessLifetime: this.freshnessLifetime,
      staleWhileRevalidate: this.staleWhileRevalidate,
      staleIfError: this.staleIfError,
      mustRevalidate: this.mustRevalidate,
      noCache: this.noCache,
      variance: this.variance,
      created: this.created,
    };
  }
}

/** corrected_initial_age (RFC 9111 §4.2.3), in ms. */
function initialAge(headers: HeaderMap, requestTime: number, responseTime: number): number {
  const dateRaw = headers.get("date");
  const date = dateRaw === null ? null : parseHttpDate(dateRaw);
  const apparent = date === null ? 0 : Math.max(0, responseTime - date);
  const ageRaw = headers.get("age");
  let ageValue = 0;
  if (ageRaw !== null) {
    const t = ageRaw.split(",")[0]!.trim();
    // RFC 9111 §5.1: an invalid Age is ignored.
    if (/^\d+$/.test(t)) ageValue = Math.min(Number(t), 2147483648) * 1000;
  }
  const responseDelay = Math.max(0, responseTime - requestTime);
  return Math.max(apparent, ageValue + responseDelay);
}
