/**
 * Seeded mutations of HTTP/1 heads for hostile-input tests: byte flips,
 * insertions and deletions with bytes on a rule's edge, and whole lines that
 * smuggling attempts are made of. Test support, not published.
 *
 * @module
 */

/** Bytes that sit on a rule's edge: controls, separators, digits, obs-text. */
export const EDGE = [0, 9, 10, 13, 32, 34, 44, 48, 53, 57, 58, 59, 61, 97, 127, 128, 255];
/** Whole lines that smuggling attempts are made of. */
export const EDGE_LINES = [
  "Transfer-Encoding: chunked",
  "Transfer-Encoding: chunked, identity",
  "Transfer-Encoding : chunked",
  "Transfer-Encoding:\tchunked",
  "transfer-encoding: CHUNKED",
  "Content-Length: 5",
  "Content-Length: 6",
  "Content-Length: +5",
  "Content-Length: 5, 6",
  "Content-Length: 0x5",
  " folded continuation",
  "Host: other",
  "Connection: close",
  "X: a\rb",
];

/**
 * One to three mutations of `text` (a head with CRLF line ends), drawn from
 * `rnd`: a byte replaced, inserted or deleted, or a line inserted from
 * {@linkcode EDGE_LINES}, duplicated or dropped.
 */
export function mutate(text: string, rnd: () => number): Uint8Array {
  let bytes = [...new TextEncoder().encode(text)];
  const ops = 1 + Math.floor(rnd() * 3);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rnd() * bytes.length);
    const edge = EDGE[Math.floor(rnd() * EDGE.length)]!;
    const op = Math.floor(rnd() * 6);
    if (op === 0) bytes[at] = edge;
    else if (op === 1) bytes.splice(at, 0, edge);
    else if (op === 2) bytes.splice(at, 1);
    else {
      // Line-level: insert, duplicate or drop a line of the head.
      const lines = String.fromCharCode(...bytes).split("\r\n");
      const body = lines.length - 2; // the last two entries are the empty line's halves
      const i = 1 + Math.floor(rnd() * Math.max(1, body - 1));
      if (op === 3) lines.splice(i, 0, EDGE_LINES[Math.floor(rnd() * EDGE_LINES.length)]!);
      else if (op === 4) lines.splice(i, 0, lines[i] ?? "");
      else if (i < body) lines.splice(i, 1);
      bytes = Array.from(lines.join("\r\n"), (c) => c.charCodeAt(0));
    }
  }
  return new Uint8Array(bytes);
}

