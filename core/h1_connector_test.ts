import assert from "node:assert/strict";
import type { RequestHead, UpstreamResponse } from "./connector.ts";
import { type ErrorCode, ProxyError } from "./error.ts";
import { H1Connection, MAX_UNANSWERED_HANDSHAKES, unansweredHandshakes } from "./h1_connection.ts";
import { type H1BodySource, H1Connector } from "./h1_connector.ts";
import { findHeadEnd, parseRequestFields, parseResponseHead } from "./h1_parse.ts";
import { HeaderMap } from "./http_header.ts";
import { HttpPeer, type PeerOptions } from "./peer.ts";
import { mutate } from "./testdata/mutate.ts";
import { prng } from "./testdata/prng.ts";
import { chunkedBody, latin1 } from "./testdata/strict_body.ts";
import {
  makeCerts,
  patternStream,
  rawOrigin,
  readRequest,
  serveRaw,
  sha256,
  throttleWrites,
  writeAll,
} from "./testdata/origins.ts";

const GET: RequestHead = { method: "GET", path: "/", headers: [] };
const ENC = new TextEncoder();
const text = (r: UpstreamResponse) => new Response(r.body).text();

function peerOf(port: number, options: PeerOptions = {}) {
  return new HttpPeer(`127.0.0.1:${port}`, { options });
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<ProxyError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ProxyError, `expected ProxyError ${code}, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

function serveDeno(handler: Deno.ServeHandler) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
}

Deno.test("H1Connector against a Deno.serve origin", async (t) => {
  let connections = 0;
  await using server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, async (req, info) => {
    void info;
    const url = new URL(req.url);
    if (url.pathname === "/echo") {
      return new Response(req.body, {
        headers: { "x-method": req.method, "x-host": req.headers.get("host") ?? "" },
      });
    }
    if (url.pathname === "/204") return new Response(null, { status: 204 });
    if (url.pathname === "/big") {
      return new Response(
        new Uint8Array(await new Response(patternStream(50 * 1024 * 1024)).arrayBuffer()),
      );
    }
    if (url.pathname === "/hash") {
      const h = await sha256(req.body!);
      return new Response(`${h.bytes} ${h.hex}`);
    }
    if (url.pathname === "/304") {
      return new Response(null, { status: 304, headers: { etag: '"a"' } });
    }
    if (url.pathname === "/len") {
      const body = await req.text().catch(() => "(aborted)");
      return new Response(`${req.headers.get("content-length")}|${body}`);
    }
    return new Response("hello world", { headers: { "X-Raw-Case": "Yes" } });
  });
  server.finished.then(() => connections);
  await using c = new H1Connector();
  const peer = peerOf(server.addr.port);

  await t.step("GET, then keep-alive reuse of the same connection", async () => {
    const r1 = await c.request(peer, GET, null);
    assert.equal(r1.status, 200);
    assert.equal(r1.statusText, "OK");
    assert.equal(r1.reused, false);
    assert.equal(await text(r1), "hello world");
    assert.ok(r1.headers.some(([k, v]) => k.toLowerCase() === "x-raw-case" && v === "Yes"));
    const r2 = await c.request(peer, GET, null);
    assert.equal(r2.reused, true);
    assert.equal(await text(r2), "hello world");
    assert.equal(c.stats.created, 1);
    assert.equal(c.stats.reused, 1);
    connections++;
  });

  await t.step("Host is added when absent and kept when given", async () => {
    const r = await c.request(peer, { method: "GET", path: "/echo", headers: [] }, null);
    assert.ok(r.headers.some(([k, v]) => k === "x-host" && v === `127.0.0.1:${server.addr.port}`));
    await text(r);
    const r2 = await c.request(peer, {
      method: "GET",
      path: "/echo",
      headers: [["Host", "example.test"]],
    }, null);
    assert.ok(r2.headers.some(([k, v]) => k === "x-host" && v === "example.test"));
    await text(r2);
  });

  await t.step("POST with a fixed-length body and with a chunked stream body", async () => {
    const r = await c.request(
      peer,
      { method: "POST", path: "/len", headers: [] },
      new TextEncoder().encode("abc"),
    );
    assert.equal(await text(r), "3|abc");
    const big = new Uint8Array(100_000).fill(97);
    const r2 = await c.request(peer, { method: "PUT", path: "/len", headers: [] }, big);
    assert.equal(await text(r2), `100000|${"a".repeat(100_000)}`);
    const stream = new Response("streamed body").body!;
    const r3 = await c.request(peer, { method: "POST", path: "/len", headers: [] }, stream);
    assert.equal(await text(r3), "null|streamed body");
    const r4 = await c.request(peer, {
      method: "POST",
      path: "/len",
      headers: [["Content-Length", "3"]],
    }, new Response("xyz").body!);
    assert.equal(await text(r4), "3|xyz");
    const r5 = await c.request(peer, { method: "POST", path: "/len", headers: [] }, null);
    assert.equal(await text(r5), "0|");
  });

  await t.step("a stream body shorter than its Content-Length is refused", async () => {
    await rejectsWith(
      c.request(
        peer,
        { method: "POST", path: "/len", headers: [["Content-Length", "10"]] },
        new Response("xyz").body!,
      ),
      "INVALID_REQUEST",
    );
  });

  await t.step("HEAD, 204 and 304 carry no body", async () => {
    const h = await c.request(peer, { method: "HEAD", path: "/", headers: [] }, null);
    assert.equal(h.body, null);
    assert.ok(h.headers.some(([k, v]) => k === "content-length" && v === "11"));
    const n = await c.request(peer, { method: "GET", path: "/204", headers: [] }, null);
    assert.equal(n.status, 204);
    assert.equal(n.body, null);
    const m = await c.request(peer, { method: "GET", path: "/304", headers: [] }, null);
    assert.equal(m.status, 304);
    assert.equal(m.body, null);
    const again = await c.request(peer, GET, null);
    assert.equal(again.reused, true);
    assert.equal(await text(again), "hello world");
  });

  await t.step("invalid request heads are refused before anything is sent", async () => {
    await rejectsWith(
      c.request(peer, { method: "G T", path: "/", headers: [] }, null),
      "INVALID_REQUEST",
    );
    await rejectsWith(
      c.request(peer, { method: "GET", path: "/a b", headers: [] }, null),
      "INVALID_REQUEST",
    );
    await rejectsWith(
      c.request(peer, { method: "GET", path: "/", headers: [["X", "a\r\nInjected: 1"]] }, null),
      "INVALID_REQUEST",
    );
    await rejectsWith(
      c.request(peer, { method: "GET", path: "/", headers: [["Bad Name", "1"]] }, null),
      "INVALID_REQUEST",
    );
    // Each field is checked while it is copied: any bad byte, in any field.
    const bad: [string, string, RegExp][] = [
      ["", "1", /not a token/],
      ["Caf\xe9", "1", /not a token/],
      ["X:Y", "1", /not a token/],
      ["X", "a\0b", /invalid value/],
      ["X", "a\x7fb", /invalid value/],
      ["X", "a\nb", /invalid value/],
      ["X", "\u0161", /invalid value/],
      ["Content-Length", "3\r\nX: 1", /invalid value/],
      ["Transfer-Encoding", "chunked\n", /invalid value/],
    ];
    for (const [name, value, message] of bad) {
      const head: RequestHead = {
        method: "GET",
        path: "/",
        headers: [["Accept", "*/*"], [name, value]],
      };
      const e = await rejectsWith(c.request(peer, head, null), "INVALID_REQUEST");
      assert.match(e.message, message, JSON.stringify(name));
    }
    // Tab and obs-text (Latin-1) in a value are allowed and go out as they are.
    const ok = await c.request(
      peer,
      { method: "GET", path: "/", headers: [["X-Ok", "a\tcaf\xe9"]] },
      null,
    );
    assert.equal(await text(ok), "hello world");
  });

  await t.step(
    "50 MB download with Content-Length and upload with Content-Length, SHA-256 checked",
    async () => {
      const total = 50 * 1024 * 1024;
      const expected = await sha256(patternStream(total));
      const down = await c.request(peer, { method: "GET", path: "/big", headers: [] }, null);
      assert.ok(down.headers.some(([k, v]) => k === "content-length" && v === String(total)));
      const got = await sha256(down.body!);
      assert.deepEqual(got, expected);
      const up = await c.request(peer, {
        method: "PUT",
        path: "/hash",
        headers: [["Content-Length", String(total)]],
      }, patternStream(total));
      assert.equal(await text(up), `${expected.bytes} ${expected.hex}`);
    },
  );

  await t.step("50 MB streamed both ways with a SHA-256 check", async () => {
    const total = 50 * 1024 * 1024;
    const expected = await sha256(patternStream(total));
    const up = await c.request(
      peer,
      { method: "POST", path: "/echo", headers: [] },
      patternStream(total),
    );
    const got = await sha256(up.body!);
    assert.equal(got.bytes, total);
    assert.equal(got.hex, expected.hex);
  });
});

Deno.test("H1Connector: response framing from a raw origin", async (t) => {
  await t.step("chunked with extensions and trailers", async () => {
    await using o = rawOrigin(
      serveRaw(() =>
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"
      ),
    );
    await using c = new H1Connector();
    const r = await c.request(peerOf(o.port), GET, null);
    assert.equal(await text(r), "hello world");
    assert.deepEqual(await r.trailers, [["X-Sum", "42"]]);
    const r2 = await c.request(peerOf(o.port), GET, null);
    assert.equal(r2.reused, true);
    assert.equal(await text(r2), "hello world");
  });

  await t.step(
    "a 40 KiB head and a 200 KiB body grow the 16 KiB read buffer, as source and as stream",
    async () => {
      const big = "h".repeat(40_000);
      const body = "0123456789".repeat(20_000);
      await using o = rawOrigin(
        serveRaw(() =>
          `HTTP/1.1 200 OK\r\nX-Big: ${big}\r\nContent-Length: ${body.length}\r\n\r\n${body}`
        ),
      );
      await using c = new H1Connector();
      const r = await c.request(peerOf(o.port), GET, null);
      assert.equal(r.headers.find(([k]) => k === "X-Big")?.[1], big);
      assert.equal(await text(r), body);
      const r2 = await c.request(peerOf(o.port), GET, null, { bodySource: true } as never);
      assert.equal(r2.reused, true);
      const src = (r2 as unknown as { source: H1BodySource }).source;
      let got = "";
      const dec = new TextDecoder();
      for (;;) {
        let v = src.read();
        if (v instanceof Promise) v = await v;
        if (v === null) break;
        got += dec.decode(v, { stream: true });
      }
      assert.equal(got, body);
      assert.equal(c.stats.idle, 1);
    },
  );

  await t.step("close-delimited body is read to the end and never pooled", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\n\r\npart one, ");
      await writeAll(conn, "part two");
    });
    await using c = new H1Connector();
    const r = await c.request(peerOf(o.port), GET, null);
    assert.equal(await text(r), "part one, part two");
    assert.equal(c.stats.idle, 0);
  });

  await t.step("HTTP/1.0 response without keep-alive is not pooled", async () => {
    await using o = rawOrigin(serveRaw(() => "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    await using c = new H1Connector();
    assert.equal(await text(await c.request(peerOf(o.port), GET, null)), "ok");
    assert.equal(c.stats.idle, 0);
  });

  await t.step("Connection: close from the origin is honoured", async () => {
    await using o = rawOrigin(
      serveRaw(() => "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
    );
    await using c = new H1Connector();
    assert.equal(await text(await c.request(peerOf(o.port), GET, null)), "ok");
    assert.equal(c.stats.idle, 0);
  });

  await t.step("100 Continue is consumed; 103 is surfaced", async () => {
    await using o = rawOrigin(
      serveRaw(() =>
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      ),
    );
    await using c = new H1Connector();
    const seen: [number, string][] = [];
    const r = await c.request(
      peerOf(o.port),
      { method: "POST", path: "/", headers: [["Expect", "100-continue"]] },
      new Uint8Array(3),
      {
        onInformational: (status, headers) => seen.push([status, headers[0]?.[1] ?? ""]),
      },
    );
    assert.equal(r.status, 200);
    assert.equal(await text(r), "ok");
    assert.deepEqual(seen, [[100, ""], [103, "</a.css>; rel=preload"]]);
    const quiet = await c.request(peerOf(o.port), GET, null);
    assert.equal(quiet.status, 200);
    await text(quiet);
  });

  await t.step("32 interim responses are accepted; a 33rd is INVALID_RESPONSE", async () => {
    const hints = (n: number) => "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n".repeat(n);
    const ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (const [n, accepted] of [[32, true], [33, false]] as const) {
      await using o = rawOrigin(serveRaw(() => hints(n) + ok));
      await using c = new H1Connector();
      let seen = 0;
      const request = c.request(peerOf(o.port), GET, null, { onInformational: () => void seen++ });
      if (accepted) {
        assert.equal(await text(await request), "ok");
        assert.equal(seen, 32);
      } else {
        await assert.rejects(
          request,
          (e) =>
            e instanceof ProxyError && e.code === "INVALID_RESPONSE" &&
            /more than 32 interim \(1xx\) responses/.test(e.message),
        );
        assert.equal(seen, 32);
        assert.equal(c.stats.idle, 0);
      }
    }
  });

  await t.step("a head split over many reads", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      for (const piece of ["HTTP/1.1 20", "0 OK\r", "\nContent-Le", "ngth: 3\r\n\r", "\nab", "c"]) {
        await writeAll(conn, piece);
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    await using c = new H1Connector();
    assert.equal(await text(await c.request(peerOf(o.port), GET, null)), "abc");
  });
});

Deno.test("H1Connector: concurrent chunked uploads keep their own bytes while one upstream stalls (shared scratch buffers)", async () => {
  await using server = serveDeno(async (req) => {
    // The stalled upload fills the socket buffers: its pending writes must
    // keep their scratch buffer while the other upload runs.
    if (new URL(req.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 300));
    const h = await sha256(req.body!);
    return new Response(`${h.bytes} ${h.hex}`);
  });
  await using c = new H1Connector();
  const peer = peerOf(server.addr.port);
  const size = 12 * 1024 * 1024;
  const upload = async (path: string, seed: number) => {
    const want = await sha256(patternStream(size, 4096, seed));
    const r = await c.request(
      peer,
      { method: "POST", path, headers: [] },
      patternStream(size, 4096, seed),
    );
    assert.equal(await text(r), `${want.bytes} ${want.hex}`, `${path} (seed ${seed})`);
  };
  await Promise.all([upload("/slow", 11), upload("/fast", 22), upload("/fast", 33)]);
});

Deno.test("H1Connector: back-pressure, a slow reader slows the upstream", async () => {
  const total = 50 * 1024 * 1024;
  let written = 0;
  const stop = Promise.withResolvers<void>();
  await using o = rawOrigin(async (conn) => {
    await readRequest(conn);
    await writeAll(conn, `HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
    const chunk = new Uint8Array(65536);
    const writing = (async () => {
      while (written < total) {
        written += await conn.write(chunk.subarray(0, Math.min(chunk.length, total - written)));
      }
    })();
    await Promise.race([writing, stop.promise]);
  });
  await using c = new H1Connector();
  const r = await c.request(peerOf(o.port), GET, null);
  const reader = r.body!.getReader();
  await reader.read();
  // Wait (bounded) until the origin's writes stop making progress.
  let last = -1;
  let still = 0;
  for (let i = 0; i < 200 && still < 5; i++) {
    await new Promise((res) => setTimeout(res, 10));
    still = written === last ? still + 1 : 0;
    last = written;
  }
  assert.ok(
    written < total / 4,
    `origin wrote ${written} of ${total} bytes to a reader that stopped`,
  );
  await reader.cancel();
  stop.resolve();
});

Deno.test("H1Connector: invalid responses are INVALID_RESPONSE and the connection is discarded", async (t) => {
  const big = "X: " + "a".repeat(65536) + "\r\n";
  const many = Array.from({ length: 201 }, (_, i) => `F${i}: v\r\n`).join("");
  const cases: [string, string][] = [
    [
      "conflicting Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    ],
    ["non-numeric Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok"],
    [
      "Content-Length with Transfer-Encoding",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    [
      "Transfer-Encoding not chunked last",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    ],
    ["obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"],
    ["bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"],
    ["bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n"],
    ["NUL in a field", "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n"],
    ["invalid field name", "HTTP/1.1 200 OK\r\nX Y: 1\r\nContent-Length: 0\r\n\r\n"],
    ["head over 64 KiB", `HTTP/1.1 200 OK\r\n${big}Content-Length: 0\r\n\r\n`],
    ["201 fields", `HTTP/1.1 200 OK\r\n${many}Content-Length: 0\r\n\r\n`],
    ["bad status line", "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"],
    ["not HTTP/1.x", "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ["bytes after a complete body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"],
    ["bytes after a 204", "HTTP/1.1 204 No Content\r\n\r\nEXTRA"],
  ];
  for (const [name, raw] of cases) {
    await t.step(name, async () => {
      await using o = rawOrigin(serveRaw(() => raw));
      await using c = new H1Connector();
      await rejectsWith(c.request(peerOf(o.port), GET, null), "INVALID_RESPONSE");
      await o.waitClosed(1); // the connection was closed, not pooled
      assert.equal(c.stats.idle, 0);
    });
  }
  const bodyCases: [string, string][] = [
    [
      "invalid chunk size",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    ],
    [
      "over-long chunk size",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\na\r\n0\r\n\r\n",
    ],
    [
      "invalid chunk extension",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\na\r\n0\r\n\r\n",
    ],
    [
      "chunk data without CRLF",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
    ],
    [
      "bytes after a chunked body",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nEXTRA",
    ],
  ];
  for (const [name, raw] of bodyCases) {
    await t.step(name, async () => {
      await using o = rawOrigin(serveRaw(() => raw));
      await using c = new H1Connector();
      const r = await c.request(peerOf(o.port), GET, null);
      await rejectsWith(text(r), "INVALID_RESPONSE");
      await o.waitClosed(1);
      assert.equal(c.stats.idle, 0);
    });
  }
  await t.step("bytes left after a complete response never reach the pool", async (t) => {
    const extra: [string, RequestHead, string][] = [
      ["Content-Length", GET, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"],
      ["chunked", GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nEXTRA"],
      ["304", GET, "HTTP/1.1 304 Not Modified\r\n\r\nEXTRA"],
      ["HEAD", { ...GET, method: "HEAD" }, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEXTRA"],
    ];
    for (const [name, req, raw] of extra) {
      for (const bodySource of [false, true]) {
        await t.step(`${name}, ${bodySource ? "bodySource" : "stream"}`, async () => {
          await using o = rawOrigin(serveRaw(() => raw));
          await using c = new H1Connector();
          const r = c.request(peerOf(o.port), req, null, { bodySource }).then(async (r) => {
            const src = r.source;
            if (!src) return await text(r);
            for (let i = 0; i < 100 && await src.read() !== null; i++);
          });
          await rejectsWith(r, "INVALID_RESPONSE");
          await o.waitClosed(1);
          assert.equal(c.stats.idle, 0);
        });
      }
    }
    await t.step("release() of a connection with unread bytes closes it", async () => {
      await using o = rawOrigin(
        serveRaw(() => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"),
      );
      await using c = new H1Connector();
      const peer = peerOf(o.port);
      const conn = await c.acquire(peer);
      await conn.writeAll(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 1000);
      for (let i = 0; i < 100 && conn.end - conn.start < 45; i++) await conn.fill(1000);
      conn.start = conn.end - 5; // the response read, "EXTRA" left
      c.release(peer, conn, true);
      await o.waitClosed(1);
      assert.equal(c.stats.idle, 0);
      assert.equal(c.stats.unexpectedData, 1);
    });
  });

  await t.step(
    "a body shorter than its Content-Length is an error, not a short success",
    async () => {
      await using o = rawOrigin(async (conn) => {
        await readRequest(conn);
        await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        await new Promise((r) => setTimeout(r, 5));
        await writeAll(conn, "de");
      });
      await using c = new H1Connector();
      const r = await c.request(peerOf(o.port), GET, null);
      await rejectsWith(text(r), "CONNECTION_CLOSED");
    },
  );
  await t.step("a chunked body cut short is an error", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
    });
    await using c = new H1Connector();
    const r = await c.request(peerOf(o.port), GET, null);
    await rejectsWith(text(r), "CONNECTION_CLOSED");
  });
});

Deno.test("H1Connector: pool behaviour against live origins", async (t) => {
  await t.step("LRU eviction across peers with maxIdle", async () => {
    await using a = serveDeno(() => new Response("a"));
    await using b = serveDeno(() => new Response("b"));
    await using c = new H1Connector({ maxIdle: 1 });
    await text(await c.request(peerOf(a.addr.port), GET, null));
    await text(await c.request(peerOf(b.addr.port), GET, null));
    assert.equal(c.stats.evicted, 1);
    const again = await c.request(peerOf(a.addr.port), GET, null);
    assert.equal(again.reused, false);
    await text(again);
  });

  await t.step("idle expiry closes the pooled socket", async () => {
    await using o = rawOrigin(serveRaw(() => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    await using c = new H1Connector();
    await text(await c.request(peerOf(o.port, { idleTimeout: 20 }), GET, null));
    const keepAlive = setTimeout(() => {}, 10_000); // pool timers are unref'd
    await o.waitClosed(1); // the origin sees the pool close the idle socket
    clearTimeout(keepAlive);
    assert.equal(c.stats.idleExpired, 1);
    assert.equal(c.stats.idle, 0);
  });

  await t.step("a connection the peer closed while idle is never handed out", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      // then close while the client holds it idle
    });
    await using c = new H1Connector();
    await text(await c.request(peerOf(o.port), GET, null));
    await o.waitClosed(1);
    // give the idle read the chance to see EOF, bounded
    for (let i = 0; i < 200 && c.stats.closedByPeer === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(c.stats.closedByPeer, 1);
    const r = await c.request(peerOf(o.port), GET, null);
    assert.equal(r.reused, false);
    await text(r);
  });

  await t.step("unexpected bytes on an idle connection discard it", async () => {
    const pooled = Promise.withResolvers<void>();
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      await pooled.promise;
      await writeAll(conn, "GARBAGE");
      await conn.read(new Uint8Array(10));
    });
    await using c = new H1Connector();
    await text(await c.request(peerOf(o.port), GET, null));
    assert.equal(c.stats.idle, 1);
    pooled.resolve();
    await o.waitClosed(1);
    assert.equal(c.stats.unexpectedData, 1);
  });

  await t.step("a stale pooled connection is retried on a FRESH connection", async () => {
    // The origin answers once, then drops the next request without answering.
    await using o = rawOrigin(async (conn, i) => {
      const st = { buf: new Uint8Array(1 << 16), len: 0 };
      await readRequest(conn, st);
      await writeAll(conn, `HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${i}`);
      await readRequest(conn, st);
    });
    await using c = new H1Connector();
    assert.equal(await text(await c.request(peerOf(o.port), GET, null)), "0");
    const r = await c.request(peerOf(o.port), GET, null);
    assert.equal(await text(r), "1");
    assert.equal(r.reused, false);
    assert.equal(o.accepted(), 2);
  });

  await t.step(
    "a stale connection with a streamed body is not replayed but marked retryable",
    async () => {
      await using o = rawOrigin(async (conn) => {
        const st = { buf: new Uint8Array(1 << 16), len: 0 };
        await readRequest(conn, st);
        await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
        await readRequest(conn, st);
      });
      await using c = new H1Connector();
      await text(await c.request(peerOf(o.port), GET, null));
      const e = await rejectsWith(
        c.request(
          peerOf(o.port),
          { method: "POST", path: "/", headers: [["Content-Length", "1"]] },
          new Response("y").body!,
        ),
        "CONNECTION_CLOSED",
      );
      assert.equal(e.retryable, true);
    },
  );

  await t.step(
    "an idle pooled connection lets the process exit, and is reused after a pause (subprocess)",
    async () => {
      // The second answer comes late: only a ref'd read keeps the child waiting for it.
      await using o = rawOrigin(async (conn) => {
        const st = { buf: new Uint8Array(1 << 16), len: 0 };
        await readRequest(conn, st);
        await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        await readRequest(conn, st);
        await new Promise((r) => setTimeout(r, 200));
        await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        await conn.read(new Uint8Array(1));
      });
      const connector = new URL("./h1_connector.ts", import.meta.url).href;
      const peer = new URL("./peer.ts", import.meta.url).href;
      // The connector is never closed: its idle connection must not hold the
      // process, and a request after the connection was unref'd must keep it.
      // Not at top level: a pending top-level await keeps Deno's loop running.
      const script = `
        import { H1Connector } from "${connector}";
        import { HttpPeer } from "${peer}";
        setTimeout(async () => {
          const c = new H1Connector();
          const p = new HttpPeer("127.0.0.1:${o.port}");
          const get = { method: "GET", path: "/", headers: [] };
          const a = await c.request(p, get, null);
          const ta = await new Response(a.body).text();
          await new Promise((r) => setTimeout(r, 300));
          const b = await c.request(p, get, null);
          const tb = await new Response(b.body).text();
          console.log(ta, tb, b.reused);
        }, 0);
      `;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", script],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // A bound on the wait, not a timing assertion: a child held by its
      // idle connection would otherwise hang the test.
      const hold = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const out = await child.output();
      clearTimeout(hold);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.signal, null, "the idle connection held the process");
      assert.equal(out.code, 0, stderr);
      assert.equal(new TextDecoder().decode(out.stdout), "ok ok true\n");
      assert.equal(o.accepted(), 1);
    },
  );

  await t.step("close() closes idle connections", async () => {
    await using o = rawOrigin(serveRaw(() => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    const c = new H1Connector();
    await text(await c.request(peerOf(o.port), GET, null));
    await c.close();
    await o.waitClosed(1);
  });

  await t.step(
    "close() closes connections in use: a body mid-read fails, an acquired one is closed",
    async () => {
      // Promises 10 bytes, sends 2, then waits.
      await using o = rawOrigin(serveRaw(() => "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"));
      const c = new H1Connector();
      const r = await c.request(peerOf(o.port), GET, null);
      const reader = r.body!.getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), "ok");
      const held = await c.acquire(peerOf(o.port));
      await c.close();
      assert.equal(held.closed, true);
      await assert.rejects(reader.read());
      await o.waitClosed(2);
    },
  );

  await t.step("unix socket peers", async () => {
    const dir = await Deno.makeTempDir({ prefix: "cirque-unix-" });
    const path = `${dir}/origin.sock`;
    try {
      await using _server = Deno.serve(
        { path, onListen() {} },
        (req) => new Response(`unix ${req.headers.get("host")}`),
      );
      await using c = new H1Connector();
      const peer = new HttpPeer(`unix:${path}`);
      assert.equal(await text(await c.request(peer, GET, null)), "unix localhost");
      const again = await c.request(peer, GET, null);
      assert.equal(again.reused, true);
      await text(again);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("connection refused", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    await using c = new H1Connector();
    const e = await rejectsWith(c.request(peerOf(port), GET, null), "CONNECT_REFUSED");
    assert.equal(e.retryable, true);
  });
});

Deno.test("H1Connector: every wait is bounded", async (t) => {
  await t.step("connect timeout", async () => {
    await using c = new H1Connector({
      dial: (_addr, signal) =>
        new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    });
    await rejectsWith(c.request(peerOf(1, { connectTimeout: 50 }), GET, null), "CONNECT_TIMEOUT");
  });

  await t.step("TLS handshake timeout (origin never answers the ClientHello)", async () => {
    await using o = rawOrigin(async (conn) => {
      await conn.read(new Uint8Array(4096));
      await conn.read(new Uint8Array(4096));
    });
    await using c = new H1Connector();
    const peer = new HttpPeer(`127.0.0.1:${o.port}`, {
      tls: true,
      options: { connectTimeout: 1000, totalConnectTimeout: 100 },
    });
    await rejectsWith(c.request(peer, GET, null), "CONNECT_TIMEOUT");
  });

  await t.step("read timeout waiting for the head", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await conn.read(new Uint8Array(10));
    });
    await using c = new H1Connector();
    await rejectsWith(c.request(peerOf(o.port, { readTimeout: 100 }), GET, null), "READ_TIMEOUT");
    await o.waitClosed(1);
  });

  await t.step("read timeout inside the body", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
      await conn.read(new Uint8Array(10));
    });
    await using c = new H1Connector();
    const r = await c.request(peerOf(o.port, { readTimeout: 100 }), GET, null);
    await rejectsWith(text(r), "READ_TIMEOUT");
  });

  await t.step("write timeout when the origin stops reading", async () => {
    const done = Promise.withResolvers<void>();
    await using o = rawOrigin(async (conn) => {
      await conn.read(new Uint8Array(10));
      await done.promise; // never reads again
    });
    await using c = new H1Connector();
    const body = new Uint8Array(64 * 1024 * 1024);
    await rejectsWith(
      c.request(
        peerOf(o.port, { writeTimeout: 100 }),
        { method: "POST", path: "/", headers: [] },
        body,
      ),
      "WRITE_TIMEOUT",
    );
    done.resolve();
  });

  await t.step("write timeout bounds each write, not the whole body", async () => {
    let received = -1;
    await using o = rawOrigin(async (conn) => {
      const req = await readRequest(conn);
      received = req?.body.length ?? -1;
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    // 4 KiB per write, 20 ms apart: 12 writes for the body, each well within
    // the 100 ms limit, all of them together beyond it.
    await using c = new H1Connector({
      dial: async (_addr, signal) =>
        throttleWrites(
          await Deno.connect({ hostname: "127.0.0.1", port: o.port, signal }),
          4096,
          20,
        ),
    });
    const r = await c.request(
      peerOf(o.port, { writeTimeout: 100 }),
      { method: "POST", path: "/", headers: [] },
      new Uint8Array(48 * 1024),
    );
    assert.equal(await text(r), "ok");
    assert.equal(received, 48 * 1024);
  });

  await t.step("the signal aborts a pending read", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await conn.read(new Uint8Array(10));
    });
    await using c = new H1Connector();
    const ac = new AbortController();
    const p = c.request(peerOf(o.port), GET, null, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await rejectsWith(p, "ABORTED");
    await rejectsWith(c.request(peerOf(o.port), GET, null, { signal: ac.signal }), "ABORTED");
  });

  await t.step("an abort while beforeSend is pending sends nothing", async () => {
    let requests = 0;
    await using o = rawOrigin(async (conn) => {
      while (await readRequest(conn) !== null) {
        requests++;
        await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      }
    });
    await using c = new H1Connector();
    const ac = new AbortController();
    const p = c.request(peerOf(o.port), GET, null, {
      signal: ac.signal,
      beforeSend: () => {
        ac.abort();
        return Promise.resolve();
      },
    });
    await rejectsWith(p, "ABORTED");
    await o.waitClosed(1);
    assert.equal(requests, 0);
    assert.equal(c.stats.idle, 0);
  });

  await t.step(
    "beforeSend on a pooled connection: told it is reused; a failure rejects and closes it",
    async () => {
      let accepted = 0;
      let requests = 0;
      await using o = rawOrigin(async (conn) => {
        accepted++;
        while (await readRequest(conn) !== null) {
          requests++;
          await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
      });
      await using c = new H1Connector();
      const seen: boolean[] = [];
      const note = (reused: boolean) => void seen.push(reused);
      assert.equal(
        await text(await c.request(peerOf(o.port), GET, null, { beforeSend: note })),
        "ok",
      );
      assert.equal(
        await text(await c.request(peerOf(o.port), GET, null, { beforeSend: note })),
        "ok",
      );
      assert.deepEqual(seen, [false, true]);
      assert.equal(c.stats.idle, 1);
      // Thrown: a rejected promise (never a synchronous throw), the connection closed, nothing sent.
      let p: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        p = c.request(peerOf(o.port), GET, null, {
          beforeSend: () => {
            throw new Error("filter failed");
          },
        });
      });
      await assert.rejects(p!, /filter failed/);
      assert.equal(c.stats.idle, 0);
      await o.waitClosed(1);
      // A promise that rejects, on a new pooled connection: the same.
      assert.equal(await text(await c.request(peerOf(o.port), GET, null)), "ok");
      assert.equal(c.stats.idle, 1);
      await assert.rejects(
        c.request(peerOf(o.port), GET, null, {
          beforeSend: () => Promise.reject(new Error("later")),
        }),
        /later/,
      );
      assert.equal(c.stats.idle, 0);
      await o.waitClosed(2);
      assert.equal(requests, 3);
      assert.equal(accepted, 2);
    },
  );

  await t.step("the signal aborts a body being streamed", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n");
      await conn.read(new Uint8Array(10));
    });
    await using c = new H1Connector();
    const ac = new AbortController();
    const r = await c.request(peerOf(o.port), GET, null, { signal: ac.signal });
    const reader = r.body!.getReader();
    assert.equal((await reader.read()).value?.length, 1);
    const next = reader.read();
    ac.abort();
    await rejectsWith(next, "ABORTED");
  });
});

/** Whether `p` settles within `ms` (a bound on a wait, not a timing assertion). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("H1Connector: a request body still being sent after the response ended", async (t) => {
  // The origin answers at once, then reads the request body until EOF.
  function origin(sawEof: PromiseWithResolvers<void>) {
    return rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      const buf = new Uint8Array(4096);
      for (let i = 0; i < 10_000; i++) if (await conn.read(buf) === null) break;
      sawEof.resolve();
    });
  }
  // A request body that sends 10 bytes and then never ends.
  function endless(canceled: PromiseWithResolvers<void>) {
    return new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10));
      },
      cancel() {
        canceled.resolve();
      },
    });
  }
  const POST: RequestHead = { method: "POST", path: "/", headers: [] };

  await t.step("connector.close() closes its socket and cancels the body", async () => {
    const sawEof = Promise.withResolvers<void>();
    const canceled = Promise.withResolvers<void>();
    await using o = origin(sawEof);
    const c = new H1Connector();
    const r = await c.request(peerOf(o.port), POST, endless(canceled));
    assert.equal(await text(r), "ok");
    await c.close();
    assert.equal(await settlesWithin(sawEof.promise, 5000), true, "the origin saw EOF");
    assert.equal(await settlesWithin(canceled.promise, 5000), true, "the body was canceled");
  });

  await t.step("the signal closes its socket and cancels the body", async () => {
    const sawEof = Promise.withResolvers<void>();
    const canceled = Promise.withResolvers<void>();
    await using o = origin(sawEof);
    await using c = new H1Connector();
    const ac = new AbortController();
    const r = await c.request(peerOf(o.port), POST, endless(canceled), { signal: ac.signal });
    assert.equal(await text(r), "ok");
    ac.abort();
    assert.equal(await settlesWithin(sawEof.promise, 5000), true, "the origin saw EOF");
    assert.equal(await settlesWithin(canceled.promise, 5000), true, "the body was canceled");
    assert.equal(c.stats.idle, 0);
  });
});

Deno.test("H1Connector: a request body that fails while the response body is read is the error the body reports", async (t) => {
  const responses = {
    "chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    "Content-Length": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello",
    "close-delimited": "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello",
  };
  for (const [framing, response] of Object.entries(responses)) {
    for (const asSource of [false, true]) {
      await t.step(`${framing}, ${asSource ? "bodySource" : "stream"}`, async () => {
        await using o = rawOrigin(async (conn) => {
          await readRequest(conn);
          await writeAll(conn, response);
          const buf = new Uint8Array(4096);
          for (let i = 0; i < 10_000; i++) if (await conn.read(buf) === null) break;
        });
        await using c = new H1Connector();
        const failNow = Promise.withResolvers<void>();
        let pulls = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(ctl) {
            if (pulls++ === 0) return ctl.enqueue(new Uint8Array(1));
            await failNow.promise;
            ctl.error(new Error("the client reset its connection"));
          },
        }, { highWaterMark: 0 });
        const r = await c.request(
          peerOf(o.port),
          { method: "POST", path: "/", headers: [] },
          body,
          { bodySource: asSource },
        );
        let read: () => Promise<Uint8Array | null>;
        if (asSource) {
          const src = r.source!;
          read = async () => await src.read();
        } else {
          const reader = r.body!.getReader();
          read = async () => (await reader.read()).value ?? null;
        }
        assert.equal(new TextDecoder().decode((await read())!), "hello");
        const next = read(); // waits for the upstream
        failNow.resolve();
        const e = await rejectsWith(next, "INVALID_REQUEST");
        assert.equal(e.source, "downstream");
      });
    }
  }
});

Deno.test("H1Connector over TLS", async (t) => {
  const certs = await makeCerts();
  await using server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    cert: certs.server.cert,
    key: certs.server.key,
  }, () => new Response("secure"));
  await using other = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    cert: certs.other.cert,
    key: certs.other.key,
  }, () => new Response("other"));
  await using c = new H1Connector();

  await t.step("custom CA, verification on, keep-alive", async () => {
    const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`, {
      tls: true,
      options: { caCerts: [certs.ca] },
    });
    assert.equal(await text(await c.request(peer, GET, null)), "secure");
    const again = await c.request(peer, GET, null);
    assert.equal(again.reused, true);
    assert.equal(await text(again), "secure");
  });

  await t.step("an unknown CA fails the handshake", async () => {
    const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`, { tls: true });
    await rejectsWith(c.request(peer, GET, null), "TLS_HANDSHAKE");
  });

  await t.step("SNI from the peer, different from the TCP target", async () => {
    const bySni = new HttpPeer(`127.0.0.1:${other.addr.port}`, {
      tls: true,
      sni: "other.test",
      options: { caCerts: [certs.ca] },
    });
    assert.equal(await text(await c.request(bySni, GET, null)), "other");
    const byIp = new HttpPeer(`127.0.0.1:${other.addr.port}`, {
      tls: true,
      options: { caCerts: [certs.ca] },
    });
    await rejectsWith(c.request(byIp, GET, null), "TLS_HANDSHAKE");
    const unchecked = new HttpPeer(`127.0.0.1:${other.addr.port}`, {
      tls: true,
      options: { caCerts: [certs.ca], verifyCert: false },
    });
    assert.equal(await text(await c.request(unchecked, GET, null)), "other");
  });

  await t.step("mTLS: a client certificate against an origin that requires one", async () => {
    const tls = await import("node:tls");
    const origin = tls.createServer({
      cert: certs.server.cert,
      key: certs.server.key,
      ca: [certs.ca],
      requestCert: true,
      rejectUnauthorized: true,
      SNICallback: (name, cb) =>
        cb(
          null,
          tls.createSecureContext({
            ...(name === "other.test" ? certs.other : certs.server),
            ca: [certs.ca],
          }),
        ),
    }, (sock) => {
      const cn = (sock.getPeerCertificate().subject as { CN?: string } | undefined)?.CN ?? "?";
      const servername = (sock as unknown as { servername?: string }).servername ?? "";
      let seen = "";
      sock.on("data", (d: Uint8Array) => {
        seen += new TextDecoder().decode(d);
        if (seen.includes("\r\n\r\n")) {
          seen = "";
          const body = `${cn}@${servername}`;
          sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      });
      sock.on("error", () => {});
    });
    origin.on("tlsClientError", () => {});
    await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
    const port = (origin.address() as { port: number }).port;
    try {
      const withCert = new HttpPeer(`127.0.0.1:${port}`, {
        tls: true,
        sni: "localhost",
        options: { caCerts: [certs.ca], cert: certs.client.cert, key: certs.client.key },
      });
      assert.equal(await text(await c.request(withCert, GET, null)), "client1@localhost");
      const sniOther = new HttpPeer(`127.0.0.1:${port}`, {
        tls: true,
        sni: "other.test",
        options: { caCerts: [certs.ca], cert: certs.client.cert, key: certs.client.key },
      });
      assert.equal(await text(await c.request(sniOther, GET, null)), "client1@other.test");
      const noCert = new HttpPeer(`127.0.0.1:${port}`, {
        tls: true,
        sni: "localhost",
        options: { caCerts: [certs.ca] },
      });
      // TLS 1.3: the server's refusal may arrive during the handshake or on the first read.
      let caught: unknown;
      try {
        await text(await c.request(noCert, GET, null));
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof ProxyError, String(caught));
      assert.ok(["TLS_HANDSHAKE", "CONNECTION_CLOSED"].includes(caught.code), caught.code);
    } finally {
      await c.close();
      await new Promise((r) => origin.close(r));
    }
  });
});

Deno.test("H1Connector: bodySource hands out the body without a stream", async (t) => {
  await using server = serveDeno((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/chunked") {
      const parts = ["ab", "cde", "f"].map((s) => new TextEncoder().encode(s));
      return new Response(
        new ReadableStream({
          pull(c) {
            const p = parts.shift();
            if (p) c.enqueue(p);
            else c.close();
          },
        }),
      );
    }
    if (path === "/big") return new Response(new Uint8Array(300 * 1024).fill(7));
    if (path === "/chunked-slow") {
      // Each chunk 10 ms after the last: the body needs reads after the head's.
      let n = 0;
      return new Response(
        new ReadableStream({
          async pull(c) {
            await new Promise((r) => setTimeout(r, 10));
            if (n++ < 3) c.enqueue(new TextEncoder().encode("xyz"));
            else c.close();
          },
        }),
      );
    }
    return new Response("hello");
  });
  const connector = new H1Connector();
  const peer = peerOf(server.addr.port);
  const pull = async (src: H1BodySource): Promise<Uint8Array> => {
    const parts: Uint8Array<ArrayBuffer>[] = [];
    for (;;) {
      let r = src.read();
      if (r instanceof Promise) r = await r;
      if (r === null) break;
      parts.push(r.slice());
    }
    return new Uint8Array(await new Blob(parts).arrayBuffer());
  };
  try {
    await t.step(
      "a buffered body: one view, then null; the connection is pooled at the end",
      async () => {
        const res = await connector.request(peer, { ...GET, path: "/" }, null, {
          bodySource: true,
        });
        const src = res.source!;
        assert.ok(src !== null && src !== undefined);
        const idleBefore = connector.stats.idle;
        const first = src.read();
        assert.ok(first instanceof Uint8Array, "a buffered body is read synchronously");
        assert.equal(new TextDecoder().decode(first), "hello");
        assert.equal(connector.stats.idle, idleBefore, "busy until read to the end");
        assert.equal(src.read(), null);
        assert.equal(connector.stats.idle, idleBefore + 1);
      },
    );
    await t.step("chunked and large bodies arrive whole, trailers resolve", async () => {
      const c = await connector.request(peer, { ...GET, path: "/chunked" }, null, {
        bodySource: true,
      });
      assert.equal(new TextDecoder().decode(await pull(c.source!)), "abcdef");
      assert.deepEqual(await c.trailers, []);
      const big = await connector.request(peer, { ...GET, path: "/big" }, null, {
        bodySource: true,
      });
      const bytes = await pull(big.source!);
      assert.equal(bytes.length, 300 * 1024);
      assert.ok(bytes.every((b) => b === 7));
    });
    await t.step(
      "the head's fields keep the buffer until the source reads into it again",
      async () => {
        // A buffered body: nothing more is read, the fields still have the buffer.
        const res = await connector.request(peer, { ...GET, path: "/" }, null, {
          bodySource: true,
        });
        const fields = res.fields!;
        assert.notEqual(fields.buf, undefined);
        assert.ok(res.source!.read() instanceof Uint8Array);
        assert.notEqual(fields.buf, undefined);
        // Bodies that need more reads (Content-Length, chunked): the loan ends at the first.
        for (const path of ["/big", "/chunked-slow"]) {
          const r = await connector.request(peer, { ...GET, path }, null, { bodySource: true });
          assert.notEqual(r.fields!.buf, undefined, path);
          const bytes = await pull(r.source!);
          assert.ok(bytes.length > 0, path);
          assert.equal(r.fields!.buf, undefined, path);
        }
      },
    );
    await t.step("reading body instead turns the source into a stream", async () => {
      const res = await connector.request(peer, { ...GET, path: "/chunked" }, null, {
        bodySource: true,
      });
      assert.equal(await text(res), "abcdef");
      assert.equal(res.source, null);
    });
    await t.step("cancelling an unfinished body discards the connection", async () => {
      const idle = connector.stats.idle;
      const res = await connector.request(peer, { ...GET, path: "/big" }, null, {
        bodySource: true,
      });
      let r = res.source!.read();
      if (r instanceof Promise) r = await r;
      assert.ok(r !== null && r.length > 0);
      res.source!.cancel();
      assert.equal(res.source!.read(), null);
      assert.equal(connector.stats.idle, idle - 1, "the connection taken from the pool is gone");
    });
  } finally {
    await connector.close();
  }
});

Deno.test("H1Connector: maxConnections bounds the connections to a peer", async (t) => {
  // An origin that holds each response until told, and counts its connections.
  let open = 0;
  let most = 0;
  const held: (() => void)[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const serving = (async () => {
    for await (const conn of listener) {
      open++;
      most = Math.max(most, open);
      (async () => {
        const buf = new Uint8Array(4096);
        try {
          for (;;) {
            let head = "";
            while (!head.includes("\r\n\r\n")) {
              const n = await conn.read(buf);
              if (n === null) return;
              head += new TextDecoder().decode(buf.subarray(0, n));
            }
            const path = head.split(" ")[1]!;
            if (path === "/close") {
              await writeAll(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
              );
              return;
            }
            if (path === "/hold") await new Promise<void>((r) => held.push(r));
            await writeAll(
              conn,
              `HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`,
            );
          }
        } catch {
          /* client gone */
        } finally {
          open--;
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })();
  const release = async (n: number) => {
    for (let i = 0; i < 100 && held.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    for (const r of held.splice(0, n)) r();
  };

  await t.step("requests beyond the limit wait for a released connection", async () => {
    await using c = new H1Connector();
    const peer = peerOf(port, { maxConnections: 2 });
    const hold: RequestHead = { method: "GET", path: "/hold", headers: [] };
    const all = Array.from({ length: 6 }, () => c.request(peer, hold, null).then(text));
    for (let done = 0; done < 6; done += 2) await release(2);
    assert.deepEqual(await Promise.all(all), Array(6).fill("/hold"));
    assert.equal(most, 2);
    assert.equal(c.stats.created, 2);
    assert.equal(c.stats.reused, 4);
  });

  await t.step("a connection the origin closes frees its slot", async () => {
    await using c = new H1Connector();
    const peer = peerOf(port, { maxConnections: 1 });
    const close: RequestHead = { method: "GET", path: "/close", headers: [] };
    const rs = await Promise.all([1, 2, 3].map(() => c.request(peer, close, null).then(text)));
    assert.deepEqual(rs, ["ok", "ok", "ok"]);
    assert.equal(c.stats.created, 3);
    assert.equal(await text(await c.request(peer, GET, null)), "/");
  });

  await t.step("the wait is bounded by connectTimeout, and an abort ends it", async () => {
    await using c = new H1Connector();
    const peer = peerOf(port, { maxConnections: 1, connectTimeout: 50 });
    const first = c.request(peer, { method: "GET", path: "/hold", headers: [] }, null);
    const e = await rejectsWith(c.request(peer, GET, null), "CONNECT_TIMEOUT");
    assert.match(e.message, /maxConnections 1/);
    const ac = new AbortController();
    const waiting = c.request(peer, GET, null, { signal: ac.signal });
    ac.abort();
    await rejectsWith(waiting, "ABORTED");
    // Neither the timed-out nor the aborted request kept a place: the next one gets the connection.
    const next = c.request(peer, { method: "GET", path: "/next", headers: [] }, null);
    await release(1);
    assert.equal(await text(await first), "/hold");
    assert.equal(await text(await next), "/next");
    assert.equal(c.stats.created, 1);
  });

  await t.step(
    "a connection released while only a fresh-connection retry waits makes room for it",
    async () => {
      // Connection 0 answers once, then closes on its next request without a
      // response (a stale keep-alive connection); the others answer every request.
      await using o = rawOrigin(async (conn, index) => {
        const st = { buf: new Uint8Array(1 << 16), len: 0 };
        for (let n = 0; n < 100; n++) {
          if (await readRequest(conn, st) === null || (index === 0 && n === 1)) return;
          await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
      });
      await using c = new H1Connector();
      const peer = peerOf(o.port, { maxConnections: 1, connectTimeout: 2000 });
      assert.equal(await text(await c.request(peer, GET, null)), "ok");
      // The first takes the pooled connection 0, meets its close and retries on
      // a fresh connection; the second waits for a connection, gets the slot
      // connection 0 freed, and releases its connection while the retry waits.
      const rs = await Promise.all([1, 2].map(() => c.request(peer, GET, null).then(text)));
      assert.deepEqual(rs, ["ok", "ok"]);
      assert.equal(c.stats.created, 3);
    },
  );

  await t.step("a failed connect frees its slot", async () => {
    await using c = new H1Connector();
    const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = (free.addr as Deno.NetAddr).port;
    free.close();
    const peer = peerOf(deadPort, { maxConnections: 1 });
    for (let i = 0; i < 3; i++) await rejectsWith(c.request(peer, GET, null), "CONNECT_REFUSED");
  });

  await t.step("acquire and release honour the limit; close() ends the waits", async () => {
    const c = new H1Connector();
    const peer = peerOf(port, { maxConnections: 1 });
    const a = await c.acquire(peer);
    const b = c.acquire(peer);
    c.release(peer, a, true);
    assert.equal(await b, a);
    const d = c.acquire(peer);
    await c.close();
    await rejectsWith(d, "ABORTED");
  });

  listener.close();
  await serving.catch(() => {});
});

/**
 * What a strict reader makes of a whole response an origin sent before
 * closing: status and body, `false` for an invalid or incomplete one, `null`
 * for an interim (1xx) head, which this reader does not follow.
 */
function strictResponse(bytes: Uint8Array): { status: number; body: string } | false | null {
  const end = findHeadEnd(bytes, 0, bytes.length);
  if (end < 0) return false;
  let h;
  try {
    h = parseResponseHead(bytes, 0, end);
  } catch {
    return false;
  }
  if (h.status < 200) return null;
  const rest = bytes.subarray(end);
  if (h.status === 204 || h.status === 304) {
    return rest.length === 0 ? { status: h.status, body: "" } : false;
  }
  if (h.chunked) {
    const chunked = chunkedBody(rest, 0);
    return chunked?.end === rest.length ? { status: h.status, body: chunked.body } : false;
  }
  if (h.contentLength >= 0) {
    return rest.length === h.contentLength ? { status: h.status, body: latin1(rest) } : false;
  }
  return { status: h.status, body: latin1(rest) }; // delimited by the close
}

Deno.test("H1Connector: 1 000 hostile responses are read as a strict reader reads them, or fail with a ProxyError", async () => {
  const SEEDS: [string, string][] = [
    ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n", "hello"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"],
    ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "hello"],
    ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', ""],
  ];
  let current = new Uint8Array(0);
  // Each connection: one request, the case's bytes, then the origin closes.
  await using o = rawOrigin(async (conn) => {
    await readRequest(conn);
    await writeAll(conn, current);
  });
  await using c = new H1Connector();
  const peer = peerOf(o.port, { idleTimeout: 0, readTimeout: 10_000 });
  const rnd = prng(0x0219);
  const tally = { ok: 0, failed: 0, interim: 0 };
  for (let n = 0; n < 1000; n++) {
    const [head, body] = SEEDS[n % SEEDS.length]!;
    const mutated = mutate(head, rnd);
    current = new Uint8Array([...mutated, ...new TextEncoder().encode(body)]);
    const where = `case ${n}: ${JSON.stringify(String.fromCharCode(...mutated))}`;
    let got: { status: number; body: string } | false;
    try {
      const r = await c.request(peer, GET, null);
      got = { status: r.status, body: await text(r) };
    } catch (e) {
      assert.ok(e instanceof ProxyError, `${where}: ${e instanceof Error ? e.stack : e}`);
      got = false;
    }
    const strict = strictResponse(current);
    if (strict === null) tally.interim++;
    else {
      assert.deepEqual(got, strict, where);
      tally[got === false ? "failed" : "ok"]++;
    }
  }
  assert.ok(tally.ok > 100 && tally.failed > 100, JSON.stringify(tally));
  assert.equal(c.stats.idle, 0);
});

Deno.test("a TLS handshake given up keeps its socket until it ends; a peer holds at most MAX_UNANSWERED_HANDSHAKES timed-out ones, each for a while", async () => {
  // Accepts TCP and never answers the ClientHello.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) accepted.push(c);
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  const peer = new HttpPeer(`127.0.0.1:${port}`, {
    tls: true,
    options: { connectTimeout: 100, totalConnectTimeout: 100 },
  });
  const settled = async (want: number) => {
    for (let i = 0; i < 200 && unansweredHandshakes(peer.reuseKey) !== want; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(unansweredHandshakes(peer.reuseKey), want);
  };
  const code = (c: ErrorCode) => (e: unknown) => e instanceof ProxyError && e.code === c;
  try {
    for (let i = 0; i < MAX_UNANSWERED_HANDSHAKES; i++) {
      await assert.rejects(H1Connection.open(peer), code("CONNECT_TIMEOUT"));
    }
    // Closing them would cancel the handshakes and leave the sockets open (Deno 2.9): they wait.
    assert.equal(unansweredHandshakes(peer.reuseKey), MAX_UNANSWERED_HANDSHAKES);
    await assert.rejects(
      H1Connection.open(peer),
      /4 TLS handshakes to it timed out and are still unanswered/,
    );
    // The peer ends them: each handshake fails, its connection is closed and the peer is tried again.
    for (const c of accepted) c.close();
    await settled(0);
    // A handshake counts for unansweredHoldMs at most, even if the peer never ends it.
    await assert.rejects(
      H1Connection.open(peer, { unansweredHoldMs: 50 }),
      code("CONNECT_TIMEOUT"),
    );
    assert.equal(accepted.length, MAX_UNANSWERED_HANDSHAKES + 1);
    await settled(0);
    // The caller's abort says nothing of the peer: it never counts.
    for (let i = 0; i < MAX_UNANSWERED_HANDSHAKES + 1; i++) {
      const ctl = new AbortController();
      const opening = H1Connection.open(peer, { signal: ctl.signal });
      for (let k = 0; k < 200 && accepted.length < MAX_UNANSWERED_HANDSHAKES + 2 + i; k++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      ctl.abort();
      await assert.rejects(opening, code("ABORTED"));
    }
    assert.equal(unansweredHandshakes(peer.reuseKey), 0);
    assert.equal(accepted.length, 2 * MAX_UNANSWERED_HANDSHAKES + 2);
  } finally {
    for (const c of accepted) {
      try {
        c.close();
      } catch { /* closed above */ }
    }
    await settled(0);
    listener.close();
    await accepting.catch(() => {});
  }
});

Deno.test("a head given as a HeaderMap of parsed fields goes out as the same bytes as its pairs", async () => {
  // Each request as it arrives: head and body, read as Latin-1.
  const seen: string[] = [];
  await using origin = rawOrigin(async (conn) => {
    let got = "";
    const chunk = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) return;
      got += latin1(chunk.subarray(0, n));
      for (;;) {
        const i = got.indexOf("\r\n\r\n");
        if (i < 0) break;
        const head = got.slice(0, i);
        const cl = /\r\ncontent-length: (\d+)/i.exec(head);
        let end = i + 4 + (cl ? Number(cl[1]) : 0);
        if (/\r\ntransfer-encoding: chunked/i.test(head)) {
          const last = got.indexOf("0\r\n\r\n", i + 4);
          if (last < 0) break;
          end = last + 5;
        }
        if (got.length < end) break;
        seen.push(got.slice(0, end));
        got = got.slice(end);
        await writeAll(conn, "HTTP/1.1 204 No Content\r\n\r\n");
      }
    }
  });
  await using c = new H1Connector();
  const peer = peerOf(origin.port);
  const parsed = (head: string) => {
    const b = Uint8Array.from(head, (ch) => ch.charCodeAt(0));
    return HeaderMap.fromRaw(parseRequestFields(b, 0, b.length).fields);
  };
  const fields = "X-Tight:1\r\nX-Spaces:\t  padded  \r\nX-Latin: caf\xe9\r\nX-Run: a\r\n";
  const cases: [
    string,
    string,
    (m: HeaderMap) => void,
    Uint8Array | ReadableStream<Uint8Array> | null,
  ][] = [
    // No Host among the fields: the connector adds it; its own framing replaces theirs.
    [
      "as parsed, a 3-byte body",
      "Content-Length: 3\r\nX-After: b\r\n",
      () => {},
      ENC.encode("abc"),
    ],
    ["fields added and removed, a stream body", "Transfer-Encoding: chunked\r\n", (m) => {
      m.append("Via", "1.1 x");
      m.set("X-Forwarded-For", "127.0.0.1");
      m.delete("x-run");
      m.deleteAt(0);
    }, new Response("streamed").body],
    ["the buffer released: written from the text", "", (m) => {
      m.releaseBuffer();
      m.set("Host", "h");
    }, null],
    ["a parsed name set: made into pairs", "", (m) => m.set("x-latin", "plain"), null],
  ];
  for (const [what, framing, change, body] of cases) {
    const map = parsed(`POST / HTTP/1.1\r\n${fields}${framing}\r\n`);
    change(map);
    const raw = map.raw;
    // The same fields as pairs alone, then as the map: the same bytes.
    const pairs = map.snapshot().pairs;
    const again = body instanceof ReadableStream ? new Response("streamed").body : body;
    await text(await c.request(peer, { method: "POST", path: "/", headers: pairs }, again));
    const head = { method: "POST", path: "/", headers: pairs, headerMap: map };
    await text(await c.request(peer, head, body));
    assert.equal(seen.length % 2, 0, what);
    assert.equal(seen.at(-1), seen.at(-2), what);
    assert.equal(map.raw === null, raw === null, what);
  }
  assert.equal(seen.length, 8);
  assert.match(seen[0]!, /^POST \/ HTTP\/1\.1\r\nX-Tight: 1\r\nX-Spaces: padded\r\n/);
  assert.match(seen[0]!, /\r\nHost: 127\.0\.0\.1:\d+\r\nContent-Length: 3\r\n\r\nabc$/);
  // Fields added after the parsed ones are checked like any others.
  const map = parsed(`GET / HTTP/1.1\r\n${fields}\r\n`);
  map.append("X-Bad", "a\r\nInjected: 1");
  await rejectsWith(
    c.request(peer, { method: "GET", path: "/", headers: [], headerMap: map }, null),
    "INVALID_REQUEST",
  );
  // A parsed Connection: close is honoured: that connection is not pooled.
  await text(await c.request(peer, GET, null));
  assert.equal(c.stats.idle, 1);
  const close = parsed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  const head = { method: "GET", path: "/", headers: [], headerMap: close };
  await text(await c.request(peer, head, null));
  assert.equal(c.stats.idle, 0);
});
