import assert from "node:assert/strict";
import {
  ChunkedDecoder,
  fieldLinesLength,
  findHeadEnd,
  HttpParseError,
  type ParseErrorReason,
  parseRequestFields,
  parseRequestHead,
  parseResponseFields,
  parseResponseHead,
  type RequestHeadLimits,
  writeFieldLines,
} from "./h1_parse.ts";
import { HeaderMap } from "./http_header.ts";
import { mutate } from "./testdata/mutate.ts";
import { prng } from "./testdata/prng.ts";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);

function res(s: string, limits = {}) {
  const u = b(s);
  return parseResponseHead(u, 0, u.length, limits);
}
function req(s: string, limits: RequestHeadLimits = {}) {
  const u = b(s);
  return parseRequestHead(u, 0, u.length, limits);
}
function rejects(fn: () => unknown, reason: ParseErrorReason) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HttpParseError, String(e));
    assert.equal(e.reason, reason);
    return true;
  });
}

Deno.test("findHeadEnd", async (t) => {
  await t.step("finds CRLFCRLF and returns the first body byte", () => {
    const u = b("HTTP/1.1 200 OK\r\nA: b\r\n\r\nBODY");
    assert.equal(findHeadEnd(u, 0, u.length), u.length - 4);
  });
  await t.step("incomplete heads return -1, also when resumed", () => {
    const u = b("HTTP/1.1 200 OK\r\nA: b\r\n\r");
    assert.equal(findHeadEnd(u, 0, u.length), -1);
    const full = b("HTTP/1.1 200 OK\r\nA: b\r\n\r\n");
    assert.equal(findHeadEnd(full, u.length - 3, full.length), full.length);
  });
  await t.step("ignores bytes past `to`", () => {
    const u = b("HTTP/1.1 200 OK\r\n\r\n");
    assert.equal(findHeadEnd(u, 0, u.length - 1), -1);
  });
  await t.step("a bare LF line ending in an incomplete head returns -2", () => {
    assert.equal(findHeadEnd(b("HTTP/1.1 200 OK\nA: b\r\n\r"), 0, 23), -2);
    assert.equal(findHeadEnd(b("HTTP/1.1 200 OK\r\n\n"), 0, 18), -2);
    assert.equal(findHeadEnd(b("GET / HTTP/1.1\nHost: a\n\n"), 0, 25), -2);
    assert.equal(findHeadEnd(b("\n"), 0, 1), -2);
  });
  await t.step("a complete head with a bare LF inside: found, and the parser refuses it", () => {
    const u = b("HTTP/1.1 200 OK\nA: b\r\n\r\n");
    assert.equal(findHeadEnd(u, 0, u.length), u.length);
    rejects(() => parseResponseHead(u, 0, u.length), "bare-lf");
  });
  await t.step("agrees with a byte-by-byte scan on random heads and resumed scans", () => {
    // The scan it replaced: every LF looked at.
    const slow = (buf: Uint8Array, from: number, to: number): number => {
      for (let i = from; i < to; i++) {
        if (buf[i] !== 10) continue;
        if (buf[i - 1] !== 13 || i === 0) return -2;
        if (buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
      }
      return -1;
    };
    const alphabet = [13, 10, 13, 10, 65, 58, 32, 9, 0, 200];
    const random = prng(7);
    const rnd = (n: number) => Math.floor(random() * n);
    for (let k = 0; k < 20000; k++) {
      const u = new Uint8Array(1 + rnd(24)).map(() => alphabet[rnd(alphabet.length)]!);
      const from = rnd(u.length);
      const to = from + rnd(u.length - from + 1);
      const want = slow(u, from, to);
      const got = findHeadEnd(u, from, to);
      if (want !== -2) {
        assert.equal(got, want, `${u} ${from} ${to}`);
      } else if (got !== -2) {
        // The slow scan met a bare LF first; the fast one found an end after it.
        assert.ok(got > from, `${u} ${from} ${to}`);
        assert.equal(slow(u, from, got), -2);
      }
    }
  });
});

Deno.test("parseResponseHead accepts valid heads", async (t) => {
  await t.step("status line, fields as written, trimmed values", () => {
    const h = res("HTTP/1.1 404 Not Found\r\nX-Case: \t a b \t\r\nServer:nginx\r\n\r\n");
    assert.equal(h.status, 404);
    assert.equal(h.reason, "Not Found");
    assert.equal(h.versionMinor, 1);
    assert.deepEqual(h.headers, [["X-Case", "a b"], ["Server", "nginx"]]);
    assert.equal(h.contentLength, -1);
    assert.equal(h.chunked, false);
    assert.equal(h.connectionTokens, null);
  });
  await t.step("empty reason, missing reason, HTTP/1.0", () => {
    assert.equal(res("HTTP/1.1 200 \r\n\r\n").reason, "");
    assert.equal(res("HTTP/1.1 200\r\n\r\n").status, 200);
    assert.equal(res("HTTP/1.0 200 OK\r\n\r\n").versionMinor, 0);
  });
  await t.step("empty field value", () => {
    assert.deepEqual(res("HTTP/1.1 200 OK\r\nX-E:\r\nX-F:  \r\n\r\n").headers, [
      ["X-E", ""],
      ["X-F", ""],
    ]);
  });
  await t.step("Content-Length: identical repeats and lists collapse", () => {
    assert.equal(res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").contentLength, 5);
    assert.equal(
      res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n").contentLength,
      5,
    );
    assert.equal(res("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").contentLength, 5);
    assert.equal(res("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n").contentLength, 7);
    assert.equal(res("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").contentLength, 0);
  });
  await t.step("Transfer-Encoding ending in chunked", () => {
    for (
      const v of ["chunked", "CHUNKED", "gzip, chunked", "gzip,chunked", "gzip;q=1 , chunked"]
    ) {
      const h = res(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${v}\r\n\r\n`);
      assert.equal(h.chunked, true, v);
      assert.equal(h.transferEncoding, true, v);
    }
    const split = res(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert.equal(split.chunked, true);
  });
  await t.step("Connection tokens, Upgrade", () => {
    const h = res(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade, close,keep-alive , X-Hop\r\nUpgrade: websocket\r\n\r\n",
    );
    assert.equal(h.connectionClose, true);
    assert.equal(h.connectionKeepAlive, true);
    assert.deepEqual(h.connectionTokens, ["upgrade", "x-hop"]);
    assert.equal(h.upgrade, "websocket");
  });
  await t.step("obs-text in values round-trips as Latin-1", () => {
    const u = new Uint8Array([...b("HTTP/1.1 200 OK\r\nX: a"), 0xe9, 0x80, ...b("\r\n\r\n")]);
    const h = parseResponseHead(u, 0, u.length);
    assert.equal(h.headers[0]![1], "a\u00e9\u0080");
  });
  await t.step("bytes that are valid UTF-8 are still read as Latin-1", () => {
    // é (C3 A9), U+FFFD itself (EF BF BD), and a lone 0xFF: one character per byte each.
    for (const bytes of [[0xc3, 0xa9], [0xef, 0xbf, 0xbd], [0xff], [0xc3, 0xa9, 0xff]]) {
      const u = new Uint8Array([...b("HTTP/1.1 200 OK\r\nX: a"), ...bytes, ...b("\r\n\r\n")]);
      const want = "a" + String.fromCharCode(...bytes);
      assert.equal(parseResponseHead(u, 0, u.length).headers[0]![1], want);
      const raw = parseResponseFields(u, 0, u.length);
      assert.deepEqual(HeaderMap.fromRaw(raw.fields).pairs, [["X", want]]);
    }
  });
  await t.step("parses at an offset inside a larger buffer", () => {
    const u = b("xxHTTP/1.1 200 OK\r\nA: 1\r\n\r\nyy");
    const end = findHeadEnd(u, 2, u.length);
    const h = parseResponseHead(u, 2, end);
    assert.deepEqual(h.headers, [["A", "1"]]);
    assert.equal(h.headEnd, u.length - 2);
  });
  await t.step("exactly 200 fields and exactly 64 KiB are fine", () => {
    const fields = Array.from({ length: 200 }, (_, i) => `F${i}: v\r\n`).join("");
    assert.equal(res(`HTTP/1.1 200 OK\r\n${fields}\r\n`).headers.length, 200);
    const pre = "HTTP/1.1 200 OK\r\nX: ";
    const pad = "a".repeat(65536 - pre.length - 4);
    assert.equal(res(`${pre}${pad}\r\n\r\n`).headers[0]![1].length, pad.length);
  });
});

Deno.test("parseResponseHead rejects every invalid head", async (t) => {
  const cases: [string, string, ParseErrorReason][] = [
    [
      "conflicting Content-Length",
      "Content-Length: 5\r\nContent-Length: 6\r\n",
      "conflicting-content-length",
    ],
    ["conflicting Content-Length list", "Content-Length: 5, 6\r\n", "conflicting-content-length"],
    ["non-numeric Content-Length", "Content-Length: 5a\r\n", "invalid-content-length"],
    ["signed Content-Length", "Content-Length: +5\r\n", "invalid-content-length"],
    ["negative Content-Length", "Content-Length: -1\r\n", "invalid-content-length"],
    ["empty Content-Length", "Content-Length: \r\n", "invalid-content-length"],
    ["empty list element", "Content-Length: 5,\r\n", "invalid-content-length"],
    ["huge Content-Length", "Content-Length: 1234567890123456\r\n", "invalid-content-length"],
    [
      "CL with TE",
      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
      "content-length-with-transfer-encoding",
    ],
    [
      "TE with CL",
      "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
      "content-length-with-transfer-encoding",
    ],
    ["TE not chunked", "Transfer-Encoding: gzip\r\n", "invalid-transfer-encoding"],
    ["TE chunked not last", "Transfer-Encoding: chunked, gzip\r\n", "invalid-transfer-encoding"],
    ["TE chunked twice", "Transfer-Encoding: chunked, chunked\r\n", "invalid-transfer-encoding"],
    [
      "TE chunked then another line",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
      "invalid-transfer-encoding",
    ],
    ["TE empty", "Transfer-Encoding: \r\n", "invalid-transfer-encoding"],
    ["TE chunked with params", "Transfer-Encoding: chunked;q=1\r\n", "invalid-transfer-encoding"],
    ["TE identity", "Transfer-Encoding: identity\r\n", "invalid-transfer-encoding"],
    ["obs-fold", "X-A: a\r\n b\r\n", "obs-fold"],
    ["obs-fold with tab", "X-A: a\r\n\tb\r\n", "obs-fold"],
    ["bare CR in value", "X-A: a\rb\r\n", "bare-cr"],
    ["bare CR in name", "X\r-A: a\r\n", "bare-cr"],
    ["bare LF", "X-A: a\nX-B: b\r\n", "bare-lf"],
    ["NUL in value", "X-A: a\0b\r\n", "invalid-field-value"],
    ["control char in value", "X-A: a\x01b\r\n", "invalid-field-value"],
    ["DEL in value", "X-A: a\x7fb\r\n", "invalid-field-value"],
    ["NUL in name", "X\0A: a\r\n", "invalid-field-name"],
    ["space in name", "X A: a\r\n", "whitespace-before-colon"],
    ["space before colon", "X-A : a\r\n", "whitespace-before-colon"],
    ["tab before colon", "X-A\t: a\r\n", "whitespace-before-colon"],
    ["empty name", ": a\r\n", "invalid-field-name"],
    ["no colon", "X-A\r\n", "invalid-field-name"],
    ["non-token name", "X(A): a\r\n", "invalid-field-name"],
    ["invalid Connection", "Connection: close; x\r\n", "invalid-connection"],
  ];
  for (const [name, fields, reason] of cases) {
    await t.step(name, () => rejects(() => res(`HTTP/1.1 200 OK\r\n${fields}\r\n`), reason));
  }
  const lines: [string, string, ParseErrorReason][] = [
    ["HTTP/2", "HTTP/2.0 200 OK", "invalid-version"],
    ["HTTP/1.x letter", "HTTP/1.a 200 OK", "invalid-version"],
    ["lowercase http", "http/1.1 200 OK", "invalid-version"],
    ["two spaces", "HTTP/1.1  200 OK", "invalid-status"],
    ["leading space", " HTTP/1.1 200 OK", "invalid-version"],
    ["two-digit status", "HTTP/1.1 20 OK", "invalid-status"],
    ["four-digit status", "HTTP/1.1 2000 OK", "invalid-status"],
    ["status 099", "HTTP/1.1 099 OK", "invalid-status"],
    ["letters in status", "HTTP/1.1 2x0 OK", "invalid-status"],
    ["NUL in reason", "HTTP/1.1 200 O\0K", "invalid-status"],
    ["bare CR in reason", "HTTP/1.1 200 O\rK", "bare-cr"],
  ];
  for (const [name, line, reason] of lines) {
    await t.step(name, () => rejects(() => res(`${line}\r\nA: b\r\n\r\n`), reason));
  }
  await t.step("bare LF after the status line", () => {
    rejects(() => res("HTTP/1.1 200 OK\nA: b\r\n\r\n"), "bare-lf");
  });
  await t.step("whitespace before the first field (obs-fold of the status line)", () => {
    rejects(() => res("HTTP/1.1 200 OK\r\n A: b\r\n\r\n"), "obs-fold");
  });
  await t.step("HTTP/1.0 with Transfer-Encoding", () => {
    rejects(
      () => res("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
      "transfer-encoding-http10",
    );
  });
  await t.step("201 fields", () => {
    const fields = Array.from({ length: 201 }, (_, i) => `F${i}: v\r\n`).join("");
    rejects(() => res(`HTTP/1.1 200 OK\r\n${fields}\r\n`), "too-many-fields");
    rejects(
      () => res(`HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n`, { maxFields: 1 }),
      "too-many-fields",
    );
  });
  await t.step("64 KiB + 1 head", () => {
    const pre = "HTTP/1.1 200 OK\r\nX: ";
    const pad = "a".repeat(65537 - pre.length - 4);
    rejects(() => res(`${pre}${pad}\r\n\r\n`), "head-too-large");
  });
  await t.step("an incomplete head", () => {
    rejects(() => res("HTTP/1.1 200 OK\r\n"), "invalid-start-line");
  });
});

Deno.test("parseRequestHead", async (t) => {
  await t.step("request line, Host count, Expect, framing", () => {
    const h = req(
      "PUT /a/b?c=d HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert.equal(h.method, "PUT");
    assert.equal(h.target, "/a/b?c=d");
    assert.equal(h.targetForm, "origin");
    assert.equal(h.versionMinor, 1);
    assert.equal(h.hostCount, 1);
    assert.equal(h.expectContinue, true);
    assert.equal(h.chunked, true);
  });
  await t.step("missing and repeated Host are reported, not rejected", () => {
    assert.equal(req("GET / HTTP/1.1\r\n\r\n").hostCount, 0);
    assert.equal(req("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").hostCount, 2);
  });
  await t.step("a Host value that is not uri-host [:port] is reported in invalidHost", () => {
    const valid = [
      "a",
      "a.test:8080",
      "[::1]",
      "[::1]:443",
      "1.2.3.4:80",
      "a%2Eb",
      "",
      "x_y~z",
      ":80",
    ];
    for (const host of valid) {
      assert.equal(req(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`).invalidHost, false, host);
    }
    const invalid = ["a/b?c d", "a b", "a:8x", "[::1", "[]", "u@a", "a%2", "a%zz", "a]:1", "a:1:2"];
    for (const host of invalid) {
      assert.equal(req(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`).invalidHost, true, host);
    }
  });
  await t.step("HTTP/1.0 request without TE", () => {
    assert.equal(req("GET / HTTP/1.0\r\n\r\n").versionMinor, 0);
  });
  await t.step("other target forms only when allowed", () => {
    assert.equal(
      req("GET http://a.test/x HTTP/1.1\r\n\r\n", { allowAbsoluteForm: true }).targetForm,
      "absolute",
    );
    assert.equal(
      req("CONNECT a.test:443 HTTP/1.1\r\n\r\n", { allowAuthorityForm: true }).targetForm,
      "authority",
    );
    assert.equal(
      req("OPTIONS * HTTP/1.1\r\n\r\n", { allowAsteriskForm: true }).targetForm,
      "asterisk",
    );
    rejects(() => req("GET http://a.test/x HTTP/1.1\r\n\r\n"), "invalid-target");
    for (
      const target of ["http://[::1/", "http://u@a/", "http:///p", "http://:80/", "http://a:x/"]
    ) {
      rejects(
        () => req(`GET ${target} HTTP/1.1\r\n\r\n`, { allowAbsoluteForm: true }),
        "invalid-target",
      );
    }
    rejects(() => req("CONNECT a.test:443 HTTP/1.1\r\n\r\n"), "invalid-target");
    rejects(() => req("OPTIONS * HTTP/1.1\r\n\r\n"), "invalid-target");
    rejects(() => req("GET * HTTP/1.1\r\n\r\n", { allowAsteriskForm: true }), "invalid-target");
    rejects(
      () => req("CONNECT /x HTTP/1.1\r\n\r\n", { allowAuthorityForm: true }),
      "invalid-target",
    );
    rejects(
      () => req("GET a.test:443 HTTP/1.1\r\n\r\n", { allowAbsoluteForm: true }),
      "invalid-target",
    );
  });
  const bad: [string, string, ParseErrorReason][] = [
    [
      "whitespace between name and colon",
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
      "whitespace-before-colon",
    ],
    [
      "HTTP/1.0 with Transfer-Encoding",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
      "transfer-encoding-http10",
    ],
    ["non-token method", "G(T / HTTP/1.1\r\n\r\n", "invalid-method"],
    ["empty method", " / HTTP/1.1\r\n\r\n", "invalid-method"],
    ["HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", "invalid-version"],
    ["HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", "invalid-version"],
    ["missing version", "GET /\r\n\r\n", "invalid-version"],
    ["trailing space", "GET / HTTP/1.1 \r\n\r\n", "invalid-version"],
    ["two spaces", "GET  / HTTP/1.1\r\n\r\n", "invalid-target"],
    ["tab separator", "GET\t/ HTTP/1.1\r\n\r\n", "invalid-method"],
    ["control char in target", "GET /a\x01b HTTP/1.1\r\n\r\n", "invalid-target"],
    ["non-ASCII in target", "GET /\u00e9 HTTP/1.1\r\n\r\n", "invalid-target"],
    ["relative target", "GET a/b HTTP/1.1\r\n\r\n", "invalid-target"],
    ["bare CR in request line", "GET /\r HTTP/1.1\r\n\r\n", "bare-cr"],
    [
      "different duplicate Content-Length",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "conflicting-content-length",
    ],
    [
      "TE other than chunked last",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "invalid-transfer-encoding",
    ],
    [
      "CL and TE",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "content-length-with-transfer-encoding",
    ],
    ["obs-fold", "GET / HTTP/1.1\r\nA: b\r\n  c\r\n\r\n", "obs-fold"],
    ["bare LF", "GET / HTTP/1.1\nA: b\r\n\r\n", "bare-lf"],
  ];
  for (const [name, raw, reason] of bad) await t.step(name, () => rejects(() => req(raw), reason));
  await t.step("identical duplicate Content-Length collapses (also in list form)", () => {
    assert.equal(
      req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").contentLength,
      5,
    );
    assert.equal(req("POST / HTTP/1.1\r\nContent-Length: 5 ,5\r\n\r\n").contentLength, 5);
  });
  await t.step("methods are case-sensitive tokens", () => {
    assert.equal(req("get / HTTP/1.1\r\n\r\n").method, "get");
    rejects(
      () => req("connect a:1 HTTP/1.1\r\n\r\n", { allowAuthorityForm: true }),
      "invalid-target",
    );
  });
});

/** Feeds `pieces` through a decoder and returns the data and the decoder. */
function decodeAll(pieces: (string | Uint8Array)[], dec = new ChunkedDecoder()) {
  const out: number[] = [];
  let consumedAfterDone = -1;
  for (const piece of pieces) {
    const u = typeof piece === "string" ? b(piece) : piece;
    let p = 0;
    while (p < u.length && !dec.done) {
      p = dec.decode(u, p, u.length);
      out.push(...u.subarray(dec.dataStart, dec.dataEnd));
    }
    if (dec.done && consumedAfterDone < 0) consumedAfterDone = u.length - p;
  }
  return { data: new TextDecoder().decode(new Uint8Array(out)), dec, leftover: consumedAfterDone };
}

Deno.test("ChunkedDecoder accepts valid bodies", async (t) => {
  await t.step("several chunks, hex in both cases", () => {
    const r = decodeAll(["3\r\nabc\r\nA\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"]);
    assert.equal(r.data, "abc0123456789abcdefghij");
    assert.equal(r.dec.done, true);
    assert.deepEqual(r.dec.trailers, []);
  });
  await t.step("split at every byte boundary", () => {
    const raw = "5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
    for (let i = 1; i < raw.length; i++) {
      const r = decodeAll([raw.slice(0, i), raw.slice(i)]);
      assert.equal(r.data, "hello world", `split at ${i}`);
      assert.deepEqual(r.dec.trailers, [["X-T", "1"]], `split at ${i}`);
    }
  });
  await t.step("one byte at a time", () => {
    const raw = "2\r\nab\r\n0\r\nA: 1\r\nB: 2\r\n\r\n";
    const r = decodeAll([...raw]);
    assert.equal(r.data, "ab");
    assert.deepEqual(r.dec.trailers, [["A", "1"], ["B", "2"]]);
  });
  await t.step("data ranges point into the input (no copy)", () => {
    const u = b("4\r\nWXYZ\r\n0\r\n\r\n");
    const dec = new ChunkedDecoder();
    const p = dec.decode(u, 0, u.length);
    assert.equal(p, 7);
    assert.equal(dec.dataStart, 3);
    assert.equal(dec.dataEnd, 7);
  });
  await t.step("stops at the end of the body, leaving the next message", () => {
    const r = decodeAll(["1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK"]);
    assert.equal(r.leftover, "HTTP/1.1 200 OK".length);
  });
  await t.step("extensions: BWS, token and quoted values, several", () => {
    const r = decodeAll([
      '1 ; a = b ;c;d="x \\" y"\r\nZ\r\n0;last\r\n\r\n',
    ]);
    assert.equal(r.data, "Z");
  });
  await t.step("16 hex digits with leading zeros", () => {
    assert.equal(decodeAll(["0000000000000001\r\nq\r\n0\r\n\r\n"]).data, "q");
  });
  await t.step("reset reuses the decoder", () => {
    const dec = new ChunkedDecoder();
    decodeAll(["0\r\nA: 1\r\n\r\n"], dec);
    dec.reset();
    assert.equal(dec.done, false);
    assert.equal(decodeAll(["1\r\nx\r\n0\r\n\r\n"], dec).data, "x");
    assert.deepEqual(dec.trailers, []);
  });
});

Deno.test("ChunkedDecoder rejects invalid bodies", async (t) => {
  const cases: [string, string, ParseErrorReason][] = [
    ["non-hex size", "g\r\n", "invalid-chunk-size"],
    ["empty size", "\r\n", "invalid-chunk-size"],
    ["sign in size", "+1\r\nx\r\n", "invalid-chunk-size"],
    ["0x prefix", "0x1\r\nx\r\n", "invalid-chunk-size"],
    ["17 hex digits", "00000000000000001\r\nx\r\n", "invalid-chunk-size"],
    ["overflow", "FFFFFFFFFFFFFF\r\n", "invalid-chunk-size"],
    ["bare LF after size", "1\nx\r\n", "invalid-chunk-size"],
    ["bare CR after size", "1\rx\r\n", "invalid-chunk-size"],
    ["space then CRLF", "1 \r\nx\r\n", "invalid-chunk-extension"],
    ["trailing whitespace after extension", "1;a \r\nx\r\n", "invalid-chunk-extension"],
    ["trailing whitespace after quoted value", '1;a="b"\t\r\nx\r\n', "invalid-chunk-extension"],
    ["extension without name", "1;\r\nx\r\n", "invalid-chunk-extension"],
    ["extension with =", "1;=b\r\nx\r\n", "invalid-chunk-extension"],
    ["extension bad value", "1;a=\r\nx\r\n", "invalid-chunk-extension"],
    ["extension control char", "1;a\x01\r\nx\r\n", "invalid-chunk-extension"],
    ["extension bare LF", "1;a\nx\r\n", "invalid-chunk-extension"],
    ["unterminated quote hits CR", '1;a="b\r\nx\r\n', "invalid-chunk-extension"],
    ["data not followed by CRLF", "1\r\nxy\r\n", "invalid-chunk-end"],
    ["data followed by LF only", "1\r\nx\n0\r\n\r\n", "invalid-chunk-end"],
    ["trailer with bare LF", "0\r\nA: 1\n\r\n", "bare-lf"],
    ["trailer obs-fold", "0\r\nA: 1\r\n b\r\n\r\n", "obs-fold"],
    ["trailer bad name", "0\r\nA B: 1\r\n\r\n", "whitespace-before-colon"],
    ["last CRLF missing LF", "0\r\n\rX", "bare-cr"],
  ];
  for (const [name, raw, reason] of cases) {
    await t.step(name, () => rejects(() => decodeAll([raw]), reason));
  }
  await t.step("extension bytes are bounded over the whole body", () => {
    const raw = "1;aaaaaaaa\r\nx\r\n".repeat(5) + "0\r\n\r\n";
    assert.equal(decodeAll([raw], new ChunkedDecoder({ maxExtensionBytes: 45 })).data, "xxxxx");
    rejects(
      () => decodeAll([raw], new ChunkedDecoder({ maxExtensionBytes: 44 })),
      "chunk-extension-too-large",
    );
  });
  await t.step("trailers are bounded", () => {
    rejects(
      () =>
        decodeAll(
          [`0\r\nA: ${"x".repeat(100)}\r\n\r\n`],
          new ChunkedDecoder({ maxTrailerBytes: 64 }),
        ),
      "trailers-too-large",
    );
    rejects(
      () => decodeAll(["0\r\nA: 1\r\nB: 2\r\n\r\n"], new ChunkedDecoder({ maxTrailerFields: 1 })),
      "too-many-fields",
    );
  });
  await t.step("a failed decoder keeps failing until reset", () => {
    const dec = new ChunkedDecoder();
    rejects(() => decodeAll(["z"], dec), "invalid-chunk-size");
    rejects(() => dec.decode(b("1\r\n"), 0, 3), "invalid-chunk-size");
    dec.reset();
    assert.equal(decodeAll(["0\r\n\r\n"], dec).dec.done, true);
  });
});

// ---------------------------------------------------------------------------
// Hostile input: seeded mutations of valid heads. Whatever the bytes, a parse
// either throws HttpParseError or returns a head whose framing agrees with the
// fields it returned and that re-serialises into a head parsing the same.

const SEED_REQUESTS = [
  "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
  "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive, x-hop\r\n\r\n",
  "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
  "GET / HTTP/1.0\r\nContent-Length: 0, 0\r\n\r\n",
];
const SEED_RESPONSES = [
  "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\n",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n",
  "HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n",
  "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
  'HTTP/1.1 304\r\nETag: "x"\r\n\r\n',
];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Checks a parsed head's framing against its own fields, independently of the parser. */
function checkHead(h: ReturnType<typeof parseResponseHead> | ReturnType<typeof parseRequestHead>) {
  let length = -1;
  let te: string[] | null = null;
  for (const [name, value] of h.headers) {
    assert.match(name, TOKEN);
    assert.doesNotMatch(value, /[\0\r\n\x7f]|^[ \t]|[ \t]$/);
    const n = name.toLowerCase();
    if (n === "content-length") {
      // Empty list elements are allowed (RFC 9110 §5.6.1.2).
      for (const part of value.split(",").filter((p) => p.trim() !== "")) {
        assert.match(part.trim(), /^\d+$/);
        const v = Number(part.trim());
        assert.ok(length === -1 || length === v, `conflicting Content-Length ${value}`);
        length = v;
      }
    } else if (n === "transfer-encoding") {
      const codings = value.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "");
      te = [...(te ?? []), ...codings];
    }
  }
  assert.equal(h.contentLength, length);
  assert.equal(h.transferEncoding, te !== null);
  if (te !== null) {
    assert.equal(te.at(-1), "chunked");
    assert.equal(te.filter((c) => c === "chunked").length, 1);
    assert.equal(length, -1, "Content-Length together with Transfer-Encoding");
    assert.notEqual(h.versionMinor, 0, "Transfer-Encoding in HTTP/1.0");
  }
  assert.equal(h.chunked, te !== null);
}

function framing(h: ReturnType<typeof parseResponseHead> | ReturnType<typeof parseRequestHead>) {
  return {
    headers: h.headers,
    versionMinor: h.versionMinor,
    contentLength: h.contentLength,
    chunked: h.chunked,
    connectionClose: h.connectionClose,
    upgrade: h.upgrade,
    expectContinue: h.expectContinue,
    hostCount: h.hostCount,
  };
}

function fields(h: { headers: [string, string][] }): string {
  return h.headers.map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
}

/**
 * `parse()`, checking that when it refuses a head, `stringFree()` (the same
 * parse without strings) refuses it for the same reason.
 */
function parseBoth<T>(parse: () => T, stringFree: () => unknown): T {
  try {
    return parse();
  } catch (e) {
    assert.throws(
      stringFree,
      (f: unknown) => f instanceof HttpParseError && f.reason === (e as HttpParseError).reason,
    );
    throw e;
  }
}

/** Field values carry obs-text as Latin-1 characters: back to one byte each. */
function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

Deno.test("hostile heads: 20 000 seeded mutations parse into consistent heads or fail with HttpParseError", () => {
  const rnd = prng(0xc1a0);
  let accepted = 0;
  let rejected = 0;
  for (let n = 0; n < 20_000; n++) {
    const isRequest = n % 2 === 0;
    const seeds = isRequest ? SEED_REQUESTS : SEED_RESPONSES;
    const bytes = mutate(seeds[Math.floor(rnd() * seeds.length)]!, rnd);
    const where = `case ${n}: ${JSON.stringify(new TextDecoder("latin1").decode(bytes))}`;
    const end = findHeadEnd(bytes, 0, bytes.length);
    if (end < 0) continue; // incomplete (-1) or a bare LF (-2): never handed to a parser
    try {
      if (isRequest) {
        const h = parseBoth(
          () => parseRequestHead(bytes, 0, end),
          () => parseRequestFields(bytes, 0, end),
        );
        checkHead(h);
        // The string-free parse: the same head; its field lines, copied from
        // the buffer or written from the text, are the pairs' lines.
        const r = parseRequestFields(bytes, 0, end);
        assert.deepEqual(HeaderMap.fromRaw(r.fields).pairs, h.headers);
        const lines = fields(h).slice(0, -2);
        for (const fromBuffer of [true, false]) {
          const out = new Uint8Array(fieldLinesLength(r.fields) + 8);
          const e = writeFieldLines(out, 3, r.fields, fromBuffer);
          assert.equal(e - 3, fieldLinesLength(r.fields));
          assert.equal(String.fromCharCode(...out.subarray(3, e)), lines);
        }
        assert.match(h.method, TOKEN);
        assert.doesNotMatch(h.target, /[\0-\x20\x7f-\xff]/);
        const again = latin1(`${h.method} ${h.target} HTTP/1.${h.versionMinor}\r\n${fields(h)}`);
        const h2 = parseRequestHead(again, 0, again.length);
        assert.deepEqual(framing(h2), framing(h));
        assert.deepEqual([h2.method, h2.target], [h.method, h.target]);
      } else {
        const h = parseBoth(
          () => parseResponseHead(bytes, 0, end),
          () => parseResponseFields(bytes, 0, end),
        );
        checkHead(h);
        assert.ok(h.status >= 100 && h.status <= 999);
        const again = latin1(`HTTP/1.${h.versionMinor} ${h.status} ${h.reason}\r\n${fields(h)}`);
        const h2 = parseResponseHead(again, 0, again.length);
        assert.deepEqual(framing(h2), framing(h));
        assert.equal(h2.status, h.status);
        // The string-free parse finds the same head and, once made, the same fields.
        const r = parseResponseFields(bytes, 0, end);
        assert.deepEqual(r.headers, []);
        r.headers = HeaderMap.fromRaw(r.fields).pairs;
        assert.deepEqual(framing(r), framing(h));
        assert.deepEqual([r.status, r.reason], [h.status, h.reason]);
      }
      accepted++;
    } catch (e) {
      if (e instanceof HttpParseError) {
        rejected++;
        continue;
      }
      throw new Error(`${where}: ${e instanceof Error ? e.stack : e}`);
    }
  }
  // Both outcomes happen, so the mutations reach past the first byte checks.
  assert.ok(accepted > 2_000 && rejected > 2_000, `accepted ${accepted}, rejected ${rejected}`);
});
