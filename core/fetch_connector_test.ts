import assert from "node:assert/strict";
import type { RequestHead, UpstreamResponse } from "./connector.ts";
import { type ErrorCode, ProxyError } from "./error.ts";
import { FetchConnector } from "./fetch_connector.ts";
import { HttpPeer } from "./peer.ts";
import { makeCerts, rawOrigin, readRequest, serveRaw, writeAll } from "./testdata/origins.ts";

const GET: RequestHead = { method: "GET", path: "/", headers: [] };
const text = (r: UpstreamResponse) => new Response(r.body).text();

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

async function gzip(s: string): Promise<Uint8Array> {
  const stream = new Blob([s]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("FetchConnector", async (t) => {
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/echo") {
      return new Response(req.body, { headers: { "x-host": req.headers.get("host") ?? "" } });
    }
    if (url.pathname === "/redirect") return Response.redirect("http://example.test/", 302);
    if (url.pathname === "/204") return new Response(null, { status: 204 });
    return new Response("hello", { headers: { "X-Mixed": "Yes" } });
  });
  await using c = new FetchConnector();
  const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`);

  await t.step("GET, headers as pairs", async () => {
    const r = await c.request(peer, GET, null);
    assert.equal(r.status, 200);
    assert.equal(await text(r), "hello");
    assert.ok(r.headers.some(([k, v]) => k === "x-mixed" && v === "Yes"));
    assert.equal(r.reused, false);
    assert.deepEqual(await r.trailers, []);
  });

  await t.step("Host from the head is kept, else the peer authority is sent", async () => {
    const a = await c.request(
      peer,
      { method: "GET", path: "/echo", headers: [["Host", "a.test"]] },
      null,
    );
    assert.ok(a.headers.some(([k, v]) => k === "x-host" && v === "a.test"));
    await text(a);
    const b = await c.request(peer, { method: "GET", path: "/echo", headers: [] }, null);
    assert.ok(b.headers.some(([k, v]) => k === "x-host" && v === `127.0.0.1:${server.addr.port}`));
    await text(b);
  });

  await t.step("POST bytes and a stream", async () => {
    const a = await c.request(
      peer,
      { method: "POST", path: "/echo", headers: [] },
      new TextEncoder().encode("abc"),
    );
    assert.equal(await text(a), "abc");
    const b = await c.request(
      peer,
      { method: "POST", path: "/echo", headers: [] },
      new Response("streamed").body!,
    );
    assert.equal(await text(b), "streamed");
  });

  await t.step("redirects are returned, not followed", async () => {
    const r = await c.request(peer, { method: "GET", path: "/redirect", headers: [] }, null);
    assert.equal(r.status, 302);
    assert.ok(r.headers.some(([k, v]) => k === "location" && v === "http://example.test/"));
    await r.body?.cancel();
  });

  await t.step("HEAD and 204 have no body", async () => {
    const h = await c.request(peer, { method: "HEAD", path: "/", headers: [] }, null);
    assert.equal(h.body, null);
    const n = await c.request(peer, { method: "GET", path: "/204", headers: [] }, null);
    assert.equal(n.body, null);
  });

  await t.step("connection refused", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    await rejectsWith(c.request(new HttpPeer(`127.0.0.1:${port}`), GET, null), "CONNECT_REFUSED");
  });
});

Deno.test("FetchConnector makes a decoded response truthful", async () => {
  const plain = "x".repeat(6000);
  const gz = await gzip(plain);
  await using o = rawOrigin(serveRaw(() => {
    const head = new TextEncoder().encode(
      `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\nX-Keep: 1\r\n\r\n`,
    );
    const out = new Uint8Array(head.length + gz.length);
    out.set(head);
    out.set(gz, head.length);
    return out;
  }));
  await using c = new FetchConnector();
  const r = await c.request(new HttpPeer(`127.0.0.1:${o.port}`), GET, null);
  const names = r.headers.map(([k]) => k);
  assert.ok(!names.includes("content-encoding"));
  assert.ok(!names.includes("content-length"));
  assert.ok(names.includes("x-keep"));
  assert.equal(await text(r), plain);
});

Deno.test("FetchConnector timeouts and abort", async (t) => {
  await t.step("read timeout waiting for the head", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await conn.read(new Uint8Array(10));
    });
    await using c = new FetchConnector();
    const peer = new HttpPeer(`127.0.0.1:${o.port}`, {
      options: { readTimeout: 100, totalConnectTimeout: 50 },
    });
    await rejectsWith(c.request(peer, GET, null), "READ_TIMEOUT");
  });

  await t.step("read timeout inside the body", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
      await conn.read(new Uint8Array(10));
    });
    await using c = new FetchConnector();
    const peer = new HttpPeer(`127.0.0.1:${o.port}`, { options: { readTimeout: 100 } });
    const r = await c.request(peer, GET, null);
    await rejectsWith(text(r), "READ_TIMEOUT");
  });

  await t.step("the signal aborts the exchange", async () => {
    await using o = rawOrigin(async (conn) => {
      await readRequest(conn);
      await conn.read(new Uint8Array(10));
    });
    await using c = new FetchConnector();
    const ac = new AbortController();
    const p = c.request(new HttpPeer(`127.0.0.1:${o.port}`), GET, null, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await rejectsWith(p, "ABORTED");
  });
});

Deno.test("FetchConnector over TLS", async (t) => {
  const certs = await makeCerts();
  await using server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    cert: certs.server.cert,
    key: certs.server.key,
  }, (req) => new Response(`secure ${req.headers.get("host")}`));
  await using c = new FetchConnector();

  await t.step("custom CA", async () => {
    const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`, {
      tls: true,
      options: { caCerts: [certs.ca] },
    });
    const r = await c.request(
      peer,
      { method: "GET", path: "/", headers: [["Host", "a.test"]] },
      null,
    );
    assert.equal(await text(r), "secure a.test");
  });

  await t.step("HTTP/2 is negotiated with an h2-capable origin", async () => {
    const http2 = await import("node:http2");
    const origin = http2.createSecureServer(
      { cert: certs.server.cert, key: certs.server.key, allowHTTP1: true },
      (req, res) => res.end(`http/${req.httpVersion}`),
    );
    await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
    const port = (origin.address() as { port: number }).port;
    try {
      const peer = new HttpPeer(`127.0.0.1:${port}`, {
        tls: true,
        options: { caCerts: [certs.ca] },
      });
      assert.equal(await text(await c.request(peer, GET, null)), "http/2.0");
      const h1only = new FetchConnector({ http2: false });
      try {
        assert.equal(await text(await h1only.request(peer, GET, null)), "http/1.1");
      } finally {
        await h1only.close();
      }
    } finally {
      await c.close();
      await new Promise((r) => origin.close(r));
    }
  });

  await t.step("an unknown CA fails", async () => {
    const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`, { tls: true });
    await rejectsWith(c.request(peer, GET, null), "TLS_HANDSHAKE");
  });

  await t.step("an SNI different from the address host is refused", async () => {
    const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`, {
      tls: true,
      sni: "other.test",
      options: { caCerts: [certs.ca] },
    });
    await rejectsWith(c.request(peer, GET, null), "CONNECT_ERROR");
  });

  await t.step("verifyCert: false is refused", async () => {
    const peer = new HttpPeer(`127.0.0.1:${server.addr.port}`, {
      tls: true,
      options: { verifyCert: false },
    });
    await rejectsWith(c.request(peer, GET, null), "CONNECT_ERROR");
  });
});

Deno.test("FetchConnector rejects an invalid head", async () => {
  await using c = new FetchConnector();
  const e = await rejectsWith(
    c.request(new HttpPeer("127.0.0.1:1"), {
      method: "GET",
      path: "/",
      headers: [["Bad Name", "x"]],
    }, null),
    "INVALID_REQUEST",
  );
  assert.ok(e instanceof ProxyError);
});

Deno.test("FetchConnector awaits beforeSend before sending, so the head can still change", async () => {
  await using origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => new Response(`${req.headers.get("x-late") ?? "none"} ${new URL(req.url).pathname}`),
  );
  const c = new FetchConnector();
  try {
    const head = { method: "GET", path: "/a", headers: [] as [string, string][] };
    let called = 0;
    const res = await c.request(new HttpPeer(`127.0.0.1:${origin.addr.port}`), head, null, {
      beforeSend: (reused) => {
        called++;
        assert.equal(reused, false);
        head.headers.push(["X-Late", "yes"]);
        head.path = "/b";
      },
    });
    assert.equal(called, 1);
    assert.equal(await new Response(res.body).text(), "yes /b");
  } finally {
    await c.close();
  }
});
