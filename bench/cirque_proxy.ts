// deno run -A bench/cirque_proxy.ts <mode> <listenPort> <origin host:port> [certFile keyFile]
/**
 * The Cirque rows of the peer benchmark (`deno task bench:proxy`).
 *
 * Modes:
 * - `h1`: an empty `ProxyHttp` (round robin over the origin) on the HTTP/1.1
 *   fast path (`serveH1`);
 * - `gateway`: the phases of `examples/gateway.ts` (token check in
 *   `requestFilter`, routing by path prefix, `upstreamRequestFilter` that drops
 *   `Authorization` and adds `X-User`) on the fast path;
 * - `serve`: the empty proxy through `Deno.serve`, as the ready-made proxy runs
 *   a `protocol: h2` listener (`httpProxyService`: `httpService` with
 *   `guardBodies: false` around `HttpProxy.handle`);
 * - `cache`: the empty proxy plus the RFC 9111 cache (`MemoryStorage`, cache
 *   lock, 200s fresh for an hour): after the first request every request is
 *   a hit, answered without the upstream;
 * - `h1-tls` / `serve-tls`: the same over TLS (cert and key files given);
 *   `serve-tls` speaks HTTP/2 and HTTP/1.1 (ALPN).
 *
 * On SIGTERM it prints the upstream pool counters as one JSON line on stderr.
 *
 * @module
 */

import { HttpPeer } from "@cirque/core/peer";
import { H1Connector } from "@cirque/core/h1";
// Single modules, as a user's proxy would import them: the `@cirque/lb` root
// also loads file discovery and its YAML parser (~10 MiB of RSS) that this
// proxy never uses. The engine always loads the cache's rules
// (`@cirque/cache/http-cache`); its storage and lock only in `cache` mode.
import { LoadBalancer } from "@cirque/lb/load-balancer";
import { RoundRobin } from "@cirque/lb/round-robin";
import { HttpProxy, httpProxyService, type ProxyHttp, serveH1 } from "@cirque/proxy";

const [mode = "h1", portArg = "29101", origin = "127.0.0.1:29100", certFile, keyFile] = Deno.args;
const port = Number(portArg);
const lb = await LoadBalancer.fromAddresses([origin], new RoundRobin());
// Idle pool as large as the peers' (nginx keepalive 1024, Deno fetch 512): h2load opens
// 500 concurrent streams. CIRQUE_MAX_CONNECTIONS=n sets the peer's `maxConnections`
// (bench/results/2026-11-29T0046.md compares 64 with none; unset: no limit).
const maxConnections = Number(Deno.env.get("CIRQUE_MAX_CONNECTIONS") ?? "0");
const peers = new Map([[
  origin,
  new HttpPeer(origin, {
    options: {
      maxIdlePerPeer: 512,
      ...(maxConnections > 0 ? { maxConnections } : {}),
    },
  }),
]]);
const connector = new H1Connector({ maxIdle: 512 });

const empty: ProxyHttp<null> = {
  newCtx: () => null,
  upstreamPeer() {
    const b = lb.select("");
    if (b === undefined) throw new Error("no backend");
    return peers.get(b.address)!;
  },
};

const TOKENS: Record<string, string> = { "alice-token": "alice", "bob-token": "bob" };
const originPeer = peers.get(origin)!;
const routes: [prefix: string, peer: HttpPeer][] = [
  ["/users", originPeer],
  ["/orders", originPeer],
  ["/small", originPeer],
  ["/large", originPeer],
];
const gateway: ProxyHttp<{ user: string | null }> = {
  newCtx: () => ({ user: null }),
  requestFilter(session, ctx) {
    const auth = session.req.headers.get("authorization") ?? "";
    const user = auth.startsWith("Bearer ") ? TOKENS[auth.slice(7)] : undefined;
    if (user === undefined) {
      return session.respond(401, "missing or bad token\n", { "WWW-Authenticate": "Bearer" });
    }
    ctx.user = user;
    if (!routes.some(([p]) => session.req.path.startsWith(p))) {
      return session.respond(404, "no such API\n");
    }
  },
  upstreamPeer(session) {
    return routes.find(([p]) => session.req.path.startsWith(p))![1];
  },
  upstreamRequestFilter(_session, up, ctx) {
    up.headers.delete("authorization");
    up.headers.set("X-User", ctx.user!);
  },
};

const tls = certFile !== undefined && keyFile !== undefined
  ? { cert: Deno.readTextFileSync(certFile), key: Deno.readTextFileSync(keyFile) }
  : undefined;
const errorLog = (line: string) => console.error(line);
// The same forwarding fields as the nginx, haproxy and Deno fetch rows:
// X-Forwarded-For only (Cirque's default also adds X-Forwarded-Proto,
// X-Forwarded-Host and Via).
const forwarding = { xForwardedProto: false, xForwardedHost: false, via: false } as const;
let stop: () => void;
const cache = mode === "cache" ? await loadCache() : null;

async function loadCache() {
  const { CacheConfig, CacheLock, MemoryStorage } = await import("@cirque/cache");
  return new CacheConfig({
    storage: new MemoryStorage(),
    lock: new CacheLock(),
    defaultTtl: (status) => status === 200 ? 3600 : undefined,
  });
}
if (mode === "h1" || mode === "gateway" || mode === "h1-tls" || mode === "cache") {
  const proxy = mode === "gateway"
    ? new HttpProxy(gateway, { connector, errorLog, forwarding })
    : mode === "cache"
    ? new HttpProxy({ ...empty, requestCacheFilter: () => cache! }, {
      connector,
      errorLog,
      forwarding,
    })
    : new HttpProxy(empty, { connector, errorLog, forwarding });
  const server = serveH1(proxy, {
    hostname: "127.0.0.1",
    port,
    ...(mode === "h1-tls" && tls ? tls : {}),
  });
  stop = () => server.close();
} else if (mode === "serve" || mode === "serve-tls") {
  const proxy = new HttpProxy(empty, { connector, errorLog, forwarding });
  const svc = httpProxyService(proxy, {
    listeners: [{
      address: `127.0.0.1:${port}`,
      protocol: "h2",
      ...(mode === "serve-tls" && tls ? { tls } : {}),
    }],
  });
  const halt = new AbortController();
  void svc.start(halt.signal, halt.signal);
  stop = () => halt.abort();
} else {
  throw new Error(`Cannot start bench proxy: unknown mode "${mode}"`);
}
Deno.addSignalListener("SIGTERM", () => {
  console.error(JSON.stringify({ pool: connector.stats, memory: Deno.memoryUsage() }));
  stop();
  Deno.exit(0);
});
