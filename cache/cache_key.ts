/**
 * Cache keys: the primary key of a request (scheme, host, path and query) and
 * the Vary secondary key (RFC 9111 §4.1) that keeps variants apart.
 *
 * @example
 * ```ts
 * import { primaryKey, varianceKey } from "@cirque/cache/cache-key";
 * import { RequestHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const req = new RequestHeader("GET", "/a?b", [["Host", "Example.COM"], ["Accept-Encoding", "gzip, br"]]);
 * assert.equal(primaryKey(req), "http://example.com/a?b");
 * assert.equal(varianceKey(["Accept-Encoding"], req.headers), "accept-encoding:br,gzip");
 * ```
 *
 * @module
 */

import type { HeaderMap, RequestHeader } from "@cirque/core/http-header";

/**
 * The default primary key: `scheme://host/path?query`, host lowercased. The
 * method is not part of it: GET and HEAD share entries.
 *
 * @example
 * ```ts
 * import { primaryKey } from "@cirque/cache/cache-key";
 * import { RequestHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * assert.equal(primaryKey(new RequestHeader("HEAD", "/x", [["Host", "a"]]), "https"), "https://a/x");
 * ```
 */
export function primaryKey(req: RequestHeader, scheme = "http"): string {
  return `${scheme}://${req.host.toLowerCase()}${req.path}`;
}

/**
 * The lowercased, deduplicated, sorted field names of `Vary` values; `["*"]`
 * when any is `*`.
 *
 * @example
 * ```ts
 * import { varyNames } from "@cirque/cache/cache-key";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(varyNames(["User-Agent, accept", "Accept"]), ["accept", "user-agent"]);
 * ```
 */
export function varyNames(vary: readonly string[]): string[] {
  const set = new Set<string>();
  for (const v of vary) {
    for (const n of v.split(",")) {
      const name = n.trim().toLowerCase();
      if (name === "*") return ["*"];
      if (name.length > 0) set.add(name);
    }
  }
  return [...set].sort();
}

/**
 * Normalises an `Accept-Encoding` value so equivalent requests share a
 * variant: codings lowercased, `q=0` ones dropped, sorted and deduplicated.
 *
 * @example
 * ```ts
 * import { normalizeAcceptEncoding } from "@cirque/cache/cache-key";
 * import assert from "node:assert/strict";
 *
 * assert.equal(normalizeAcceptEncoding("GZIP;q=0.8, br , deflate;q=0, gzip"), "br,gzip");
 * ```
 */
export function normalizeAcceptEncoding(value: string): string {
  const out = new Set<string>();
  for (const part of value.split(",")) {
    const [coding, ...params] = part.split(";");
    const name = coding!.trim().toLowerCase();
    if (name.length === 0) continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    if (q > 0) out.add(name);
  }
  return [...out].sort().join(",");
}

function normalizeValue(values: string[]): string {
  // RFC 9111 §4.1: values may be normalised (whitespace, combined field lines).
  return values.map((v) => v.trim().replace(/\s*,\s*/g, ",").replace(/\s+/g, " ")).join(",");
}

/**
 * The secondary key of a request for a response carrying `Vary` (RFC 9111
 * §4.1): each named field's normalised value. `null` when `Vary` names
 * nothing; `"*"` when it contains `*` (never matches).
 *
 * @example
 * ```ts
 * import { varianceKey } from "@cirque/cache/cache-key";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const a = varianceKey(["Accept-Language"], new HeaderMap([["Accept-Language", "en"]]));
 * const b = varianceKey(["Accept-Language"], new HeaderMap([["Accept-Language", "fr"]]));
 * assert.notEqual(a, b);
 * assert.equal(varianceKey([], new HeaderMap()), null);
 * ```
 */
export function varianceKey(vary: readonly string[], headers: HeaderMap): string | null {
  if (vary.length === 0) return null;
  const names = varyNames(vary);
  if (names.length === 0) return null;
  if (names[0] === "*") return "*";
  let key = "";
  for (const name of names) {
    const values = headers.getAll(name);
    const v = values.length === 0
      ? "\u0000" // absent differs from empty
      : name === "accept-encoding"
      ? normalizeAcceptEncoding(values.join(","))
      : normalizeValue(values);
    key += (key.length === 0 ? "" : "\n") + name + ":" + v;
  }
  return key;
}
