// deno bench -A proxy/cache_bench.ts
/**
 * The cost of a cache hit against a request through the proxy without a
 * cache, in-process (`HttpProxy.process`, body read to the end), with a
 * connector that answers from memory so only proxy CPU is measured. One
 * isolate, one core: time per request is CPU per request, so the ratio
 * reads as requests per proxy CPU-second.
 *
 * @module
 */

import type { Connector } from "@cirque/core/connector";
import { HttpPeer } from "@cirque/core/peer";
import { RequestHeader } from "@cirque/core/http-header";
import { CacheConfig, CacheLock, MemoryStorage } from "@cirque/cache";
import { HttpProxy, type ProxyHttp, Session } from "./mod.ts";

const BODY = new Uint8Array(1024).fill(120);
const connector: Connector = {
  request: (_peer, _head, _body, options = {}) =>
    Promise.resolve(options.beforeSend?.(false)).then(() => ({
      status: 200,
      statusText: "OK",
      headers: [["Content-Length", "1024"], ["Cache-Control", "max-age=3600"], [
        "Content-Type",
        "text/plain",
      ]],
      body: new Response(BODY).body,
      trailers: Promise.resolve([]),
      reused: true,
      timing: { connected: 0, responseHead: 0 },
    })),
  close: () => Promise.resolve(),
};
const peer = new HttpPeer("127.0.0.1:9");
const base: ProxyHttp<null> = { newCtx: () => null, upstreamPeer: () => peer };
const empty = new HttpProxy(base, { connector, errorLog: () => {} });
const config = new CacheConfig({
  storage: new MemoryStorage(),
  lock: new CacheLock(),
});
const cached = new HttpProxy({ ...base, requestCacheFilter: () => config }, {
  connector,
  errorLog: () => {},
});

async function run(proxy: HttpProxy<null>): Promise<void> {
  const session = new Session(
    new RequestHeader("GET", "/asset.js", [["Host", "bench.test"], ["Accept", "*/*"]]),
  );
  const out = await proxy.process(session);
  if (out.body !== null) {
    const reader = out.body.getReader();
    while (!(await reader.read()).done) { /* drain */ }
  }
  await out.finish(null);
}

await run(cached); // warm the entry

Deno.bench("miss through the empty proxy (no cache phases)", {
  group: "hit",
  baseline: true,
}, () => run(empty));
Deno.bench("cache hit (MemoryStorage, lock on)", { group: "hit" }, () => run(cached));
