/**
 * Byte ranges served from a cached full response (RFC 9110 §14): parsing
 * `Range`, `If-Range`, and building single and multipart 206 answers.
 *
 * @example
 * ```ts
 * import { parseRange } from "@cirque/cache/range";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseRange("bytes=-2", 10), { kind: "ranges", ranges: [{ start: 8, end: 10 }] });
 * ```
 *
 * @module
 */

import { ResponseHeader } from "@cirque/core/http-header";
import { parseHttpDate } from "./http_date.ts";
import { etagMatches } from "./conditional.ts";

/** A byte range, `end` exclusive. */
export interface ByteRange {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

/** The outcome of {@linkcode parseRange}. */
export type RangeParse =
  /** Ignore the header: serve the full response. */
  | { kind: "none" }
  /** Unsatisfiable: answer 416. */
  | { kind: "invalid" }
  /** Satisfiable ranges, ascending and non-overlapping. */
  | { kind: "ranges"; ranges: ByteRange[] };

/**
 * Parses a `Range` value for a representation of `size` bytes (RFC 9110
 * §14.1.2, Pingora's vectors): unsatisfiable specs are dropped; none left →
 * invalid; overlapping or descending ranges, or `maxRanges` or more, → none.
 *
 * @example
 * ```ts
 * import { parseRange } from "@cirque/cache/range";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseRange("bytes=0-1,4-5", 10), { kind: "ranges", ranges: [{ start: 0, end: 2 }, { start: 4, end: 6 }] });
 * assert.deepEqual(parseRange("bytes=10-11", 10), { kind: "invalid" });
 * assert.deepEqual(parseRange("bytes=0-3,2-5", 10), { kind: "none" });
 * ```
 */
export function parseRange(value: string, size: number, maxRanges = 200): RangeParse {
  const m = /^\s*bytes\s*=(.*)$/i.exec(value);
  if (m === null) return { kind: "none" };
  const specs = m[1]!.split(",");
  if (specs.length >= maxRanges + 1) return { kind: "none" };
  const ranges: ByteRange[] = [];
  let any = false;
  for (const raw of specs) {
    const s = raw.trim();
    if (s.length === 0) continue;
    const r = /^(\d*)\s*-\s*(\d*)$/.exec(s);
    if (r === null) return { kind: "invalid" };
    const [, a, b] = r;
    any = true;
    if (a === "") {
      if (b === "") return { kind: "invalid" };
      const n = Number(b);
      // A zero-length suffix, or any suffix of an empty body, is unsatisfiable.
      if (n === 0 || size === 0) continue;
      ranges.push({ start: Math.max(0, size - n), end: size });
    } else {
      const start = Number(a);
      const last = b === "" ? size - 1 : Math.min(Number(b), size - 1);
      if (b !== "" && Number(b) < start) continue;
      if (start >= size) continue;
      ranges.push({ start, end: last + 1 });
    }
  }
  if (!any || ranges.length === 0) return { kind: "invalid" };
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.start < ranges[i - 1]!.end) return { kind: "none" };
  }
  return { kind: "ranges", ranges };
}

/**
 * Whether `If-Range` allows serving a range (RFC 9110 §13.1.5): an entity
 * tag must match the stored one strongly; a date must equal Last-Modified.
 *
 * @example
 * ```ts
 * import { ifRangeMatches } from "@cirque/cache/range";
 * import assert from "node:assert/strict";
 *
 * assert.ok(ifRangeMatches('"a"', '"a"', null));
 * assert.ok(!ifRangeMatches('W/"a"', 'W/"a"', null));
 * ```
 */
export function ifRangeMatches(
  ifRange: string,
  etag: string | null,
  lastModified: string | null,
): boolean {
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith("W/")) {
    return etag !== null && etagMatches(v, etag, "strong");
  }
  const t = parseHttpDate(v);
  return t !== null && lastModified !== null && parseHttpDate(lastModified) === t;
}

/** One piece of a range answer's body: literal bytes or a slice of the stored body. */
export type BodyPart = Uint8Array | ByteRange;

/** A range answer: the head to send and the body pieces in order. */
export interface RangeAnswer {
  /** The 206 or 416 head. */
  head: ResponseHeader;
  /** Body pieces (empty for 416). */
  parts: BodyPart[];
}

const enc = new TextEncoder();

/**
 * Answers `range` (already checked with `If-Range`) for a stored `200` head
 * with `size` body bytes: `null` to serve the full response, else a 206
 * (single or `multipart/byteranges`) or a 416.
 *
 * @example
 * ```ts
 * import { rangeAnswer } from "@cirque/cache/range";
 * import { ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const a = rangeAnswer(new ResponseHeader(200, [["Content-Length", "10"]]), 10, "bytes=2-4");
 * assert.equal(a?.head.status, 206);
 * assert.equal(a?.head.headers.get("content-range"), "bytes 2-4/10");
 * assert.deepEqual(a?.parts, [{ start: 2, end: 5 }]);
 * ```
 */
export function rangeAnswer(
  head: ResponseHeader,
  size: number,
  range: string,
  boundary: string = "CIRQUE-" + crypto.randomUUID(),
): RangeAnswer | null {
  const parsed = parseRange(range, size);
  if (parsed.kind === "none") return null;
  const base = head.headers.pairs.filter((p) => {
    const l = p[0].toLowerCase();
    return l !== "content-length" && l !== "content-range" && l !== "transfer-encoding";
  });
  if (parsed.kind === "invalid") {
    const h = new ResponseHeader(416, base);
    h.headers.set("Content-Range", `bytes */${size}`);
    h.headers.set("Content-Length", "0");
    return { head: h, parts: [] };
  }
  const ranges = parsed.ranges;
  if (ranges.length === 1) {
    const r = ranges[0]!;
    const h = new ResponseHeader(206, base);
    h.headers.set("Content-Range", `bytes ${r.start}-${r.end - 1}/${size}`);
    h.headers.set("Content-Length", String(r.end - r.start));
    return { head: h, parts: [r] };
  }
  const type = head.headers.get("content-type");
  const parts: BodyPart[] = [];
  let length = 0;
  for (const r of ranges) {
    const pre = enc.encode(
      `\r\n--${boundary}\r\n${
        type === null ? "" : `Content-Type: ${type}\r\n`
      }Content-Range: bytes ${r.start}-${r.end - 1}/${size}\r\n\r\n`,
    );
    parts.push(pre, r);
    length += pre.byteLength + r.end - r.start;
  }
  const tail = enc.encode(`\r\n--${boundary}--\r\n`);
  parts.push(tail);
  length += tail.byteLength;
  const h = new ResponseHeader(206, base.filter((p) => p[0].toLowerCase() !== "content-type"));
  h.headers.set("Content-Type", `multipart/byteranges; boundary=${boundary}`);
  h.headers.set("Content-Length", String(length));
  return { head: h, parts };
}
