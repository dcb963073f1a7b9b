/**
 * Mutable HTTP message heads: {@linkcode HeaderMap}, {@linkcode RequestHeader}
 * and {@linkcode ResponseHeader}.
 *
 * Unlike the web `Headers`, a {@linkcode HeaderMap} keeps field names as
 * written and in order (HTTP/1.1 peers see what the client sent), and does no
 * per-call validation, so it is cheap on the proxy's hot path. Names compare
 * case-insensitively.
 *
 * @module
 */

import type { HeaderPairs } from "./connector.ts";

/**
 * Whether `name` is the field name `lower` (a lowercase ASCII literal such as
 * `"content-length"`), in any letter case: ASCII letters are folded in place,
 * no lowercased copy is made, and any non-ASCII character is a mismatch.
 *
 * @example
 * ```ts
 * import { isFieldName } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isFieldName("Content-Length", "content-length"), true);
 * assert.equal(isFieldName("Content-Type", "content-length"), false);
 * ```
 */
export function isFieldName(name: string, lower: string): boolean {
  if (name === lower) return true;
  const l = lower.length;
  if (name.length !== l) return false;
  for (let i = 0; i < l; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Case-insensitive field-name equality: ASCII letters are folded in place (no
 * lowercased copy is made); a name with non-ASCII characters (never a valid
 * token) falls back to `toLowerCase`.
 */
function sameName(a: string, b: string): boolean {
  if (a === b) return true;
  const l = a.length;
  if (b.length !== l) return false;
  for (let i = 0; i < l; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if ((x | y) >= 0x80) return a.toLowerCase() === b.toLowerCase();
    if (x >= 65 && x <= 90) x |= 0x20;
    if (y >= 65 && y <= 90) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * Whether a Fetch `Response` with this status must have a null body (Fetch's
 * "null body status"): `new Response(body, { status })` throws otherwise.
 *
 * @example
 * ```ts
 * import { isNullBodyStatus } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isNullBodyStatus(304), true);
 * assert.equal(isNullBodyStatus(200), false);
 * ```
 */
export function isNullBodyStatus(status: number): boolean {
  return NULL_BODY_STATUS.has(status);
}

/**
 * An ordered, case-preserving list of header fields.
 *
 * @example
 * ```ts
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const h = new HeaderMap([["Content-Type", "text/plain"], ["Set-Cookie", "a=1"]]);
 * h.append("Set-Cookie", "b=2");
 * h.set("content-type", "text/html");
 * assert.equal(h.get("CONTENT-TYPE"), "text/html");
 * assert.deepEqual(h.getAll("set-cookie"), ["a=1", "b=2"]);
 * assert.deepEqual(h.pairs[0], ["content-type", "text/html"]);
 * ```
 */
export class HeaderMap {
  /**
   * The fields in order; mutate through the methods, or directly if you know
   * what you do. Replace a `[name, value]` tuple rather than assigning into
   * it: the methods never change a tuple in place, so copies made by the proxy
   * engine (the arrival snapshot, the upstream request) share tuples.
   */
  pairs: HeaderPairs;

  /** Wraps `pairs` (not copied). */
  constructor(pairs: HeaderPairs = []) {
    this.pairs = pairs;
  }

  /** Copies a web `Headers` (names arrive lowercased). */
  static fromHeaders(headers: Headers): HeaderMap {
    const pairs: HeaderPairs = [];
    // The iterator yields a fresh [name, value] array per field: keep it.
    for (const p of headers) pairs.push(p);
    return new HeaderMap(pairs);
  }

  /** Number of fields. */
  get size(): number {
    return this.pairs.length;
  }

  /** First value of `name`, or `null`. */
  get(name: string): string | null {
    const pairs = this.pairs;
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i]!;
      if (sameName(p[0], name)) return p[1];
    }
    return null;
  }

  /** All values of `name` in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    for (const p of this.pairs) if (sameName(p[0], name)) out.push(p[1]);
    return out;
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /** Replaces every `name` field by one (at the first one's position, or appended). */
  set(name: string, value: string): void {
    let at = -1;
    const pairs = this.pairs;
    for (let i = 0; i < pairs.length; i++) {
      if (sameName(pairs[i]![0], name)) {
        if (at < 0) {
          at = i;
          pairs[i] = [name, value];
        } else {
          pairs.splice(i--, 1);
        }
      }
    }
    if (at < 0) pairs.push([name, value]);
  }

  /** Adds a field at the end. */
  append(name: string, value: string): void {
    this.pairs.push([name, value]);
  }

  /** Removes every `name` field; returns how many were removed. */
  delete(name: string): number {
    const pairs = this.pairs;
    let w = 0;
    for (let r = 0; r < pairs.length; r++) {
      const p = pairs[r]!;
      if (!sameName(p[0], name)) pairs[w++] = p;
    }
    const removed = pairs.length - w;
    pairs.length = w;
    return removed;
  }

  /** A copy (the pairs are copied, the strings shared). */
  clone(): HeaderMap {
    return new HeaderMap(this.pairs.map((p) => [p[0], p[1]]));
  }

  /** A web `Headers` with the same fields. Throws on values `Headers` refuses. */
  toHeaders(): Headers {
    const h = new Headers();
    for (const [k, v] of this.pairs) h.append(k, v);
    return h;
  }

  /** Iterates `[name, value]` pairs. */
  [Symbol.iterator](): Iterator<[string, string]> {
    return this.pairs[Symbol.iterator]();
  }
}

/** HTTP version of a message. */
export type HttpVersion = "1.0" | "1.1" | "2";

/**
 * A request head: method, origin-form path, version and fields.
 *
 * @example
 * ```ts
 * import { RequestHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const req = new RequestHeader("GET", "/a?b=1", [["Host", "example.com"]]);
 * assert.equal(req.host, "example.com");
 * assert.equal(req.pathname, "/a");
 * assert.equal(req.query, "b=1");
 * ```
 */
export class RequestHeader {
  /** Method, e.g. `GET`. */
  method: string;
  /** Origin-form target: path and query. */
  path: string;
  /** HTTP version the client spoke. */
  version: HttpVersion;
  /** Fields. */
  headers: HeaderMap;
  /** Authority for HTTP/2 requests, which carry no Host field. */
  authority: string | null;

  /** Creates a request head. */
  constructor(
    method: string,
    path: string,
    headers: HeaderPairs | HeaderMap = [],
    version: HttpVersion = "1.1",
    authority: string | null = null,
  ) {
    this.method = method;
    this.path = path;
    this.version = version;
    this.headers = headers instanceof HeaderMap ? headers : new HeaderMap(headers);
    this.authority = authority;
  }

  /** The Host field, or the HTTP/2 authority, or `""`. */
  get host(): string {
    return this.headers.get("host") ?? this.authority ?? "";
  }

  /** The path without the query. */
  get pathname(): string {
    const q = this.path.indexOf("?");
    return q < 0 ? this.path : this.path.slice(0, q);
  }

  /** The query without `?`, or `""`. */
  get query(): string {
    const q = this.path.indexOf("?");
    return q < 0 ? "" : this.path.slice(q + 1);
  }

  /** A deep copy. */
  clone(): RequestHeader {
    return new RequestHeader(
      this.method,
      this.path,
      this.headers.clone(),
      this.version,
      this.authority,
    );
  }

  /**
   * A cheap copy: its own field array, sharing the `[name, value]` tuples.
   * Since `HeaderMap`'s methods replace tuples and never change one in place,
   * filtering either copy through those methods leaves the other as it was.
   *
   * @example
   * ```ts
   * import { RequestHeader } from "@cirque/core/http-header";
   * import assert from "node:assert/strict";
   *
   * const a = new RequestHeader("GET", "/", [["Host", "x"]]);
   * const b = a.snapshot();
   * b.headers.set("Host", "y");
   * b.path = "/b";
   * assert.equal(a.headers.get("host"), "x");
   * assert.equal(a.path, "/");
   * ```
   */
  snapshot(): RequestHeader {
    return new RequestHeader(
      this.method,
      this.path,
      new HeaderMap(this.headers.pairs.slice()),
      this.version,
      this.authority,
    );
  }
}

/**
 * A response head: status, reason and fields.
 *
 * @example
 * ```ts
 * import { ResponseHeader } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const res = new ResponseHeader(404);
 * assert.equal(res.statusText, "Not Found");
 * ```
 */
export class ResponseHeader {
  /** Status code. */
  status: number;
  /** Reason phrase. */
  statusText: string;
  /** Fields. */
  headers: HeaderMap;

  /** Creates a response head; the reason defaults to the standard one. */
  constructor(status: number, headers: HeaderPairs | HeaderMap = [], statusText?: string) {
    this.status = status;
    this.statusText = statusText ?? STATUS_TEXT[status] ?? "";
    this.headers = headers instanceof HeaderMap ? headers : new HeaderMap(headers);
  }

  /** A deep copy. */
  clone(): ResponseHeader {
    return new ResponseHeader(this.status, this.headers.clone(), this.statusText);
  }
}

/** Standard reason phrases (RFC 9110 §15). */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  103: "Early Hints",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};
