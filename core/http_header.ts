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
  return a === b || (a.length === b.length && sameNameAt(a, 0, b));
}

/**
 * {@linkcode sameName} of `t[s, s + name.length)` and `name`, without slicing
 * `t` (unless a character beyond ASCII differs).
 */
function sameNameAt(t: string, s: number, name: string): boolean {
  const l = name.length;
  for (let i = 0; i < l; i++) {
    let x = t.charCodeAt(s + i);
    let y = name.charCodeAt(i);
    if (x === y) continue;
    if ((x | y) >= 0x80) return t.slice(s, s + l).toLowerCase() === name.toLowerCase();
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
  /** The fields as tuples, or null while they are still {@linkcode RawFields} (plus `#tail`). */
  #pairs: HeaderPairs | null;
  /** The parse the raw fields come from (text, buffer): shared with snapshots. */
  #src: RawFields = NO_RAW;
  /** Four offsets per raw field into the text: name start, name end, value start, value end. */
  #offsets: readonly number[] = NO_OFFSETS;
  /** Whether `#offsets` is this map's own copy (else shared: the parser's, or a snapshot's). */
  #ownOffsets = false;
  /** Raw form: fields added after the parsed ones, as tuples. */
  #tail: HeaderPairs = EMPTY_PAIRS;
  /** Whether `#tail` is this map's own array (else shared or the empty constant). */
  #ownTail = false;

  /** Wraps `pairs` (not copied). */
  constructor(pairs: HeaderPairs = []) {
    this.#pairs = pairs;
  }

  /**
   * Wraps fields as a parser found them, without making strings of them: a
   * field's name and value become strings only when asked for, and
   * {@linkcode HeaderMap.pairs} builds them all (once). Fields added with
   * `append`, or with `set` under a name no parsed field has, are kept apart
   * ({@linkcode HeaderMap.tail}), so the parsed ones stay unmade. `raw` is not
   * changed, except that {@linkcode HeaderMap.releaseBuffer} deletes its
   * `buf`. The fields are trusted as a parser's output: a serializer copies
   * them without checking them again.
   *
   * @example
   * ```ts
   * import { HeaderMap } from "@cirque/core/http-header";
   * import assert from "node:assert/strict";
   *
   * const text = "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: close\r\n\r\n";
   * const h = HeaderMap.fromRaw({ text, offsets: [17, 23, 25, 26, 28, 38, 40, 45] });
   * assert.equal(h.get("connection"), "close");
   * h.delete("Connection");
   * h.append("Via", "1.1 cirque");
   * assert.deepEqual(h.raw?.offsets, [17, 23, 25, 26]);
   * assert.deepEqual(h.tail, [["Via", "1.1 cirque"]]);
   * assert.deepEqual(h.pairs, [["Server", "x"], ["Via", "1.1 cirque"]]);
   * ```
   */
  static fromRaw(raw: RawFields): HeaderMap {
    const h = new HeaderMap(EMPTY_PAIRS);
    h.#pairs = null;
    h.#src = raw;
    h.#offsets = raw.offsets;
    return h;
  }

  /**
   * The fields in order; mutate through the methods, or directly if you know
   * what you do. Replace a `[name, value]` tuple rather than assigning into
   * it: the methods never change a tuple in place, so copies made by the proxy
   * engine (the arrival snapshot, the upstream request) share tuples. A map
   * made by {@linkcode HeaderMap.fromRaw} builds its tuples on first use.
   */
  get pairs(): HeaderPairs {
    return this.#pairs ?? this.#materialize();
  }

  set pairs(pairs: HeaderPairs) {
    this.#pairs = pairs;
    this.#src = NO_RAW;
    this.#offsets = NO_OFFSETS;
    this.#ownOffsets = false;
    this.#tail = EMPTY_PAIRS;
    this.#ownTail = false;
  }

  /**
   * The parsed fields, while no tuple was made of them (null after that):
   * what a serializer may copy as they are. The fields added since are in
   * {@linkcode HeaderMap.tail} and come after them. Its `offsets` must not be
   * changed.
   */
  get raw(): RawFields | null {
    if (this.#pairs !== null) return null;
    const src = this.#src;
    const buf = src.buf;
    return buf === undefined
      ? { text: src.text, offsets: this.#offsets }
      : { text: src.text, offsets: this.#offsets, buf, base: src.base ?? 0 };
  }

  /**
   * While {@linkcode HeaderMap.raw} is not null: the fields added after the
   * parsed ones, in order (empty when none). Do not change the array.
   */
  get tail(): readonly (readonly [string, string])[] {
    return this.#pairs === null ? this.#tail : EMPTY_PAIRS;
  }

  /**
   * Forgets the buffer the fields were parsed from ({@linkcode RawFields.buf}),
   * for this map and every snapshot that shares its parse: a writer that
   * copied the field lines from it calls this, so that a map a phase keeps
   * for later does not hold on to the reader's buffer. `raw` then has only
   * the text.
   */
  releaseBuffer(): void {
    if (this.#src.buf !== undefined) this.#src.buf = undefined;
  }

  #materialize(): HeaderPairs {
    const t = this.#src.text;
    const o = this.#offsets;
    const pairs: HeaderPairs = [];
    for (let i = 0; i < o.length; i += 4) {
      pairs.push([t.slice(o[i]!, o[i + 1]!), t.slice(o[i + 2]!, o[i + 3]!)]);
    }
    for (const f of this.#tail) pairs.push(f);
    this.pairs = pairs;
    return pairs;
  }

  /** The tail, made this map's own before a change. */
  #ownedTail(): HeaderPairs {
    if (!this.#ownTail) {
      this.#tail = this.#tail.slice();
      this.#ownTail = true;
    }
    return this.#tail;
  }

  /** Name of field `i` (0 ≤ i < size). */
  nameAt(i: number): string {
    const pairs = this.#pairs;
    if (pairs !== null) return pairs[i]![0];
    const o = this.#offsets;
    if (4 * i >= o.length) return this.#tail[i - (o.length >> 2)]![0];
    return this.#src.text.slice(o[4 * i]!, o[4 * i + 1]!);
  }

  /** Value of field `i` (0 ≤ i < size). */
  valueAt(i: number): string {
    const pairs = this.#pairs;
    if (pairs !== null) return pairs[i]![1];
    const o = this.#offsets;
    if (4 * i >= o.length) return this.#tail[i - (o.length >> 2)]![1];
    return this.#src.text.slice(o[4 * i + 2]!, o[4 * i + 3]!);
  }

  /**
   * Whether field `i` is named `lower` (a lowercase ASCII name), ignoring
   * ASCII case; makes no string.
   */
  nameIs(i: number, lower: string): boolean {
    const pairs = this.#pairs;
    if (pairs !== null) return isFieldName(pairs[i]![0], lower);
    const o = this.#offsets;
    if (4 * i >= o.length) return isFieldName(this.#tail[i - (o.length >> 2)]![0], lower);
    // A parsed name is all tchar (ASCII): sameNameAt folds case as isFieldName does.
    const s = o[4 * i]!;
    return o[4 * i + 1]! - s === lower.length && sameNameAt(this.#src.text, s, lower);
  }

  /** Length of field `i`'s name; makes no string. */
  nameLengthAt(i: number): number {
    const pairs = this.#pairs;
    if (pairs !== null) return pairs[i]![0].length;
    const o = this.#offsets;
    if (4 * i >= o.length) return this.#tail[i - (o.length >> 2)]![0].length;
    return o[4 * i + 1]! - o[4 * i]!;
  }

  /** Removes field `i` (0 ≤ i < size). */
  deleteAt(i: number): void {
    const pairs = this.#pairs;
    if (pairs !== null) {
      pairs.splice(i, 1);
      return;
    }
    const o = this.#offsets as number[];
    if (4 * i >= o.length) {
      this.#ownedTail().splice(i - (o.length >> 2), 1);
      return;
    }
    if (this.#ownOffsets) {
      o.splice(4 * i, 4);
      return;
    }
    // Copy on the first removal: the offsets came from the parser's result.
    // (slice + splice: about 100 ns for 8 fields; `copyWithin` on an Array
    // is a generic builtin, 7× slower.)
    const next = o.slice();
    next.splice(4 * i, 4);
    this.#offsets = next;
    this.#ownOffsets = true;
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
    const pairs = this.#pairs;
    return pairs !== null ? pairs.length : (this.#offsets.length >> 2) + this.#tail.length;
  }

  /** First value of `name`, or `null`. */
  get(name: string): string | null {
    const pairs = this.#pairs;
    if (pairs === null) {
      const i = this.#rawIndex(name, 0);
      return i >= 0 ? this.valueAt(i) : firstValue(this.#tail, name);
    }
    return firstValue(pairs, name);
  }

  /** First parsed field at or after `from` named `name` (any case), or -1. */
  #rawIndex(name: string, from: number): number {
    const o = this.#offsets;
    const t = this.#src.text;
    const l = name.length;
    for (let i = from; 4 * i < o.length; i++) {
      const s = o[4 * i]!;
      if (o[4 * i + 1]! - s === l && sameNameAt(t, s, name)) return i;
    }
    return -1;
  }

  /** All values of `name` in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    let pairs = this.#pairs;
    if (pairs === null) {
      for (let i = this.#rawIndex(name, 0); i >= 0; i = this.#rawIndex(name, i + 1)) {
        out.push(this.valueAt(i));
      }
      pairs = this.#tail;
    }
    for (const p of pairs) if (sameName(p[0], name)) out.push(p[1]);
    return out;
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /** Replaces every `name` field by one (at the first one's position, or appended). */
  set(name: string, value: string): void {
    if (this.#pairs === null && this.#rawIndex(name, 0) < 0) {
      // No parsed field has the name: the parsed ones stay as they are.
      setIn(this.#ownedTail(), name, value);
      return;
    }
    setIn(this.pairs, name, value);
  }

  /** Adds a field at the end. */
  append(name: string, value: string): void {
    (this.#pairs ?? this.#ownedTail()).push([name, value]);
  }

  /** Removes every `name` field; returns how many were removed. */
  delete(name: string): number {
    const pairs = this.#pairs;
    if (pairs !== null) return deleteIn(pairs, name);
    let removed = 0;
    for (let i = this.#rawIndex(name, 0); i >= 0; i = this.#rawIndex(name, i)) {
      this.deleteAt(i);
      removed++;
    }
    if (firstValue(this.#tail, name) !== null) removed += deleteIn(this.#ownedTail(), name);
    return removed;
  }

  /** A copy (the pairs are copied, the strings shared). */
  clone(): HeaderMap {
    return new HeaderMap(this.pairs.map((p) => [p[0], p[1]]));
  }

  /**
   * A cheap copy: its own field list, sharing the `[name, value]` tuples, or,
   * for fields still as parsed, the parse (copied on the first change). The
   * methods never change a tuple or a shared list in place, so changing
   * either copy through them leaves the other as it was.
   *
   * @example
   * ```ts
   * import { HeaderMap } from "@cirque/core/http-header";
   * import assert from "node:assert/strict";
   *
   * const a = new HeaderMap([["Host", "x"], ["Accept", "*"]]);
   * const b = a.snapshot();
   * b.set("Host", "y");
   * b.delete("accept");
   * assert.deepEqual(a.pairs, [["Host", "x"], ["Accept", "*"]]);
   * assert.deepEqual(b.pairs, [["Host", "y"]]);
   * ```
   */
  snapshot(): HeaderMap {
    const pairs = this.#pairs;
    if (pairs !== null) return new HeaderMap(pairs.slice());
    const h = new HeaderMap(EMPTY_PAIRS);
    h.#pairs = null;
    h.#src = this.#src;
    h.#offsets = this.#offsets;
    h.#tail = this.#tail;
    // Both copy before their next change of what they now share.
    this.#ownOffsets = false;
    this.#ownTail = false;
    return h;
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

/** The first value of `name` in `pairs`, or null. */
function firstValue(pairs: readonly (readonly [string, string])[], name: string): string | null {
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!;
    if (sameName(p[0], name)) return p[1];
  }
  return null;
}

/** {@linkcode HeaderMap.set} on a tuple list. */
function setIn(pairs: HeaderPairs, name: string, value: string): void {
  let at = -1;
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

/** Removes every `name` tuple from `pairs`; returns how many. */
function deleteIn(pairs: HeaderPairs, name: string): number {
  let w = 0;
  for (let r = 0; r < pairs.length; r++) {
    const p = pairs[r]!;
    if (!sameName(p[0], name)) pairs[w++] = p;
  }
  const removed = pairs.length - w;
  pairs.length = w;
  return removed;
}

const NO_OFFSETS: readonly number[] = [];
/** Never changed: the methods copy a list before changing it unless it is their own. */
const EMPTY_PAIRS: HeaderPairs = [];
const NO_RAW: RawFields = { text: "", offsets: NO_OFFSETS };

/**
 * Header fields as a parser found them: the text of the head, and four
 * offsets per field into it (name start, name end, value start, value end).
 * See {@linkcode HeaderMap.fromRaw}.
 */
export interface RawFields {
  /** The head's text, one character per byte (Latin-1). */
  readonly text: string;
  /** `4 × fields` offsets into `text`. */
  readonly offsets: readonly number[];
  /**
   * The buffer the head was parsed from, lent by its reader: `buf[base + k]`
   * is the byte of `text[k]`, and a serializer may copy field lines from it
   * instead of encoding the text again. The reader deletes `buf` before it
   * reads into that part of the buffer again (the fast path's server for a
   * request head; `H1Connector`'s body source for a response head); maps
   * made from these fields, and their snapshots, then copy from `text`. A
   * writer done with the bytes calls {@linkcode HeaderMap.releaseBuffer}.
   */
  buf?: Uint8Array | undefined;
  /** Where `text` starts in {@linkcode RawFields.buf}. */
  readonly base?: number;
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
   * A cheap copy: its fields are a {@linkcode HeaderMap.snapshot} (shared
   * tuples, or a shared parse), so filtering either copy through the
   * `HeaderMap` methods leaves the other as it was.
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
      this.headers.snapshot(),
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
