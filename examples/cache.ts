// deno run -A examples/cache.ts
/**
 * A caching reverse proxy: Cirque's RFC 9111 cache in front of an origin
 * that counts its requests.
 *
 * The proxy turns the cache on for every GET under `/` with
 * `requestCacheFilter`, keeps responses in a 16 MiB `MemoryStorage` (objects
 * up to 1 MiB), collapses concurrent misses with a `CacheLock`, obeys
 * `CDN-Cache-Control` before `Cache-Control`, and lets PURGE come from
 * 127.0.0.1 only. It then shows a miss and a hit, 20 concurrent misses making
 * one origin request, a Vary split, a 304 revalidation, and a purge; each
 * line prints the `Cache-Status` header. Exits 0 when the origin saw exactly
 * the requests it should have, 1 otherwise.
 *
 * @module
 */

import { H1Connector } from "@cirque/core/h1";
import { HttpPeer } from "@cirque/core/peer";
import { CacheConfig, CacheLock, MemoryStorage } from "@cirque/cache";
import { HttpProxy, type ProxyHttp, serveH1, sessionCache } from "@cirque/proxy";

// The origin: counts requests per path; /slow waits a little so misses overlap.
const hits = new Map<string, number>();
const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const path = new URL(req.url).pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  if (path === "/slow") await new Promise((r) => setTimeout(r, 200));
  if (path === "/lang") {
    return new Response(`hello in ${req.headers.get("accept-language") ?? "?"}\n`, {
      headers: { "Cache-Control": "max-age=60", "Vary": "Accept-Language" },
    });
  }
  if (path === "/etag") {
    if (req.headers.get("if-none-match") === '"v1"') {
      return new Response(null, { status: 304, headers: { "ETag": '"v1"', "X-Refreshed": "yes" } });
    }
    return new Response("tagged\n", { headers: { "ETag": '"v1"', "Cache-Control": "no-cache" } });
  }
  return new Response(`content of ${path}\n`, {
    headers: { "Cache-Control": "no-store", "CDN-Cache-Control": "max-age=300" },
  });
});

const cache = new CacheConfig({
  storage: new MemoryStorage({ maxBytes: 16 << 20, maxObjectSize: 1 << 20 }),
  lock: new CacheLock({ ageTimeout: 5000 }),
  lockWaitTimeout: 3000,
  targetedField: "CDN-Cache-Control",
});

const phases: ProxyHttp<null> = {
  newCtx: () => null,
  upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.addr.port}`),
  requestCacheFilter: () => cache,
  isPurge: (session) => session.req.method === "PURGE" && session.clientIp === "127.0.0.1",
  logging: (session) => {
    const c = sessionCache(session);
    console.log(`${session.req.method} ${session.req.path} → ${session.status} ${c?.phase}`);
  },
};
const connector = new H1Connector();
const server = serveH1(new HttpProxy(phases, { connector }), { port: 0 });
const base = `http://127.0.0.1:${server.addr.port}`;
const client = Deno.createHttpClient({});

async function get(path: string, init: RequestInit = {}): Promise<string> {
  const r = await fetch(base + path, { ...init, client });
  const body = await r.text();
  console.log(`  ${r.status} Cache-Status: ${r.headers.get("cache-status")}`);
  return body;
}

await get("/a"); // miss (CDN-Cache-Control: max-age=300 wins over no-store)
await get("/a"); // hit
await Promise.all(Array.from({ length: 20 }, () => get("/slow"))); // one origin request
await get("/lang", { headers: { "Accept-Language": "en" } });
await get("/lang", { headers: { "Accept-Language": "fr" } });
await get("/lang", { headers: { "Accept-Language": "en" } }); // hit, kept apart from fr
await get("/etag"); // miss, stored with no-cache
await get("/etag"); // revalidated with If-None-Match → 304 → served from cache
await get("/a", { method: "PURGE" });
await get("/a"); // miss again

const want = { "/a": 2, "/slow": 1, "/lang": 2, "/etag": 2 };
const got = Object.fromEntries(hits);
console.log("origin requests:", JSON.stringify(got));
const ok = Object.entries(want).every(([p, n]) => got[p] === n);
console.log(ok ? "ok" : "FAILED");

client.close();
server.close();
await server.finished;
await connector.close();
await origin.shutdown();
Deno.exit(ok ? 0 : 1);
