/**
 * Body framing as a strict reader applies it, for the hostile-input tests'
 * reference readers. Test support, not published.
 *
 * @module
 */

import { ChunkedDecoder } from "../h1_parse.ts";

/** The bytes `[from, to)` as a Latin-1 string (one character per byte). */
export function latin1(bytes: Uint8Array, from = 0, to = bytes.length): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

/**
 * Decodes the chunked body that starts at `pos`: its data as Latin-1 and the
 * offset after it, or `null` when it is invalid or not complete in `bytes`.
 */
export function chunkedBody(bytes: Uint8Array, pos: number): { body: string; end: number } | null {
  const d = new ChunkedDecoder();
  let body = "";
  try {
    while (!d.done) {
      const next = d.decode(bytes, pos, bytes.length);
      body += latin1(bytes, d.dataStart, d.dataEnd);
      if (next === pos && !d.done) return null;
      pos = next;
    }
  } catch {
    return null;
  }
  return { body, end: pos };
}
