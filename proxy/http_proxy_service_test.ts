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

Deno.test("httpProxyService: ignoreClientAbort on an h2 listener is refused up front", () => {
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
});
