/**
 * Validators and conditional requests: refreshing a stored head from a 304
 * (RFC 9111 §3.2, §4.3.4) and answering a client's conditional request from
 * the cache (RFC 9110 §13).
 *
 * @example
 * ```ts
 * import { evaluateConditional } from "@cirque/cache/conditional";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const stored = new HeaderMap([["ETag", '"v1"']]);
 * assert.equal(evaluateConditional("GET", new HeaderMap([["If-None-Match", 'W/"v1"']]), stored), 304);
 * ```
 *
 * @module
 */

import { HeaderMap, ResponseHeader } from "@cirque/core/http-header";
import { parseHttpDate } from "./http_date.ts";

function opaque(tag: string): { weak: boolean; value: string } {
  const t = tag.trim();
  return t.startsWith("W/") ? { weak: true, value: t.slice(2) } : { weak: false, value: t };
}

/**
 * Entity-tag comparison (RFC 9110 §8.8.3.2): weak compares the opaque tags;
 * strong also needs both to be strong.
 *
 * @example
 * ```ts
 * import { etagMatches } from "@cirque/cache/conditional";
 * import assert from "node:assert/strict";
 *
 * assert.ok(etagMatches('W/"1"', '"1"', "weak"));
 * assert.ok(!etagMatches('W/"1"', '"1"', "strong"));
 * ```
 */
export function etagMatches(a: string, b: string, mode: "weak" | "strong"): boolean {
  const x = opaque(a), y = opaque(b);
  if (mode === "strong" && (x.weak || y.weak)) return false;
  return x.value === y.value;
}

function listMatches(list: string, etag: string | null, mode: "weak" | "strong"): boolean {
  // `*` matches any current representation, with or without an entity tag
  // (RFC 9110 §13.1.1, §13.1.2): the stored response is one.
  if (list.trim() === "*") return true;
  if (etag === null) return false;
  // Entity tags may contain commas inside quotes: split on commas outside quotes.
  const tags = list.match(/(?:W\/)?"[^"]*"/g) ?? [];
  return tags.some((t) => etagMatches(t, etag, mode));
}

/**
 * Evaluates a request's preconditions against a stored `200` response's
 * fields, in RFC 9110 §13.2.2 order: If-Match, If-Unmodified-Since,
 * If-None-Match, If-Modified-Since. Returns `304`, `412` or `null` (serve the
 * response).
 *
 * @example
 * ```ts
 * import { evaluateConditional } from "@cirque/cache/conditional";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const stored = new HeaderMap([["Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"]]);
 * const req = new HeaderMap([["If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"]]);
 * assert.equal(evaluateConditional("GET", req, stored), 304);
 * assert.equal(evaluateConditional("POST", req, stored), null);
 * ```
 */
export function evaluateConditional(
  method: string,
  req: HeaderMap,
  stored: HeaderMap,
): 304 | 412 | null {
  const etag = stored.get("etag");
  const lastModified = stored.get("last-modified");
  const lm = lastModified === null ? null : parseHttpDate(lastModified);
  const ifMatch = req.getAll("if-match");
  if (ifMatch.length > 0) {
    if (!listMatches(ifMatch.join(","), etag, "strong")) return 412; // §13.1.1
  } else {
    const ius = req.get("if-unmodified-since");
    const t = ius === null ? null : parseHttpDate(ius);
    if (t !== null && lm !== null && lm > t) return 412; // §13.1.4
  }
  const get = method === "GET" || method === "HEAD";
  const inm = req.getAll("if-none-match");
  if (inm.length > 0) {
    if (listMatches(inm.join(","), etag, "weak")) return get ? 304 : 412; // §13.1.2
    return null;
  }
  if (get) {
    const ims = req.get("if-modified-since");
    const t = ims === null ? null : parseHttpDate(ims);
    if (t !== null && lm !== null && lm <= t) return 304; // §13.1.3
  }
  return null;
}

const NOT_IN_304 = new Set([
  "content-length",
  "content-type",
  "content-encoding",
  "content-range",
  "transfer-encoding",
  "content-language",
]);

/**
 * The 304 head for a stored 200 head (RFC 9110 §15.4.5): the same fields but
 * no content metadata.
 *
 * @example
 * ```ts
 * import { notModifiedHead } from "@cirque/cache/conditional";
 * import { ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const h = notModifiedHead(new ResponseHeader(200, [["ETag", '"a"'], ["Content-Length", "5"]]));
 * assert.equal(h.status, 304);
 * assert.equal(h.headers.get("content-length"), null);
 * assert.equal(h.headers.get("etag"), '"a"');
 * ```
 */
export function notModifiedHead(head: ResponseHeader): ResponseHeader {
  return new ResponseHeader(
    304,
    head.headers.pairs.filter((p) => !NOT_IN_304.has(p[0].toLowerCase())),
  );
}

const KEEP_ON_REFRESH = new Set(["content-length", "vary", "transfer-encoding", "content-range"]);

/**
 * The stored fields updated from a 304 (RFC 9111 §3.2): every field of the
 * 304 replaces the stored one of that name, except `Content-Length` (and
 * `Vary`, which stays as stored); other stored fields are kept.
 *
 * @example
 * ```ts
 * import { refreshHeaders } from "@cirque/cache/conditional";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const stored = new HeaderMap([["Cache-Control", "max-age=1"], ["X-A", "1"], ["Content-Length", "3"]]);
 * const fresh = new HeaderMap([["Cache-Control", "max-age=60"], ["Content-Length", "0"], ["X-B", "2"]]);
 * const out = refreshHeaders(stored, fresh);
 * assert.equal(out.get("cache-control"), "max-age=60");
 * assert.equal(out.get("content-length"), "3");
 * assert.equal(out.get("x-a"), "1");
 * assert.equal(out.get("x-b"), "2");
 * ```
 */
export function refreshHeaders(stored: HeaderMap, update: HeaderMap): HeaderMap {
  const replace = new Set<string>();
  for (const [k] of update) {
    const lower = k.toLowerCase();
    if (!KEEP_ON_REFRESH.has(lower)) replace.add(lower);
  }
  const out = new HeaderMap(
    stored.pairs.filter((p) => !replace.has(p[0].toLowerCase())).map((p) => [p[0], p[1]]),
  );
  for (const [k, v] of update) if (replace.has(k.toLowerCase())) out.append(k, v);
  return out;
}

/**
 * Whether a 304 applies to the stored response (RFC 9111 §4.3.4): a strong
 * ETag in the 304 must equal the stored one; otherwise a differing
 * Last-Modified rules it out.
 *
 * @example
 * ```ts
 * import { validatorsMatch } from "@cirque/cache/conditional";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * assert.ok(validatorsMatch(new HeaderMap([["ETag", '"a"']]), new HeaderMap([["ETag", '"a"']])));
 * assert.ok(!validatorsMatch(new HeaderMap([["ETag", '"a"']]), new HeaderMap([["ETag", '"b"']])));
 * ```
 */
export function validatorsMatch(stored: HeaderMap, notModified: HeaderMap): boolean {
  const e = notModified.get("etag");
  if (e !== null) {
    const s = stored.get("etag");
    return s !== null && etagMatches(e, s, "weak");
  }
  const lm = notModified.get("last-modified");
  if (lm !== null) {
    const s = stored.get("last-modified");
    return s !== null && parseHttpDate(s) === parseHttpDate(lm);
  }
  return true;
}

/**
 * The conditional fields that revalidate a stored response (RFC 9111 §4.3.1).
 *
 * @example
 * ```ts
 * import { validatorFields } from "@cirque/cache/conditional";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(validatorFields(new HeaderMap([["ETag", '"x"']])), [["If-None-Match", '"x"']]);
 * ```
 */
export function validatorFields(stored: HeaderMap): [string, string][] {
  const out: [string, string][] = [];
  const etag = stored.get("etag");
  if (etag !== null) out.push(["If-None-Match", etag]);
  const lm = stored.get("last-modified");
  if (lm !== null) out.push(["If-Modified-Since", lm]);
  return out;
}
