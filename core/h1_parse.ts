/**
 * Strict, allocation-light HTTP/1.1 parsing primitives (RFC 9112), shared by
 * the upstream client (`@cirque/core/h1`) and the downstream HTTP/1.1 server.
 *
 * Everything works on byte ranges of a caller-owned buffer:
 * - {@linkcode findHeadEnd} finds the end of a head (`CRLF CRLF`), looking at
 *   every fourth byte between line ends, and reports a bare LF in an
 *   incomplete head at once.
 * - {@linkcode parseResponseHead} and {@linkcode parseRequestHead} validate a
 *   complete head byte by byte and return the start line, the fields as
 *   `[name as written, value trimmed]` pairs, and the framing facts computed
 *   during the same pass (Content-Length, chunked, Connection tokens, Upgrade,
 *   `Expect: 100-continue`, Host count). {@linkcode parseResponseFields} and
 *   {@linkcode parseRequestFields} do the same without making strings of the
 *   fields (offsets for `HeaderMap.fromRaw`), and {@linkcode writeFieldLines}
 *   writes such fields back out as `name: value` lines, copied from the
 *   parsed buffer while the caller lends it.
 * - {@linkcode ChunkedDecoder} decodes a chunked body incrementally, handing
 *   out data as ranges of the input buffer (no copies) and parsing trailers.
 *
 * Every violation throws an {@linkcode HttpParseError} whose `reason` says
 * which rule was broken. Strings are decoded as Latin-1, so a field value
 * containing obs-text round-trips byte for byte.
 *
 * @example Parse a response head from raw bytes
 * ```ts
 * import { findHeadEnd, parseResponseHead } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * const raw = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
 * const end = findHeadEnd(raw, 0, raw.length);
 * const head = parseResponseHead(raw, 0, end);
 * assert.equal(head.status, 200);
 * assert.equal(head.contentLength, 2);
 * assert.deepEqual(head.headers, [["Content-Length", "2"]]);
 * ```
 *
 * @module
 */

import type { HeaderPairs } from "./connector.ts";
import { TCHAR as TOKEN_BYTES, VCHAR as VALUE_BYTES } from "./_byte_classes.ts";
import type { RawFields } from "./http_header.ts";

// Module-level copies of the shared byte classes: V8 loads these like tables
// defined here, where each use of an imported binding adds a check (about 300
// instructions per proxied request across the parser and the connector).
const TCHAR = TOKEN_BYTES;
const VCHAR = VALUE_BYTES;

/** Which rule a message broke. Stable strings; new ones may be added. */
export type ParseErrorReason =
  | "bare-lf"
  | "bare-cr"
  | "obs-fold"
  | "invalid-start-line"
  | "invalid-method"
  | "invalid-target"
  | "invalid-version"
  | "invalid-status"
  | "invalid-field-name"
  | "whitespace-before-colon"
  | "invalid-field-value"
  | "invalid-content-length"
  | "conflicting-content-length"
  | "content-length-with-transfer-encoding"
  | "invalid-transfer-encoding"
  | "transfer-encoding-http10"
  | "invalid-connection"
  | "head-too-large"
  | "too-many-fields"
  | "invalid-chunk-size"
  | "invalid-chunk-extension"
  | "chunk-extension-too-large"
  | "invalid-chunk-end"
  | "trailers-too-large";

/**
 * A message that violates HTTP/1.1 syntax or framing rules.
 *
 * @example
 * ```ts
 * import { HttpParseError, parseResponseHead } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * const raw = new TextEncoder().encode("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n");
 * assert.throws(() => parseResponseHead(raw, 0, raw.length), (e: unknown) =>
 *   e instanceof HttpParseError && e.reason === "whitespace-before-colon");
 * ```
 */
export class HttpParseError extends Error {
  /** The rule that was broken. */
  readonly reason: ParseErrorReason;
  /** Byte offset (in the parsed buffer) where the problem was found, or -1. */
  readonly offset: number;

  /** Creates a parse error. */
  constructor(reason: ParseErrorReason, offset = -1, detail?: string) {
    super(`Cannot parse HTTP/1 message: ${reason}${detail ? ` (${detail})` : ""}`);
    this.name = "HttpParseError";
    this.reason = reason;
    this.offset = offset;
  }
}

/** Size limits of a head. */
export interface HeadLimits {
  /**
   * Largest head in bytes, start line and final empty line included.
   * @default {65536}
   */
  maxHeadBytes?: number;
  /**
   * Most header fields.
   * @default {200}
   */
  maxFields?: number;
}

/** Options of {@linkcode parseRequestHead}. */
export interface RequestHeadLimits extends HeadLimits {
  /**
   * Accept absolute-form targets (`http://host/path`), as a forward proxy must.
   * @default {false}
   */
  allowAbsoluteForm?: boolean;
  /**
   * Accept authority-form targets (`host:port`), only with `CONNECT`.
   * @default {false}
   */
  allowAuthorityForm?: boolean;
  /**
   * Accept the asterisk-form target `*`, only with `OPTIONS`.
   * @default {false}
   */
  allowAsteriskForm?: boolean;
}

/** Default largest head: 64 KiB. */
export const MAX_HEAD_BYTES = 65536;
/** Default most header fields: 200. */
export const MAX_FIELDS = 200;

/** Framing facts and fields of a parsed head (request or response). */
export interface ParsedHead {
  /** Minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  /** Fields in order: name as written, value without surrounding whitespace. */
  headers: HeaderPairs;
  /** The Content-Length value, or -1 when absent. */
  contentLength: number;
  /** Transfer-Encoding is present (its last coding is then always `chunked`). */
  transferEncoding: boolean;
  /** How many transfer codings Transfer-Encoding lists, over all its lines (1: `chunked` alone). */
  transferCodings: number;
  /** The body is chunked. */
  chunked: boolean;
  /** A `Connection: close` token is present. */
  connectionClose: boolean;
  /** A `Connection: keep-alive` token is present. */
  connectionKeepAlive: boolean;
  /** Other Connection tokens, lowercased (e.g. `upgrade`, `x-hop`), or null when none. */
  connectionTokens: string[] | null;
  /** The Upgrade field value, or null. */
  upgrade: string | null;
  /** `Expect: 100-continue` is present. */
  expectContinue: boolean;
  /** How many Host fields there are (the caller decides what 0 or 2 means). */
  hostCount: number;
  /**
   * A Host field value is not `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986
   * §3.2.2; an empty value is valid). The caller decides (a server answers 400).
   */
  invalidHost: boolean;
  /** Offset just past the head's final `CRLF CRLF`: the first body byte. */
  headEnd: number;
}

/** A parsed status line and head. */
export interface ParsedResponseHead extends ParsedHead {
  /** Status code, 100–999. */
  status: number;
  /** Reason phrase as sent (may be empty). */
  reason: string;
}

/** A parsed status line and head whose fields are kept as parsed ({@linkcode parseResponseFields}). */
export interface ParsedResponseFields extends ParsedResponseHead {
  /**
   * The fields, for `HeaderMap.fromRaw`; `headers` is empty. Their `buf` and
   * `base` are the parsed buffer and `start`, lent by the caller: it deletes
   * `buf` before it reads into that part of the buffer again
   * ({@linkcode RawFields.buf}).
   */
  fields: RawFields;
}

/** A parsed request line and head whose fields are kept as parsed ({@linkcode parseRequestFields}). */
export interface ParsedRequestFields extends ParsedRequestHead {
  /**
   * The fields, for `HeaderMap.fromRaw`; `headers` is empty. Their `buf` and
   * `base` are the parsed buffer and `start`, lent by the caller: it deletes
   * `buf` before it reads into that part of the buffer again
   * ({@linkcode RawFields.buf}).
   */
  fields: RawFields;
}

/** The form of a request target (RFC 9112 §3.2). */
export type TargetForm = "origin" | "absolute" | "authority" | "asterisk";

/** A parsed request line and head. */
export interface ParsedRequestHead extends ParsedHead {
  /** Method token as sent (case-sensitive). */
  method: string;
  /** Request target as sent. */
  target: string;
  /** Which form the target has. */
  targetForm: TargetForm;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const COMMA = 44;

/**
 * Finds the end of a head: the offset just past the first `CRLF CRLF` in
 * `buf[from, to)`, `-1` when the head is not complete yet, or `-2` when it is
 * not complete and a line ends in a bare LF (invalid per RFC 9112: refused
 * at once, without waiting for more). A complete head is not checked for a
 * bare LF inside it: {@linkcode parseRequestHead} and
 * {@linkcode parseResponseHead} refuse one (`bare-lf`).
 *
 * Pass the head's first byte as `from`, or, to resume after more bytes
 * arrived, the previous `to` minus 3 (never before the head start). The bytes
 * just before `from` are inspected to classify a LF at `from`.
 *
 * @example
 * ```ts
 * import { findHeadEnd } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * const b = new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n");
 * assert.equal(findHeadEnd(b, 0, b.length), b.length);
 * assert.equal(findHeadEnd(b, 0, 10), -1);
 * assert.equal(findHeadEnd(new TextEncoder().encode("GET / HTTP/1.1\n\n"), 0, 16), -2);
 * ```
 */
export function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  // Looks at every fourth byte while it sees neither CR nor LF (both ≤ 13): a
  // `CRLF CRLF` ending within the next three bytes would include this one.
  // About 3× faster than a byte-by-byte loop on a typical head (216 vs 633 ns
  // for 250 bytes); `indexOf` per line is slower still (call overhead).
  let i = from;
  while (i < to) {
    const c = buf[i]!;
    if (c > CR) {
      i += 4;
      continue;
    }
    if (c === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR && i >= 3) {
      return i + 1;
    }
    i++;
  }
  // No end yet: check the skipped bytes for a bare LF, so that a head whose
  // lines end in LF alone is refused now rather than when it grows too large.
  // A complete head keeps any bare LF inside it: the parsers refuse it then.
  return bareLf(buf, from, to) ? -2 : -1;
}

/** Whether a LF in `buf[from, to)` lacks the CR before it. */
function bareLf(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    if (buf[i] === LF && (buf[i - 1] !== CR || i === 0)) return true;
  }
  return false;
}

/**
 * For all-ASCII bytes UTF-8 and Latin-1 agree, and V8's UTF-8 decoder is about
 * 3× faster than the `latin1` (windows-1252) one on a typical head.
 */
const ASCII = new TextDecoder();

/**
 * Decodes `b[s, e)` byte for byte (true Latin-1, unlike the `latin1` label of
 * TextDecoder). Decodes as UTF-8 first, which is right when every byte is
 * ASCII: then the text has one character per byte and no U+FFFD (a byte of
 * 0x80 or more either joins a multi-byte character, so the text is shorter,
 * or becomes U+FFFD). Checking the result costs far less than scanning the
 * bytes beforehand.
 */
function decodeLatin1(b: Uint8Array, s: number, e: number): string {
  const t = ASCII.decode(b.subarray(s, e));
  if (t.length === e - s && t.indexOf("\uFFFD") < 0) return t;
  let out = "";
  for (let i = s; i < e; i += 4096) {
    out += String.fromCharCode.apply(null, b.subarray(i, Math.min(e, i + 4096)) as never);
  }
  return out;
}

/** Case-insensitive compare of `b[off, off+lit.length)` with a lowercase ASCII literal. */
function eqi(b: Uint8Array, off: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) {
    if ((b[off + i]! | 0x20) !== lit.charCodeAt(i)) return false;
  }
  return true;
}

/** Exact compare of `b[off, off+lit.length)` with an ASCII literal. */
function eq(b: Uint8Array, off: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) if (b[off + i] !== lit.charCodeAt(i)) return false;
  return true;
}

function isOws(c: number | undefined): boolean {
  return c === SP || c === HT;
}

/** Mutable state of one head parse: the framing facts of {@linkcode ParsedHead}. */
type FieldState = Omit<ParsedHead, "versionMinor" | "headers" | "headEnd">;

/** Parses a Content-Length value `[vs, ve)`: 1*DIGIT, or a list of identical ones. */
function parseContentLength(b: Uint8Array, vs: number, ve: number): number {
  let value = -1;
  let i = vs;
  for (;;) {
    let n = 0;
    let digits = 0;
    while (i < ve) {
      const c = b[i]!;
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      digits++;
      i++;
    }
    if (digits === 0 || digits > 15) throw new HttpParseError("invalid-content-length", vs);
    if (value !== -1 && n !== value) throw new HttpParseError("conflicting-content-length", vs);
    value = n;
    while (isOws(b[i]) && i < ve) i++;
    if (i === ve) return value;
    if (b[i] !== COMMA) throw new HttpParseError("invalid-content-length", vs);
    i++;
    while (isOws(b[i]) && i < ve) i++;
  }
}

/** Applies one Transfer-Encoding line `[vs, ve)` to `st`. */
function parseTransferEncoding(b: Uint8Array, vs: number, ve: number, st: FieldState): void {
  let i = vs;
  let any = false;
  while (i < ve) {
    // one element: token [params], up to the next comma
    let e = i;
    while (e < ve && b[e] !== COMMA) e++;
    let te = e;
    while (te > i && isOws(b[te - 1])) te--;
    let ts = i;
    while (ts < te && isOws(b[ts])) ts++;
    if (ts < te) {
      any = true;
      st.transferCodings++;
      if (st.chunked) throw new HttpParseError("invalid-transfer-encoding", vs, "chunked not last");
      let k = ts;
      while (k < te && TCHAR[b[k]!] === 1) k++;
      if (k === ts) throw new HttpParseError("invalid-transfer-encoding", vs);
      if (k - ts === 7 && eqi(b, ts, "chunked")) {
        if (k !== te) throw new HttpParseError("invalid-transfer-encoding", vs, "chunked params");
        st.chunked = true;
      } else {
        // transfer-parameters: OWS ";" ... ; only check the bytes are field-value bytes
        for (; k < te; k++) {
          const c = b[k]!;
          if (c === SP || c === HT) continue;
          if (c === 59 /* ; */ || c === 61 /* = */ || c === 34 || TCHAR[c] === 1) continue;
          throw new HttpParseError("invalid-transfer-encoding", vs);
        }
      }
    }
    i = e + 1;
  }
  if (!any) throw new HttpParseError("invalid-transfer-encoding", vs, "empty");
  st.transferEncoding = true;
}

/** Applies one Connection line `[vs, ve)` to `st`. */
function parseConnection(
  b: Uint8Array,
  vs: number,
  ve: number,
  st: FieldState,
  text: string,
  base: number,
): void {
  let i = vs;
  while (i < ve) {
    while (i < ve && (isOws(b[i]) || b[i] === COMMA)) i++;
    const ts = i;
    while (i < ve && TCHAR[b[i]!] === 1) i++;
    const te = i;
    while (i < ve && isOws(b[i])) i++;
    if (i < ve && b[i] !== COMMA) throw new HttpParseError("invalid-connection", vs);
    const len = te - ts;
    if (len === 0) continue;
    if (len === 5 && eqi(b, ts, "close")) st.connectionClose = true;
    else if (len === 10 && eqi(b, ts, "keep-alive")) st.connectionKeepAlive = true;
    else {
      (st.connectionTokens ??= []).push(text.slice(ts - base, te - base).toLowerCase());
    }
  }
}

/**
 * Parses the field lines of `b[pos, end)` (`end` just past the final empty
 * line) into `headers`, or, when `headers` is null, into `offsets` (four per
 * field, into `text`: see {@linkcode RawFields}), updating `st` when `st` is
 * given (heads) or only validating (trailers). Returns nothing; throws
 * {@linkcode HttpParseError}.
 */
function parseFields(
  b: Uint8Array,
  pos: number,
  end: number,
  maxFields: number,
  headers: HeaderPairs | null,
  st: FieldState | null,
  text: string,
  base: number,
  offsets: number[] | null = null,
): void {
  let count = 0;
  // One pass over the bytes, no search for the line end first: the name runs
  // to the colon, the value to the first byte that may not be in a value,
  // which must then be the line's CR LF.
  for (;;) {
    if (pos >= end) throw new HttpParseError("invalid-start-line", pos, "unterminated");
    const first = b[pos]!;
    if (first === CR) {
      if (b[pos + 1] !== LF || pos + 1 >= end) throw new HttpParseError("bare-cr", pos);
      if (pos + 2 !== end) throw new HttpParseError("invalid-field-name", pos, "data after head");
      return;
    }
    if (first === LF) throw new HttpParseError("bare-lf", pos);
    if (first === SP || first === HT) throw new HttpParseError("obs-fold", pos);
    if (++count > maxFields) throw new HttpParseError("too-many-fields", pos);
    // name
    let i = pos;
    while (i < end && TCHAR[b[i]!] === 1) i++;
    const nameEnd = i;
    if (b[i] !== COLON || i >= end) {
      const c = b[i];
      if (i >= end) throw new HttpParseError("invalid-start-line", pos, "unterminated");
      if (c === SP || c === HT) throw new HttpParseError("whitespace-before-colon", i);
      if (c === LF) throw new HttpParseError("bare-lf", i);
      if (c === CR) {
        if (b[i + 1] === LF && i + 1 < end) {
          throw new HttpParseError("invalid-field-name", pos, "no colon");
        }
        throw new HttpParseError("bare-cr", i);
      }
      throw new HttpParseError("invalid-field-name", i);
    }
    if (nameEnd === pos) throw new HttpParseError("invalid-field-name", pos, "empty");
    i++;
    while (i < end && isOws(b[i])) i++;
    const vs = i;
    while (i < end && VCHAR[b[i]!] === 1) i++;
    const le = i;
    if (b[le] !== CR || b[le + 1] !== LF || le + 1 >= end) {
      const c = b[le];
      if (le >= end) throw new HttpParseError("invalid-start-line", pos, "unterminated");
      if (c === LF) throw new HttpParseError("bare-lf", le);
      throw new HttpParseError(c === CR ? "bare-cr" : "invalid-field-value", le);
    }
    const lf = le + 1;
    let ve = le;
    while (ve > vs && isOws(b[ve - 1])) ve--;
    const nlen = nameEnd - pos;
    if (st !== null) {
      switch (nlen) {
        case 4:
          if (eqi(b, pos, "host")) {
            st.hostCount++;
            if (!isUriHost(b, vs, ve)) st.invalidHost = true;
          }
          break;
        case 6:
          if (eqi(b, pos, "expect") && ve - vs === 12 && eqi(b, vs, "100-continue")) {
            st.expectContinue = true;
          }
          break;
        case 7:
          if (eqi(b, pos, "upgrade")) st.upgrade = text.slice(vs - base, ve - base);
          break;
        case 10:
          if (eqi(b, pos, "connection")) parseConnection(b, vs, ve, st, text, base);
          break;
        case 14:
          if (eqi(b, pos, "content-length")) {
            const n = parseContentLength(b, vs, ve);
            if (st.contentLength !== -1 && st.contentLength !== n) {
              throw new HttpParseError("conflicting-content-length", pos);
            }
            st.contentLength = n;
          }
          break;
        case 17:
          if (eqi(b, pos, "transfer-encoding")) parseTransferEncoding(b, vs, ve, st);
          break;
      }
    }
    if (headers !== null) {
      headers.push([text.slice(pos - base, nameEnd - base), text.slice(vs - base, ve - base)]);
    } else offsets!.push(pos - base, nameEnd - base, vs - base, ve - base);
    pos = lf + 1;
  }
}

/** reg-name bytes besides pct-encoded (RFC 3986 §3.2.2): unreserved and sub-delims. */
const REG_NAME = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (alnum) t[c] = 1;
  }
  for (const c of "-._~!$&'()*+,;=") t[c.charCodeAt(0)] = 1;
  return t;
})();

function isHex(c: number | undefined): boolean {
  return c !== undefined &&
    ((c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102));
}

/**
 * Whether `b[s, e)` is `uri-host [ ":" port ]` or empty: a reg-name or IPv4
 * address, or an IP-literal in brackets (its inside checked loosely:
 * unreserved, sub-delims and ":"), then optional digits after a colon.
 */
function isUriHost(b: Uint8Array, s: number, e: number): boolean {
  let i = s;
  if (b[i] === 91 /* [ */ && i < e) {
    for (i++; i < e && b[i] !== 93 /* ] */; i++) {
      if (REG_NAME[b[i]!] !== 1 && b[i] !== COLON) return false;
    }
    if (i === e || i === s + 1) return false;
    i++;
  } else {
    while (i < e) {
      const c = b[i]!;
      if (REG_NAME[c] === 1) i++;
      else if (c === 37 /* % */ && isHex(b[i + 1]) && isHex(b[i + 2]) && i + 2 < e) i += 3;
      else break;
    }
  }
  if (i === e) return true;
  if (b[i] !== COLON) return false;
  for (i++; i < e; i++) if (b[i]! < 48 || b[i]! > 57) return false;
  return true;
}

/**
 * Parses the field lines after the start line (which ends at `le`) into a new
 * head carrying the framing facts, and checks the framing. The callers add
 * their start-line fields to it.
 */
function parseHeadFields(
  buf: Uint8Array,
  start: number,
  le: number,
  end: number,
  limits: HeadLimits,
  minor: number,
  text: string,
  offsets: number[] | null = null,
): ParsedHead {
  const head: ParsedHead = {
    versionMinor: minor,
    headers: [],
    contentLength: -1,
    transferEncoding: false,
    transferCodings: 0,
    chunked: false,
    connectionClose: false,
    connectionKeepAlive: false,
    connectionTokens: null,
    upgrade: null,
    expectContinue: false,
    hostCount: 0,
    invalidHost: false,
    headEnd: end,
  };
  const first = buf[le + 2];
  if (first === SP || first === HT) throw new HttpParseError("obs-fold", le + 2);
  // The head is its own field state: parseFields fills the framing facts in place.
  parseFields(
    buf,
    le + 2,
    end,
    limits.maxFields ?? MAX_FIELDS,
    offsets === null ? head.headers : null,
    head,
    text,
    start,
    offsets,
  );
  checkFraming(head, minor, start);
  return head;
}

/** Locates the start line `[start, le)` and checks the head size; returns `le` (the CR). */
function startLine(b: Uint8Array, start: number, end: number, limits: HeadLimits): number {
  if (end - start > (limits.maxHeadBytes ?? MAX_HEAD_BYTES)) {
    throw new HttpParseError("head-too-large", start);
  }
  if (end - start < 4 || b[end - 1] !== LF || b[end - 2] !== CR) {
    throw new HttpParseError("invalid-start-line", start, "incomplete head");
  }
  const lf = b.indexOf(LF, start);
  if (b[lf - 1] !== CR || lf - 1 < start) throw new HttpParseError("bare-lf", lf);
  return lf - 1;
}

function checkFraming(st: FieldState, minor: number, at: number): void {
  if (st.transferEncoding) {
    if (!st.chunked) throw new HttpParseError("invalid-transfer-encoding", at, "chunked not last");
    if (st.contentLength !== -1) {
      throw new HttpParseError("content-length-with-transfer-encoding", at);
    }
    if (minor === 0) throw new HttpParseError("transfer-encoding-http10", at);
  }
}

/**
 * Parses a complete response head in `buf[start, end)`, where `end` is what
 * {@linkcode findHeadEnd} returned. The status line must be
 * `HTTP/1.<digit> <3 digits> <reason>` (the reason and the space before it may
 * be missing). Throws {@linkcode HttpParseError}.
 *
 * Framing rules enforced: no Content-Length together with Transfer-Encoding,
 * no conflicting or non-numeric Content-Length (identical repeats and lists
 * such as `5, 5` collapse), Transfer-Encoding must end in one `chunked`, no
 * Transfer-Encoding in an HTTP/1.0 message, no obs-fold, no bare CR or LF, no
 * control characters in fields, field names must be tokens directly followed
 * by `:`, at most `maxFields` fields and `maxHeadBytes` bytes.
 *
 * @example
 * ```ts
 * import { parseResponseHead } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * const b = new TextEncoder().encode(
 *   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n",
 * );
 * const h = parseResponseHead(b, 0, b.length);
 * assert.equal(h.chunked, true);
 * assert.equal(h.connectionClose, true);
 * assert.equal(h.headEnd, b.length);
 * ```
 */
export function parseResponseHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: HeadLimits = {},
): ParsedResponseHead {
  return responseHead(buf, start, end, limits, null) as ParsedResponseHead;
}

/**
 * {@linkcode parseResponseHead} without making strings of the fields: the same
 * checks and framing facts, `headers` empty, and the fields in `fields` for
 * `HeaderMap.fromRaw`, which makes a field's strings only when they
 * are asked for. A proxy that passes the fields on unread saves that work.
 *
 * @example
 * ```ts
 * import { parseResponseFields } from "@cirque/core/h1-parse";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const b = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
 * const h = parseResponseFields(b, 0, b.length);
 * assert.equal(h.contentLength, 3);
 * assert.deepEqual(HeaderMap.fromRaw(h.fields).pairs, [["Content-Length", "3"]]);
 * ```
 */
export function parseResponseFields(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: HeadLimits = {},
): ParsedResponseFields {
  return responseHead(buf, start, end, limits, []) as ParsedResponseFields;
}

function responseHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: HeadLimits,
  offsets: number[] | null,
): ParsedResponseHead | ParsedResponseFields {
  const le = startLine(buf, start, end, limits);
  // "HTTP/1.x NNN"
  if (
    le - start < 12 || buf[start] !== 72 || buf[start + 1] !== 84 || buf[start + 2] !== 84 ||
    buf[start + 3] !== 80 || buf[start + 4] !== 47 || buf[start + 5] !== 49 ||
    buf[start + 6] !== 46
  ) {
    throw new HttpParseError("invalid-version", start);
  }
  const v = buf[start + 7]!;
  if (v < 48 || v > 57 || buf[start + 8] !== SP) throw new HttpParseError("invalid-version", start);
  const d0 = buf[start + 9]! - 48;
  const d1 = buf[start + 10]! - 48;
  const d2 = buf[start + 11]! - 48;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
    throw new HttpParseError("invalid-status", start + 9);
  }
  let rs = start + 12;
  if (rs < le) {
    if (buf[rs] !== SP) throw new HttpParseError("invalid-status", rs);
    rs++;
  }
  for (let i = rs; i < le; i++) {
    const c = buf[i]!;
    if (VCHAR[c] === 0) throw new HttpParseError(c === CR ? "bare-cr" : "invalid-status", i);
  }
  const text = decodeLatin1(buf, start, end);
  const head = parseHeadFields(buf, start, le, end, limits, v - 48, text, offsets) as
    & ParsedResponseHead
    & ParsedResponseFields;
  head.status = d0 * 100 + d1 * 10 + d2;
  head.reason = text.slice(rs - start, le - start);
  if (offsets !== null) head.fields = { text, offsets, buf, base: start };
  return head;
}

/**
 * Parses a complete request head in `buf[start, end)`, where `end` is what
 * {@linkcode findHeadEnd} returned. Besides the rules of
 * {@linkcode parseResponseHead}: the method must be a token, exactly one space
 * separates method, target and version, the version must be `HTTP/1.0` or
 * `HTTP/1.1`, and the target must be origin-form (`/…`) unless another form is
 * allowed in `limits`. A missing or repeated Host is reported in `hostCount`,
 * not rejected. An empty line before the request line (RFC 9112 §2.2) is the
 * caller's to skip. Throws {@linkcode HttpParseError}.
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * const b = new TextEncoder().encode("POST /up?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
 * const h = parseRequestHead(b, 0, b.length);
 * assert.equal(h.method, "POST");
 * assert.equal(h.target, "/up?x=1");
 * assert.equal(h.targetForm, "origin");
 * assert.equal(h.hostCount, 1);
 * assert.equal(h.contentLength, 5);
 * ```
 */
export function parseRequestHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: RequestHeadLimits = {},
): ParsedRequestHead {
  return requestHead(buf, start, end, limits, null);
}

/**
 * {@linkcode parseRequestHead} without making strings of the fields: the same
 * checks and framing facts, `headers` empty, and the fields in `fields` for
 * `HeaderMap.fromRaw` (as {@linkcode parseResponseFields} does for responses).
 *
 * @example
 * ```ts
 * import { parseRequestFields } from "@cirque/core/h1-parse";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const b = new TextEncoder().encode("GET /a HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n");
 * const h = parseRequestFields(b, 0, b.length);
 * assert.equal(h.target, "/a");
 * assert.deepEqual(h.headers, []);
 * assert.equal(HeaderMap.fromRaw(h.fields).get("accept"), "text/html");
 * ```
 */
export function parseRequestFields(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: RequestHeadLimits = {},
): ParsedRequestFields {
  return requestHead(buf, start, end, limits, []) as ParsedRequestFields;
}

function requestHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: RequestHeadLimits,
  offsets: number[] | null,
): ParsedRequestHead | ParsedRequestFields {
  const le = startLine(buf, start, end, limits);
  let i = start;
  while (i < le && TCHAR[buf[i]!] === 1) i++;
  if (i === start || buf[i] !== SP) {
    throw new HttpParseError(buf[i] === CR ? "bare-cr" : "invalid-method", i);
  }
  const methodEnd = i;
  const ts = ++i;
  while (i < le) {
    const c = buf[i]!;
    if (c <= SP || c >= 127) break;
    i++;
  }
  const te = i;
  if (i === le) throw new HttpParseError("invalid-version", i, "missing");
  if (te === ts || buf[i] !== SP) {
    throw new HttpParseError(buf[i] === CR ? "bare-cr" : "invalid-target", i);
  }
  i++;
  if (
    le - i !== 8 || buf[i] !== 72 || buf[i + 1] !== 84 || buf[i + 2] !== 84 ||
    buf[i + 3] !== 80 || buf[i + 4] !== 47 || buf[i + 5] !== 49 || buf[i + 6] !== 46 ||
    (buf[i + 7] !== 48 && buf[i + 7] !== 49)
  ) {
    throw new HttpParseError("invalid-version", i);
  }
  const minor = buf[i + 7]! - 48;
  const isConnect = methodEnd - start === 7 && eq(buf, start, "CONNECT");
  let form: TargetForm;
  const t0 = buf[ts];
  if (t0 === 47 /* / */ && !isConnect) form = "origin";
  else if (t0 === 42 /* * */ && te - ts === 1) {
    if (
      !limits.allowAsteriskForm || methodEnd - start !== 7 ||
      !eq(buf, start, "OPTIONS")
    ) throw new HttpParseError("invalid-target", ts);
    form = "asterisk";
  } else if (isConnect) {
    if (!limits.allowAuthorityForm || t0 === 47) throw new HttpParseError("invalid-target", ts);
    form = "authority";
  } else {
    // absolute-form: scheme "://" ...
    let k = ts;
    while (k < te && TCHAR[buf[k]!] === 1 && buf[k] !== COLON) k++;
    if (
      !limits.allowAbsoluteForm || k === ts || buf[k] !== COLON || buf[k + 1] !== 47 ||
      buf[k + 2] !== 47
    ) throw new HttpParseError("invalid-target", ts);
    // The authority: a non-empty uri-host[:port], no userinfo (RFC 9110 §4.2.1, §4.2.4).
    const as = k + 3;
    let ae = as;
    while (ae < te && buf[ae] !== 47 && buf[ae] !== 63 /* ? */ && buf[ae] !== 35 /* # */) ae++;
    if (ae === as || buf[as] === COLON || !isUriHost(buf, as, ae)) {
      throw new HttpParseError("invalid-target", as);
    }
    form = "absolute";
  }
  const text = decodeLatin1(buf, start, end);
  const head = parseHeadFields(buf, start, le, end, limits, minor, text, offsets) as
    & ParsedRequestHead
    & ParsedRequestFields;
  head.method = text.slice(0, methodEnd - start);
  head.target = text.slice(ts - start, te - start);
  head.targetForm = form;
  if (offsets !== null) head.fields = { text, offsets, buf, base: start };
  return head;
}

/**
 * How many bytes {@linkcode writeFieldLines} writes for `raw`.
 *
 * @example
 * ```ts
 * import { fieldLinesLength } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * // "A:  b  " as parsed: name [0, 1), value [4, 5); written as "A: b\r\n".
 * assert.equal(fieldLinesLength({ text: "A:  b  ", offsets: [0, 1, 4, 5] }), 6);
 * ```
 */
export function fieldLinesLength(raw: RawFields): number {
  const o = raw.offsets;
  let n = 0;
  for (let i = 0; i < o.length; i += 4) n += o[i + 1]! - o[i]! + o[i + 3]! - o[i + 2]! + 4;
  return n;
}

/**
 * Writes parsed fields at `out[p]` as `name: value` lines (each ending in
 * CRLF) and returns the new end; `out` must have
 * {@linkcode fieldLinesLength} bytes of room from `p`. Nothing is checked:
 * the fields are trusted as a parser's output, which refused CR, LF and NUL
 * in them. With `fromBuffer` and `raw.buf` there, the bytes are copied from
 * the buffer they were parsed from (lines that came as `name: value` and
 * follow each other in one copy); otherwise from the text, one byte per
 * character. The output is the same either way.
 *
 * @example
 * ```ts
 * import { fieldLinesLength, parseRequestFields, writeFieldLines } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * const b = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nX-Pad:\tb \r\n\r\n");
 * const { fields } = parseRequestFields(b, 0, b.length);
 * const out = new Uint8Array(fieldLinesLength(fields));
 * writeFieldLines(out, 0, fields, true);
 * assert.equal(new TextDecoder().decode(out), "Host: a\r\nX-Pad: b\r\n");
 * ```
 */
export function writeFieldLines(
  out: Uint8Array,
  p: number,
  raw: RawFields,
  fromBuffer: boolean,
): number {
  const o = raw.offsets;
  const b = raw.buf;
  if (fromBuffer && b !== undefined) return copyFieldLines(out, p, b, raw.base ?? 0, o);
  const t = raw.text;
  for (let i = 0; i < o.length; i += 4) {
    for (let k = o[i]!, e = o[i + 1]!; k < e; k++) out[p++] = t.charCodeAt(k);
    out[p++] = COLON;
    out[p++] = SP;
    for (let k = o[i + 2]!, e = o[i + 3]!; k < e; k++) out[p++] = t.charCodeAt(k);
    out[p++] = CR;
    out[p++] = LF;
  }
  return p;
}

/**
 * {@linkcode writeFieldLines} from the bytes (`b[base + k]` for offset `k`):
 * lines that came as `name: value` (one space after the colon, none after
 * the value) and follow each other go in one copy; any other is rebuilt as
 * `name: value`.
 */
function copyFieldLines(
  out: Uint8Array,
  p: number,
  b: Uint8Array,
  base: number,
  o: readonly number[],
): number {
  const n = o.length;
  for (let i = 0; i < n;) {
    const s = o[i]!;
    if (o[i + 2]! - o[i + 1]! === 2 && b[base + o[i + 1]! + 1] === SP) {
      // Extend over the next lines while each begins right after this one's
      // CRLF (no trailing whitespace) and is `name: value` too.
      let j = i;
      while (
        j + 4 < n && o[j + 4]! - o[j + 3]! === 2 && o[j + 6]! - o[j + 5]! === 2 &&
        b[base + o[j + 5]! + 1] === SP
      ) j += 4;
      const e = o[j + 3]!;
      out.set(b.subarray(base + s, base + e), p);
      p += e - s;
      i = j + 4;
    } else {
      for (let k = base + s, e = base + o[i + 1]!; k < e; k++) out[p++] = b[k]!;
      out[p++] = COLON;
      out[p++] = SP;
      for (let k = base + o[i + 2]!, e = base + o[i + 3]!; k < e; k++) out[p++] = b[k]!;
      i += 4;
    }
    out[p++] = CR;
    out[p++] = LF;
  }
  return p;
}

/** Limits of a {@linkcode ChunkedDecoder}. */
export interface ChunkedLimits {
  /**
   * Most chunk-extension bytes over the whole body (guards against bodies made
   * of tiny chunks with large extensions).
   * @default {16384}
   */
  maxExtensionBytes?: number;
  /**
   * Largest trailer section in bytes.
   * @default {65536}
   */
  maxTrailerBytes?: number;
  /**
   * Most trailer fields.
   * @default {200}
   */
  maxTrailerFields?: number;
}

// Decoder states.
const S_SIZE_START = 0;
const S_SIZE = 1;
const S_SIZE_LF = 2;
const S_EXT_BWS = 3; // after size or ext value: BWS, then ";" or CR
const S_EXT_NAME_START = 4; // after ";": BWS, then tchar
const S_EXT_NAME = 5;
const S_EXT_VALUE_START = 6; // after "=": BWS, then token or quoted
const S_EXT_VALUE = 7;
const S_EXT_QUOTED = 8;
const S_EXT_QUOTED_ESC = 9;
const S_EXT_AFTER_NAME = 10; // after name + BWS: "=" or ";" or CR
const S_DATA = 11;
const S_DATA_CR = 12;
const S_DATA_LF = 13;
const S_TRAILER_LINE_START = 14;
const S_TRAILER_LINE = 15;
const S_TRAILER_LF = 16;
const S_END_LF = 17;
const S_DONE = 18;
const S_EXT_VALUE_END = 19; // after a quoted value: CR, ";" or BWS
const S_FAILED = 20;

/**
 * Incremental, strict decoder of a chunked body (RFC 9112 §7.1), usable for
 * responses and requests. Feed it bytes with {@linkcode ChunkedDecoder.decode};
 * each call consumes bytes up to and including at most one run of chunk data,
 * which it reports as the range `[dataStart, dataEnd)` of the input (no
 * copy). The framing bytes consumed can be forwarded verbatim by a proxy that
 * passes chunked bodies through.
 *
 * Enforced: chunk sizes are 1–16 hex digits with no overflow past 2^53-1,
 * extensions follow `*( BWS ";" BWS token [ BWS "=" BWS ( token /
 * quoted-string ) ] )` and are bounded in total, every chunk's data is
 * followed by CRLF, trailers follow the field rules and are bounded.
 *
 * @example Decode a body that arrives in two pieces
 * ```ts
 * import { ChunkedDecoder } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * const enc = new TextEncoder();
 * const dec = new ChunkedDecoder();
 * let text = "";
 * for (const piece of ["5\r\nhel", "lo\r\n0\r\nX-Sum: 1\r\n\r\n"]) {
 *   const b = enc.encode(piece);
 *   let p = 0;
 *   while (p < b.length && !dec.done) {
 *     p = dec.decode(b, p, b.length);
 *     text += new TextDecoder().decode(b.subarray(dec.dataStart, dec.dataEnd));
 *   }
 * }
 * assert.equal(text, "hello");
 * assert.equal(dec.done, true);
 * assert.deepEqual(dec.trailers, [["X-Sum", "1"]]);
 * ```
 */
export class ChunkedDecoder {
  /** Start of the data range found by the last {@linkcode ChunkedDecoder.decode} call. */
  dataStart = 0;
  /** End of that range; equal to `dataStart` when the call found no data. */
  dataEnd = 0;
  /** Trailer fields; filled once {@linkcode ChunkedDecoder.done} is true. */
  trailers: HeaderPairs = [];
  #state = S_SIZE_START;
  #size = 0;
  #digits = 0;
  #remaining = 0;
  #extBytes = 0;
  #trailer: Uint8Array | null = null;
  #trailerLen = 0;
  readonly #maxExt: number;
  readonly #maxTrailer: number;
  readonly #maxTrailerFields: number;

  /** Creates a decoder positioned at the first chunk-size line. */
  constructor(limits: ChunkedLimits = {}) {
    this.#maxExt = limits.maxExtensionBytes ?? 16384;
    this.#maxTrailer = limits.maxTrailerBytes ?? 65536;
    this.#maxTrailerFields = limits.maxTrailerFields ?? MAX_FIELDS;
  }

  /** Whether the last chunk and the trailer section have been consumed. */
  get done(): boolean {
    return this.#state === S_DONE;
  }

  /** Readies the decoder for a new body. */
  reset(): void {
    this.#state = S_SIZE_START;
    this.#size = 0;
    this.#digits = 0;
    this.#remaining = 0;
    this.#extBytes = 0;
    this.#trailerLen = 0;
    this.dataStart = this.dataEnd = 0;
    if (this.trailers.length !== 0) this.trailers = [];
  }

  /**
   * Consumes bytes of `buf[start, end)` and returns the offset after the last
   * byte consumed. It stops right after a run of data (reported in
   * `[dataStart, dataEnd)`), at the end of the body (`done`), or at `end`.
   * Throws {@linkcode HttpParseError} on malformed input; the decoder is then
   * unusable until {@linkcode ChunkedDecoder.reset}.
   */
  decode(buf: Uint8Array, start: number, end: number): number {
    this.dataStart = this.dataEnd = start;
    let p = start;
    let state = this.#state;
    if (state === S_DONE) return start;
    if (state === S_FAILED) {
      throw new HttpParseError("invalid-chunk-size", start, "decoder failed before");
    }
    try {
      while (p < end) {
        if (state === S_DATA) {
          const n = Math.min(this.#remaining, end - p);
          this.dataStart = p;
          this.dataEnd = p + n;
          this.#remaining -= n;
          this.#state = this.#remaining === 0 ? S_DATA_CR : S_DATA;
          return p + n;
        }
        const c = buf[p]!;
        switch (state) {
          case S_SIZE_START:
          case S_SIZE: {
            const h = hexValue(c);
            if (h >= 0) {
              if (++this.#digits > 16) {
                throw new HttpParseError("invalid-chunk-size", p, "too long");
              }
              this.#size = this.#size * 16 + h;
              if (this.#size > Number.MAX_SAFE_INTEGER) {
                throw new HttpParseError("invalid-chunk-size", p, "overflow");
              }
              state = S_SIZE;
            } else if (state === S_SIZE_START) {
              throw new HttpParseError("invalid-chunk-size", p);
            } else if (c === CR) state = S_SIZE_LF;
            else if (c === 59 /* ; */) state = this.#ext(S_EXT_NAME_START, p);
            else if (c === SP || c === HT) state = this.#ext(S_EXT_BWS, p);
            else throw new HttpParseError("invalid-chunk-size", p);
            break;
          }
          case S_SIZE_LF:
            if (c !== LF) throw new HttpParseError("invalid-chunk-size", p, "bare CR");
            if (this.#size === 0) state = S_TRAILER_LINE_START;
            else {
              this.#remaining = this.#size;
              state = S_DATA;
            }
            this.#size = 0;
            this.#digits = 0;
            break;
          case S_EXT_BWS:
            if (c === 59) state = this.#ext(S_EXT_NAME_START, p);
            else if (c === SP || c === HT) state = this.#ext(S_EXT_BWS, p);
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_EXT_NAME_START:
            if (c === SP || c === HT) state = this.#ext(S_EXT_NAME_START, p);
            else if (TCHAR[c] === 1) state = this.#ext(S_EXT_NAME, p);
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_EXT_NAME:
          case S_EXT_AFTER_NAME:
            if (TCHAR[c] === 1 && state === S_EXT_NAME) state = this.#ext(S_EXT_NAME, p);
            else if (c === SP || c === HT) state = this.#ext(S_EXT_AFTER_NAME, p);
            else if (c === 61 /* = */) state = this.#ext(S_EXT_VALUE_START, p);
            else if (c === 59) state = this.#ext(S_EXT_NAME_START, p);
            else if (c === CR && state === S_EXT_NAME) state = S_SIZE_LF;
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_EXT_VALUE_START:
            if (c === SP || c === HT) state = this.#ext(S_EXT_VALUE_START, p);
            else if (c === 34 /* " */) state = this.#ext(S_EXT_QUOTED, p);
            else if (TCHAR[c] === 1) state = this.#ext(S_EXT_VALUE, p);
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_EXT_VALUE:
            if (TCHAR[c] === 1) state = this.#ext(S_EXT_VALUE, p);
            else if (c === SP || c === HT) state = this.#ext(S_EXT_BWS, p);
            else if (c === 59) state = this.#ext(S_EXT_NAME_START, p);
            else if (c === CR) state = S_SIZE_LF;
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_EXT_QUOTED:
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            if (c === 34) state = this.#ext(S_EXT_VALUE_END, p);
            else if (c === 92 /* \ */) state = this.#ext(S_EXT_QUOTED_ESC, p);
            else if (VCHAR[c] === 1) state = this.#ext(S_EXT_QUOTED, p);
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_EXT_VALUE_END:
            if (c === CR) state = S_SIZE_LF;
            else if (c === 59) state = this.#ext(S_EXT_NAME_START, p);
            else if (c === SP || c === HT) state = this.#ext(S_EXT_BWS, p);
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_EXT_QUOTED_ESC:
            if (VCHAR[c] === 1) state = this.#ext(S_EXT_QUOTED, p);
            else throw new HttpParseError("invalid-chunk-extension", p);
            break;
          case S_DATA_CR:
            if (c !== CR) throw new HttpParseError("invalid-chunk-end", p);
            state = S_DATA_LF;
            break;
          case S_DATA_LF:
            if (c !== LF) throw new HttpParseError("invalid-chunk-end", p);
            state = S_SIZE_START;
            break;
          case S_TRAILER_LINE_START:
            if (c === CR) state = S_END_LF;
            else {
              this.#trail(c, p);
              state = S_TRAILER_LINE;
            }
            break;
          case S_TRAILER_LINE:
            this.#trail(c, p);
            if (c === CR) state = S_TRAILER_LF;
            else if (c === LF) throw new HttpParseError("bare-lf", p);
            break;
          case S_TRAILER_LF:
            if (c !== LF) throw new HttpParseError("bare-cr", p);
            this.#trail(c, p);
            state = S_TRAILER_LINE_START;
            break;
          case S_END_LF:
            if (c !== LF) throw new HttpParseError("bare-cr", p);
            this.#state = S_DONE;
            this.#finishTrailers();
            return p + 1;
          default:
            // S_DONE: consume nothing more
            this.#state = state;
            return p;
        }
        p++;
      }
    } catch (e) {
      this.#state = S_FAILED;
      throw e;
    }
    this.#state = state;
    return p;
  }

  /** Counts one extension byte and returns `next`. */
  #ext(next: number, p: number): number {
    if (++this.#extBytes > this.#maxExt) throw new HttpParseError("chunk-extension-too-large", p);
    return next;
  }

  #trail(c: number, p: number): void {
    if (this.#trailerLen + 2 >= this.#maxTrailer) throw new HttpParseError("trailers-too-large", p);
    let t = this.#trailer;
    if (t === null || t.length < this.#trailerLen + 3) {
      const n = new Uint8Array(Math.min(this.#maxTrailer + 3, Math.max(256, this.#trailerLen * 2)));
      if (t !== null) n.set(t);
      this.#trailer = t = n;
    }
    t[this.#trailerLen++] = c;
  }

  #finishTrailers(): void {
    if (this.#trailerLen === 0) return;
    const t = this.#trailer!;
    t[this.#trailerLen++] = CR;
    t[this.#trailerLen++] = LF;
    const text = decodeLatin1(t, 0, this.#trailerLen);
    const out: HeaderPairs = [];
    parseFields(t, 0, this.#trailerLen, this.#maxTrailerFields, out, null, text, 0);
    this.trailers = out;
    this.#trailerLen = 0;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * Whether a response can carry a body (RFC 9112 §6.3): never for a `HEAD`
 * request, a 1xx, a 204 or a 304.
 *
 * @example
 * ```ts
 * import { responseHasBody } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * assert.equal(responseHasBody("GET", 200), true);
 * assert.equal(responseHasBody("HEAD", 200), false);
 * assert.equal(responseHasBody("GET", 304), false);
 * ```
 */
export function responseHasBody(method: string, status: number): boolean {
  return method !== "HEAD" && status >= 200 && status !== 204 && status !== 304;
}

/**
 * A Content-Length value as a number: 1–15 ASCII digits, else -1 (the rule
 * `/^[0-9]{1,15}$/` without a regular expression).
 *
 * @example
 * ```ts
 * import { parseDecimalLength } from "@cirque/core/h1-parse";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseDecimalLength("1024"), 1024);
 * assert.equal(parseDecimalLength("5, 5"), -1);
 * ```
 */
export function parseDecimalLength(v: string): number {
  const l = v.length;
  if (l === 0 || l > 15) return -1;
  let n = 0;
  for (let i = 0; i < l; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
