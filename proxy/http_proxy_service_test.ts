import assert from "node:assert/strict";
import { H1Connector } from "@cirque/core/h1";
import { HttpPeer } from "@cirque/core/peer";
import { HttpProxy, httpProxyService } from "./mod.ts";

Deno.test("httpProxyService: h1 and h2 listeners serve; drain lets an in-flight slow request finish", async () => {
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (new URL(req.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 300));
    return new Response("body from origin");
  });
  const connector = new H1Connector();
  const proxy = new HttpProxy({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.addr.port}`),
  }, { connector });
  const ports: Record<string, number> = {};
  const svc = httpProxyService(proxy, {
    listeners: [{ address: "127.0.0.1:0" }, { address: "127.0.0.1:0", protocol: "h2" }],
    onListen: (addr, l) => (ports[l.protocol ?? "h1"] = addr.port),
  });
  const stop = new AbortController();
  const running = svc.start(stop.signal, new AbortController().signal);
  try {
    for (let i = 0; i < 100 && Object.keys(ports).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const p of ["h1", "h2"]) {
      assert.equal(await (await fetch(`http://127.0.0.1:${ports[p]}/`)).text(), "body from origin");
    }
    const slow = fetch(`http://127.0.0.1:${ports.h1}/slow`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 50));
    stop.abort(); // drain: listeners close, the slow request still completes
    assert.equal(await slow, "body from origin");
    await running;
    await assert.rejects(fetch(`http://127.0.0.1:${ports.h1}/`));
  } finally {
    stop.abort();
    await running.catch(() => {});
    await connector.close();
    await origin.shutdown();
  }
});

Deno.test("httpProxyService: the fast path's own keys on an h2 listener are refused up front", () => {
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
  }, { connector: new H1Connector(), errorLog: () => {} });
  assert.throws(
    () =>
      httpProxyService(proxy, {
        listeners: [{ address: "127.0.0.1:0", protocol: "h2", ignoreClientAbort: true }],
      }),
    /Cannot listen on 127\.0\.0\.1:0: ignoreClientAbort applies to h1 listeners only/,
  );
  assert.throws(
    () =>
      httpProxyService(proxy, {
        listeners: [
          { address: "127.0.0.1:0" },
          { address: "127.0.0.1:0", protocol: "h2", headerTimeout: 5, ioTimeout: 5, maxFields: 9 },
        ],
      }),
    /Cannot listen on 127\.0\.0\.1:0: headerTimeout, ioTimeout, maxFields apply to h1 listeners only/,
  );
  // An explicit `false` is no setting.
  httpProxyService(proxy, {
    listeners: [{ address: "127.0.0.1:0", protocol: "h2", ignoreClientAbort: false }],
  });
});

Deno.test("httpProxyService: a listener's own settings override h1's: keepAliveTimeout closes an idle client, maxHeadBytes answers 431", async () => {
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
    requestFilter: () => ({ kind: "respond", response: new Response("hi") }),
  }, { connector: new H1Connector(), errorLog: () => {} });
  const ports: number[] = [];
  const svc = httpProxyService(proxy, {
    // The first listener keeps the service-wide minute; the second closes after 50 ms.
    listeners: [
      { address: "127.0.0.1:0" },
      { address: "127.0.0.1:0", keepAliveTimeout: 50, maxHeadBytes: 2048 },
    ],
    h1: { keepAliveTimeout: 60_000 },
    onListen: (addr, l) => (ports[l.keepAliveTimeout ? 1 : 0] = addr.port),
  });
  const stop = new AbortController();
  const running = svc.start(stop.signal, new AbortController().signal);
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 100 && !(ports[0] && ports[1]); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const buf = new Uint8Array(4096);
    const exchange = async (port: number) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      let text = "";
      while (!text.endsWith("\r\n0\r\n\r\n")) { // a chunked "hi"
        const n = await conn.read(buf);
        assert.ok(n !== null, `closed before the response: ${text}`);
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      assert.match(text, /^HTTP\/1\.1 200 /);
      return conn;
    };
    const [long, short] = [await exchange(ports[0]!), await exchange(ports[1]!)];
    // The short listener ends the idle connection (the read sees EOF), well within 10 s.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const eof = await Promise.race([
      short.read(buf),
      new Promise<string>((r) => (timer = setTimeout(() => r("still open"), 10_000))),
    ]);
    clearTimeout(timer);
    assert.equal(eof, null);
    // The other listener still serves on its idle connection: the service-wide value held.
    await long.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const n = await long.read(buf);
    assert.ok(
      n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("HTTP/1.1 200"),
    );
    // A 4 KiB head: over the second listener's own limit, within the service-wide 64 KiB.
    const big = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(4096)}\r\n\r\n`;
    for (const [port, status] of [[ports[0]!, 200], [ports[1]!, 431]] as const) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      await conn.write(new TextEncoder().encode(big));
      const m = await conn.read(buf);
      assert.ok(m !== null);
      assert.match(
        new TextDecoder().decode(buf.subarray(0, m)),
        new RegExp(`^HTTP/1\\.1 ${status} `),
      );
    }
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    stop.abort();
    await running;
  }
});

Deno.test("httpProxyService: an h2 listener sends byte bodies with their length and cuts a streaming one at the deadline", async () => {
  const originGone = Promise.withResolvers<void>();
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname !== "/stream") return new Response("0123456789");
    // One chunk, then nothing until the client (the proxy) goes away.
    return new Response(
      new ReadableStream<Uint8Array>({
        start: (c) => c.enqueue(new TextEncoder().encode("part1\n")),
        cancel: () => originGone.resolve(),
      }),
    );
  });
  const connector = new H1Connector();
  const logged: (string | null)[] = [];
  const proxy = new HttpProxy({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.addr.port}`),
    logging: (_s, err) => void logged.push(err?.code ?? null),
  }, { connector, errorLog: () => {} });
  const port = Promise.withResolvers<number>();
  const svc = httpProxyService(proxy, {
    listeners: [{ address: "127.0.0.1:0", protocol: "h2" }],
    onListen: (addr) => port.resolve(addr.port),
  });
  const stop = new AbortController();
  const deadline = new AbortController();
  const running = svc.start(stop.signal, deadline.signal);
  try {
    const base = `http://127.0.0.1:${await port.promise}`;
    const plain = await fetch(`${base}/`);
    assert.equal(plain.headers.get("content-length"), "10");
    assert.equal(await plain.text(), "0123456789");
    const streaming = await fetch(`${base}/stream`);
    const reader = streaming.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "part1\n");
    stop.abort(); // drain: the streaming response keeps the server up ...
    deadline.abort(); // ... until the deadline cuts it
    await assert.rejects(async () => {
      while (!(await reader.read()).done) { /* until the cut breaks it */ }
    });
    await running;
    await originGone.promise; // the upstream body was cancelled, its connection closed
    assert.deepEqual(logged, [null, "ABORTED"]);
  } finally {
    stop.abort();
    deadline.abort();
    await running.catch(() => {});
    await connector.close();
    await origin.shutdown();
  }
});
