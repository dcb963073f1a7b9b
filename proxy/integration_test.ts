/**
 * The proxy over real sockets, on both downstream transports: Cirque's
 * HTTP/1.1 fast path (`serveH1`) and `Deno.serve` (`proxy.handle`), with the
 * real `H1Connector` upstream.
 */
import assert from "node:assert/strict";
import { H1Connector } from "@cirque/core/h1";
import { HttpPeer } from "@cirque/core/peer";
import type { HeaderMap } from "@cirque/core/http-header";
import { rawOrigin, readRequest, writeAll } from "../core/testdata/origins.ts";
import { HttpProxy, type ProxyHttp, serveH1 } from "./mod.ts";

const MB = 1024 * 1024;

/** Deterministic pseudo-random bytes, produced in chunks. */
function pattern(size: number, seed = 1): ReadableStream<Uint8Array> {
  let sent = 0;
  let x = seed;
  return new ReadableStream({
    pull(c) {
      if (sent >= size) return c.close();
      const n = Math.min(64 * 1024, size - sent);
      const chunk = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        chunk[i] = x >>> 24;
      }
      sent += n;
      c.enqueue(chunk);
    },
  });
}

async function sha256(stream: ReadableStream<Uint8Array>): Promise<{ hex: string; size: number }> {
  // Incremental hashing is not in WebCrypto: collect, then digest (bounded by the test sizes).
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const c of stream) {
    parts.push(c);
    size += c.byteLength;
  }
  const all = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.byteLength;
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return { hex: Array.from(d, (b) => b.toString(16).padStart(2, "0")).join(""), size };
}

interface Origin {
  address: string;
  cancelled: () => number;
  /** `/hold` requests that arrived, and those whose connection the proxy then closed. */
  held: () => { arrived: number; aborted: number };
  close: () => Promise<void>;
}

function origin(): Origin {
  let cancelled = 0;
  const held = { arrived: 0, aborted: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/upload") {
      const { hex, size } = await sha256(req.body!);
      return Response.json({ hex, size });
    }
    if (url.pathname === "/download") {
      const size = Number(url.searchParams.get("size"));
      const seed = Number(url.searchParams.get("seed") ?? 7);
      // `chunked=1`: no Content-Length, so the body goes out chunked.
      const headers: Record<string, string> = url.searchParams.has("chunked")
        ? {}
        : { "Content-Length": String(size) };
      return new Response(pattern(size, seed), { headers });
    }
    if (url.pathname === "/forever") {
      return new Response(
        new ReadableStream({
          pull(c) {
            c.enqueue(new Uint8Array(16 * 1024));
            return new Promise((r) => setTimeout(r, 5));
          },
          cancel() {
            cancelled++;
          },
        }),
      );
    }
    if (url.pathname === "/hold") {
      // No answer until the proxy gives up on the request.
      held.arrived++;
      await new Promise((r) => req.signal.addEventListener("abort", r, { once: true }));
      held.aborted++;
      return new Response(null, { status: 499 });
    }
    if (url.pathname === "/slow") {
      await new Promise((r) => setTimeout(r, 1500));
      return new Response("late");
    }
    return new Response("ok");
  });
  return {
    address: `127.0.0.1:${server.addr.port}`,
    cancelled: () => cancelled,
    held: () => ({ ...held }),
    close: () => server.shutdown(),
  };
}

type Transport = "fast path" | "Deno.serve";

async function withProxy(
  transport: Transport,
  peer: HttpPeer,
  fn: (base: string, connector: H1Connector) => Promise<void>,
  phases: Partial<ProxyHttp<null>> = {},
): Promise<void> {
  const connector = new H1Connector();
  const proxy = new HttpProxy<null>(
    { newCtx: () => null, upstreamPeer: () => peer, ...phases },
    { connector, errorLog: () => {} },
  );
  if (transport === "fast path") {
    const s = serveH1(proxy, { port: 0 });
    try {
      await fn(`http://127.0.0.1:${s.addr.port}`, connector);
    } finally {
      s.close();
      await s.finished;
      await connector.close();
    }
  } else {
    const ac = new AbortController();
    const s = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
      proxy.handle,
    );
    try {
      await fn(`http://127.0.0.1:${s.addr.port}`, connector);
    } finally {
      ac.abort();
      await s.finished;
      await connector.close();
    }
  }
}

for (const transport of ["fast path", "Deno.serve"] as const) {
  Deno.test(`${transport}: a 50 MB upload arrives byte-identical (SHA-256)`, async () => {
    const o = origin();
    try {
      await withProxy(transport, new HttpPeer(o.address), async (base) => {
        const expected = await sha256(pattern(50 * MB, 3));
        // Chunked upload (no Content-Length): streamed through without buffering.
        const res = await fetch(`${base}/upload`, { method: "POST", body: pattern(50 * MB, 3) });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { hex: expected.hex, size: 50 * MB });
      });
    } finally {
      await o.close();
    }
  });

  Deno.test(`${transport}: bodies of every size class arrive byte-exact, heads intact, on reused connections`, async () => {
    const o = origin();
    try {
      await withProxy(transport, new HttpPeer(o.address), async (base) => {
        // Empty, tiny, one segment, past the 16 KiB first read, past 64 KiB, many reads.
        for (const size of [0, 1, 1000, 20_000, 70_000, 300_000, 1000, 0, 20_000]) {
          const res = await fetch(`${base}/download?size=${size}`);
          assert.equal(res.status, 200);
          assert.equal(res.headers.get("content-length"), String(size));
          const got = new Uint8Array(await res.arrayBuffer());
          const want = new Uint8Array(await new Response(pattern(size, 7)).arrayBuffer());
          assert.equal(got.length, size);
          assert.ok(got.every((b, i) => b === want[i]), `body of ${size} bytes differs`);
        }
      });
    } finally {
      await o.close();
    }
  });

  Deno.test(`${transport}: concurrent connections each get their own bytes (shared output buffers)`, async () => {
    const o = origin();
    try {
      await withProxy(transport, new HttpPeer(o.address), async (base) => {
        // 12 clients at once, each its own seed, sizes on both sides of the
        // 256 KiB one-off limit, with and without Content-Length.
        const client = async (seed: number) => {
          for (
            const [size, chunked] of [[70_000, false], [1000, true], [300_000, false], [
              40_000,
              true,
            ]] as const
          ) {
            const q = `size=${size}&seed=${seed}${chunked ? "&chunked=1" : ""}`;
            const res = await fetch(`${base}/download?${q}`);
            assert.equal(res.status, 200);
            const got = new Uint8Array(await res.arrayBuffer());
            const want = new Uint8Array(await new Response(pattern(size, seed)).arrayBuffer());
            assert.equal(got.length, size);
            assert.ok(got.every((b, i) => b === want[i]), `seed ${seed}: ${q} differs`);
          }
        };
        await Promise.all(Array.from({ length: 12 }, (_, i) => client(100 + i)));
        // A client that stops reading: its pending write keeps its buffer while
        // others are served; its bytes must come out intact afterwards.
        const slow = await fetch(`${base}/download?size=30000000&seed=5&chunked=1`);
        await new Promise((r) => setTimeout(r, 200));
        await Promise.all([client(200), client(201)]);
        const got = new Uint8Array(await slow.arrayBuffer());
        const want = new Uint8Array(await new Response(pattern(30_000_000, 5)).arrayBuffer());
        assert.equal(got.length, want.length);
        assert.ok(got.every((b, i) => b === want[i]), "the stalled client's body differs");
      });
    } finally {
      await o.close();
    }
  });

  Deno.test(`${transport}: a 50 MB download arrives byte-identical (SHA-256)`, async () => {
    const o = origin();
    try {
      await withProxy(transport, new HttpPeer(o.address), async (base) => {
        const res = await fetch(`${base}/download?size=${50 * MB}`);
        assert.equal(res.headers.get("content-length"), String(50 * MB));
        const got = await sha256(res.body!);
        assert.deepEqual(got, await sha256(pattern(50 * MB, 7)));
      });
    } finally {
      await o.close();
    }
  });

  Deno.test(`${transport}: a client that disconnects mid-response aborts the upstream request`, async () => {
    const o = origin();
    try {
      await withProxy(transport, new HttpPeer(o.address), async (base, connector) => {
        const ac = new AbortController();
        const res = await fetch(`${base}/forever`, { signal: ac.signal });
        const reader = res.body!.getReader();
        await reader.read();
        ac.abort();
        await reader.closed.catch(() => {});
        for (let i = 0; i < 200 && o.cancelled() === 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(o.cancelled(), 1, "the origin's response stream was not cancelled");
        // The aborted connection went back to nobody: the next request opens a new one.
        const created = connector.stats.created;
        assert.equal(await (await fetch(`${base}/`)).text(), "ok");
        assert.equal(connector.stats.created, created + 1);
      });
    } finally {
      await o.close();
    }
  });

  Deno.test(`${transport}: a client that disconnects before the response head aborts the upstream request`, async () => {
    const o = origin();
    try {
      await withProxy(transport, new HttpPeer(o.address), async (base, connector) => {
        const ac = new AbortController();
        const pending = fetch(`${base}/hold`, { signal: ac.signal }).catch(() => null);
        for (let i = 0; i < 500 && o.held().arrived === 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(o.held().arrived, 1, "the request did not reach the origin");
        ac.abort();
        assert.equal(await pending, null);
        for (let i = 0; i < 500 && o.held().aborted === 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(o.held().aborted, 1, "the proxy kept the upstream request going");
        // The aborted connection went back to nobody: the next request opens a new one.
        const created = connector.stats.created;
        assert.equal(await (await fetch(`${base}/`)).text(), "ok");
        assert.equal(connector.stats.created, created + 1);
      });
    } finally {
      await o.close();
    }
  });

  Deno.test(`${transport}: dead origin → 502, slow origin → 504`, async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
    l.close();
    await withProxy(transport, new HttpPeer(dead), async (base) => {
      const res = await fetch(`${base}/`);
      assert.equal(res.status, 502);
      assert.equal(res.headers.get("cache-control"), "private, no-store");
      await res.body?.cancel();
    });
    const o = origin();
    try {
      const peer = new HttpPeer(o.address, { options: { readTimeout: 200 } });
      await withProxy(transport, peer, async (base) => {
        const res = await fetch(`${base}/slow`);
        assert.equal(res.status, 504);
        await res.body?.cancel();
      });
    } finally {
      await o.close();
    }
  });
}

Deno.test("a POST is not retried after its bytes were sent on a reused connection; a GET is", async () => {
  // A raw origin: answers the first request on each connection, then takes the
  // next request and closes without answering.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: string[] = [];
  const served = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(65536);
        let n = 0;
        for (let i = 0;; i++) {
          const r = await conn.read(buf).catch(() => null);
          if (r === null) break;
          const text = new TextDecoder().decode(buf.subarray(0, r));
          seen.push(text.split(" ").slice(0, 2).join(" "));
          if (i === 0) {
            await conn.write(
              new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            );
          } else break;
          n++;
        }
        conn.close();
        return n;
      })();
    }
  })();
  const peer = new HttpPeer(`127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
  try {
    await withProxy("fast path", peer, async (base) => {
      assert.equal(await (await fetch(`${base}/warm`)).text(), "ok"); // pools a connection
      const post = await fetch(`${base}/post`, { method: "POST", body: pattern(1000) });
      assert.equal(post.status, 502);
      await post.body?.cancel();
      assert.equal(seen.filter((s) => s === "POST /post").length, 1);
      assert.equal(await (await fetch(`${base}/warm2`)).text(), "ok");
      const get = await fetch(`${base}/get`);
      assert.equal(get.status, 200, "a GET on a dead pooled connection is retried");
      await get.body?.cancel();
      assert.equal(seen.filter((s) => s === "GET /get").length, 2);
    });
  } finally {
    listener.close();
    await served;
  }
});

Deno.test("a GET on a reused connection that times out or gets an invalid response is sent once", async (t) => {
  for (const mode of ["read timeout", "invalid response"] as const) {
    await t.step(mode, async () => {
      const hits: string[] = [];
      // Answers /warm; /slow gets no answer (until the proxy closes) or a broken head.
      await using origin = rawOrigin(async (conn, index) => {
        const st = { buf: new Uint8Array(1 << 16), len: 0 };
        for (let k = 0; k < 10; k++) {
          const r = await readRequest(conn, st);
          if (r === null) return;
          const line = r.head.split("\r\n")[0]!;
          hits.push(`${index} ${line}`);
          if (!line.includes("/slow")) {
            await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          } else if (mode === "invalid response") {
            await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n");
          }
        }
      });
      const peer = new HttpPeer(`127.0.0.1:${origin.port}`, { options: { readTimeout: 100 } });
      await withProxy("fast path", peer, async (base) => {
        assert.equal(await (await fetch(`${base}/warm`)).text(), "ok"); // pools a connection
        const res = await fetch(`${base}/slow`);
        assert.equal(res.status, mode === "read timeout" ? 504 : 502);
        await res.body?.cancel();
      });
      assert.deepEqual(hits, ["0 GET /warm HTTP/1.1", "0 GET /slow HTTP/1.1"]);
    });
  }
});

/** Sends `GET /` on `conn` and reads `length` bytes of the answer as Latin-1 text (fewer at EOF). */
/** One byte per character (Latin-1), for heads with obs-text. */
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** The fast path in front of the origin on `originPort`, and one client connection to it for `fn`. */
async function withClient(
  originPort: number,
  fn: (conn: Deno.Conn) => Promise<void>,
  phases: Partial<ProxyHttp<null>> = {},
): Promise<void> {
  await withProxy("fast path", new HttpPeer(`127.0.0.1:${originPort}`), async (base) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(base).port) });
    try {
      await fn(conn);
    } finally {
      conn.close();
    }
  }, phases);
}

async function getRaw(conn: Deno.Conn, length: number): Promise<string> {
  await writeAll(conn, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  const buf = new Uint8Array(65536);
  let got = "";
  while (got.length < length) {
    const n = await conn.read(buf);
    if (n === null) break;
    for (let i = 0; i < n; i += 8192) {
      got += String.fromCharCode(...buf.subarray(i, Math.min(n, i + 8192)));
    }
  }
  return got;
}

Deno.test("fast path: the upstream's fields go out byte for byte, hop-by-hop ones and those Connection names removed", async () => {
  await using origin = rawOrigin(async (conn) => {
    const st = { buf: new Uint8Array(1 << 16), len: 0 };
    for (let k = 0; k < 4; k++) {
      if (await readRequest(conn, st) === null) return;
      const head = "HTTP/1.1 200 Fine\r\nServer: raw\r\nConnection: keep-alive, X-Hop\r\n" +
        "X-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Latin: caf\xe9 \xff\r\nX-Tab:\tv\r\n" +
        "X-Spaces:\t  padded  \r\nx-lower: v\r\nX-Trail: t \t\r\nX-Tight:2\r\n" +
        "X-Empty: \r\nX-Bare:\r\nContent-Length: 2\r\n\r\n";
      if (k < 2) await writeAll(conn, bytes(head + "ok"));
      else {
        // The body in a later read: the head is written from its text, not
        // copied from the upstream buffer; the same bytes either way.
        await writeAll(conn, bytes(head));
        await new Promise((r) => setTimeout(r, 30));
        await writeAll(conn, bytes("ok"));
      }
    }
  });
  const want = "HTTP/1.1 200 Fine\r\nServer: raw\r\nX-Latin: caf\xe9 \xff\r\nX-Tab: v\r\n" +
    "X-Spaces: padded\r\nx-lower: v\r\nX-Trail: t\r\nX-Tight: 2\r\nX-Empty: \r\n" +
    "X-Bare: \r\nContent-Length: 2\r\n\r\nok";
  // Heads a phase keeps: once written, they no longer refer to the upstream's buffer.
  const kept: HeaderMap[] = [];
  await withClient(
    origin.port,
    async (conn) => {
      // On one connection: a fresh upstream connection, then the pooled one;
      // the last two with the body arriving after the head.
      for (let k = 0; k < 4; k++) {
        assert.equal(await getRaw(conn, want.length), want);
      }
    },
    { responseFilter: (_s, head) => void kept.push(head.headers) },
  );
  assert.equal(kept.length, 4);
  for (const h of kept) {
    assert.notEqual(h.raw, null);
    assert.equal(h.raw!.buf, undefined);
  }
});

/** Reads one head from `conn` as Latin-1 text (up to and without CRLF CRLF), then `body` bytes. */
async function readLatin1(
  conn: Deno.Conn,
  st: { bytes: number[] },
  body = 0,
): Promise<{ head: string; body: string } | null> {
  const chunk = new Uint8Array(65536);
  for (;;) {
    const text = String.fromCharCode(...st.bytes);
    const i = text.indexOf("\r\n\r\n");
    if (i >= 0 && st.bytes.length >= i + 4 + body) {
      st.bytes.splice(0, i + 4 + body);
      return { head: text.slice(0, i), body: text.slice(i + 4, i + 4 + body) };
    }
    const n = await conn.read(chunk);
    if (n === null) return null;
    st.bytes.push(...chunk.subarray(0, n));
  }
}

Deno.test("fast path: the client's fields go upstream as `name: value` lines, byte for byte, whether copied or rebuilt", async () => {
  const heads: string[] = [];
  await using origin = rawOrigin(async (conn) => {
    const st = { bytes: [] as number[] };
    for (let k = 0; k < 3; k++) {
      const r = await readLatin1(conn, st, k === 1 ? 2 : k === 2 ? 12 : 0);
      if (r === null) return;
      heads.push(r.head + "|" + r.body);
      await writeAll(conn, "HTTP/1.1 204 No Content\r\n\r\n");
    }
  });
  // Odd spacing, Latin-1, hop-by-hop fields, a client's X-Forwarded-For
  // (replaced in place: the fields become tuples), a body with
  // Content-Length, a chunked one.
  const first = "GET /a HTTP/1.1\r\nHost: h\r\nX-Tight:1\r\nX-Spaces:\t  padded  \r\n" +
    "x-lower: v\r\nX-Latin: caf\xe9 \xff\r\nX-Empty: \r\nX-Bare:\r\n" +
    "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: 5\r\nTE: trailers\r\n" +
    "X-Forwarded-For: 6.6.6.6\r\nX-Run-1: a\r\nX-Run-2: b\r\n\r\n";
  const second = "POST /b HTTP/1.1\r\nHost: h\r\nX-Tight:1\r\nContent-Length: 2\r\n" +
    "X-Trail: t \t\r\nX-Run-1: a\r\nX-Run-2: b\r\n\r\nok";
  const third = "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n" +
    "2\r\nok\r\n0\r\n\r\n";
  await withClient(origin.port, async (conn) => {
    const st = { bytes: [] as number[] };
    for (const req of [first, second, third]) {
      await writeAll(conn, bytes(req));
      const r = await readLatin1(conn, st);
      assert.ok(r?.head.startsWith("HTTP/1.1 204"), r?.head);
    }
  });
  const fwd = "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nVia: 1.1 cirque";
  assert.deepEqual(heads, [
    "GET /a HTTP/1.1\r\nHost: h\r\nX-Tight: 1\r\nX-Spaces: padded\r\nx-lower: v\r\n" +
    "X-Latin: caf\xe9 \xff\r\nX-Empty: \r\nX-Bare: \r\nX-Forwarded-For: 127.0.0.1\r\n" +
    `X-Run-1: a\r\nX-Run-2: b\r\n${fwd}|`,
    "POST /b HTTP/1.1\r\nHost: h\r\nX-Tight: 1\r\nX-Trail: t\r\nX-Run-1: a\r\n" +
    `X-Run-2: b\r\nX-Forwarded-For: 127.0.0.1\r\n${fwd}\r\nContent-Length: 2|ok`,
    `PUT /c HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-Forwarded-For: 127.0.0.1\r\n${fwd}\r\n` +
    "Transfer-Encoding: chunked|2\r\nok\r\n0\r\n\r\n",
  ]);
});

Deno.test("fast path: bytes a client sends while its request waits upstream never reach that request's head", async () => {
  const heads: string[] = [];
  await using origin = rawOrigin(async (conn) => {
    const st = { bytes: [] as number[] };
    for (let k = 0; k < 2; k++) {
      const r = await readLatin1(conn, st);
      if (r === null) return;
      heads.push(r.head);
      await writeAll(conn, "HTTP/1.1 204 No Content\r\n\r\n");
    }
  });
  const pad = "p".repeat(60);
  const first = `GET /first HTTP/1.1\r\nHost: h\r\nX-One: ${pad}\r\nX-Two: ${pad}\r\n\r\n`;
  const second = "GET /evil HTTP/1.1\r\nHost: e\r\nX-Evil: 1\r\n\r\n";
  let firstFiltered = false;
  await withClient(
    origin.port,
    async (conn) => {
      await writeAll(conn, bytes(first));
      // Past the server's first sweep (250 ms): it watches the client by
      // reading into the buffer the first head was parsed from.
      await new Promise((r) => setTimeout(r, 450));
      await writeAll(conn, bytes(second));
      const st = { bytes: [] as number[] };
      for (let k = 0; k < 2; k++) {
        const r = await readLatin1(conn, st);
        assert.ok(r?.head.startsWith("HTTP/1.1 204"), r?.head);
      }
    },
    {
      // The first request's head is written upstream only after this.
      async upstreamRequestFilter(session) {
        if (session.req.path !== "/first") return;
        firstFiltered = true;
        await new Promise((r) => setTimeout(r, 900));
      },
    },
  );
  assert.ok(firstFiltered);
  const fwd = "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n";
  assert.deepEqual(heads, [
    `GET /first HTTP/1.1\r\nHost: h\r\nX-One: ${pad}\r\nX-Two: ${pad}\r\n${fwd}` +
    "X-Forwarded-Host: h\r\nVia: 1.1 cirque",
    `GET /evil HTTP/1.1\r\nHost: e\r\nX-Evil: 1\r\n${fwd}X-Forwarded-Host: e\r\nVia: 1.1 cirque`,
  ]);
});

Deno.test("fast path: a retry after a chunked body was read writes the same head again", async () => {
  // Until the final chunk: the whole body, read as Latin-1.
  const readChunked = async (conn: Deno.Conn, st: { bytes: number[] }) => {
    const head = await readLatin1(conn, st);
    if (head === null) return null;
    const chunk = new Uint8Array(65536);
    while (!String.fromCharCode(...st.bytes).includes("0\r\n\r\n")) {
      const n = await conn.read(chunk);
      if (n === null) return null;
      st.bytes.push(...chunk.subarray(0, n));
    }
    st.bytes.length = 0;
    return head.head;
  };
  const heads: string[] = [];
  await using origin = rawOrigin(async (conn, index) => {
    const st = { bytes: [] as number[] };
    if (index === 0) {
      // Serves the first request, then reads the second one whole and closes
      // without answering: a reused connection, so the proxy tries again.
      if (await readLatin1(conn, st) === null) return;
      await writeAll(conn, "HTTP/1.1 204 No Content\r\n\r\n");
      const h = await readChunked(conn, st);
      if (h !== null) heads.push(h);
      return;
    }
    const h = await readChunked(conn, st);
    if (h === null) return;
    heads.push(h);
    await writeAll(conn, "HTTP/1.1 204 No Content\r\n\r\n");
  });
  await withClient(origin.port, async (conn) => {
    const st = { bytes: [] as number[] };
    await writeAll(conn, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.ok((await readLatin1(conn, st))?.head.startsWith("HTTP/1.1 204"));
    await writeAll(
      conn,
      "PUT /put HTTP/1.1\r\nHost: h\r\nX-Keep: this-value\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    // The body in a later read: it is read into the buffer the head was parsed from.
    await new Promise((r) => setTimeout(r, 50));
    await writeAll(conn, `190\r\n${"z".repeat(400)}\r\n0\r\n\r\n`);
    assert.ok((await readLatin1(conn, st))?.head.startsWith("HTTP/1.1 204"));
  });
  const want = "PUT /put HTTP/1.1\r\nHost: h\r\nX-Keep: this-value\r\n" +
    "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n" +
    "Via: 1.1 cirque\r\nTransfer-Encoding: chunked";
  assert.deepEqual(heads, [want, want]);
});

Deno.test("fast path: a request head a phase keeps lets go of the connection's buffer once the next head is read", async () => {
  await using origin = rawOrigin(async (conn) => {
    const st = { buf: new Uint8Array(1 << 16), len: 0 };
    while (await readRequest(conn, st) !== null) {
      await writeAll(conn, "HTTP/1.1 204 No Content\r\n\r\n");
    }
  });
  const kept: HeaderMap[] = [];
  const lent: boolean[] = [];
  await withClient(
    origin.port,
    async (conn) => {
      for (const id of ["1", "2"]) {
        await writeAll(conn, `GET / HTTP/1.1\r\nHost: h\r\nX-Id: ${id}\r\n\r\n`);
        const r = await readLatin1(conn, { bytes: [] });
        assert.ok(r?.head.startsWith("HTTP/1.1 204"), r?.head);
      }
    },
    {
      upstreamRequestFilter(session) {
        kept.push(session.req.headers);
        // While its request is served, the head's fields refer to the buffer.
        lent.push(session.req.headers.raw?.buf !== undefined);
      },
    },
  );
  assert.deepEqual(lent, [true, true]);
  assert.equal(kept.length, 2);
  // The first one's loan ended when the second head was read; its fields read the same.
  assert.equal(kept[0]!.raw?.buf, undefined);
  assert.equal(kept[0]!.get("x-id"), "1");
  assert.equal(kept[1]!.get("x-id"), "2");
});

Deno.test("fast path: head and body come out whole whether the new head fits in front of the body or not", async () => {
  const body = "0123456789abcdef".repeat(1500); // 24 000 bytes: past the first read
  const upstream = `HTTP/1.1 200 OK\r\nX-Old: ${
    "o".repeat(100)
  }\r\nContent-Length: ${body.length}\r\n\r\n`;
  await using origin = rawOrigin(async (conn) => {
    const st = { buf: new Uint8Array(1 << 16), len: 0 };
    while (await readRequest(conn, st) !== null) await writeAll(conn, bytes(upstream + body));
  });
  // The filter's field makes the head shorter (in place, in front of the
  // body) or 2 000 bytes longer (copied) than the upstream's.
  for (const pad of [0, 2000]) {
    const want = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n` +
      (pad > 0 ? `X-Pad: ${"p".repeat(pad)}\r\n` : "") + "\r\n" + body;
    await withProxy(
      "fast path",
      new HttpPeer(`127.0.0.1:${origin.port}`),
      async (base) => {
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: Number(new URL(base).port),
        });
        try {
          for (let k = 0; k < 3; k++) {
            const got = await getRaw(conn, want.length);
            assert.equal(got.length, want.length, `pad ${pad}, request ${k}`);
            assert.ok(got === want, `pad ${pad}, request ${k}: bytes differ`);
          }
        } finally {
          conn.close();
        }
      },
      {
        responseFilter(_s, head) {
          head.headers.delete("x-old");
          if (pad > 0) head.headers.set("X-Pad", "p".repeat(pad));
        },
      },
    );
  }
});
