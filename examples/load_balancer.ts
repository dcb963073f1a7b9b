// deno run -A examples/load_balancer.ts
/**
 * Round robin over two origins with failover: when a backend refuses the
 * connection, `failToConnect` marks the error retryable and `upstreamPeer`
 * picks the next backend not tried yet.
 *
 *   curl -s http://127.0.0.1:8080/   # alternates between origin-a and origin-b
 *
 * @module
 */

import { HttpPeer } from "@cirque/core/peer";
import { H1Connector } from "@cirque/core/h1";
import { LoadBalancer, RoundRobin } from "@cirque/lb";
import { type H1Server, HttpProxy, type ProxyHttp, serveH1 } from "@cirque/proxy";
import { demoOrigin, stopAll } from "./_origin.ts";

interface Ctx {
  tried: Set<string>;
}

/**
 * Starts the proxy over `backends` (addresses). Without `backends`, starts
 * two demo origins.
 */
export async function start(
  port = 8080,
  backends?: string[],
): Promise<{ server: H1Server; stop: () => Promise<void> }> {
  const origins = backends ? [] : [demoOrigin("origin-a"), demoOrigin("origin-b")];
  const addresses = backends ?? origins.map((o) => o.address);
  const lb = await LoadBalancer.fromAddresses(addresses, new RoundRobin());
  const peers = new Map(
    addresses.map((a) => [a, new HttpPeer(a, { options: { connectTimeout: 1000 } })]),
  );
  const phases: ProxyHttp<Ctx> = {
    newCtx: () => ({ tried: new Set() }),
    upstreamPeer(_session, ctx) {
      const b = lb.select("", 256, (b, healthy) => healthy && !ctx.tried.has(b.address));
      if (b === undefined) throw new Error("every backend failed");
      ctx.tried.add(b.address);
      return peers.get(b.address)!;
    },
    failToConnect(_session, _peer, ctx, error) {
      error.retryable = ctx.tried.size < peers.size;
      return error;
    },
  };
  const connector = new H1Connector();
  const server = serveH1(new HttpProxy(phases, { connector, errorLog: () => {} }), { port });
  return {
    server,
    stop: () => stopAll(server, connector, ...origins),
  };
}

if (import.meta.main) {
  const { server } = await start(Number(Deno.env.get("PORT") ?? 8080));
  console.log(`load balancer on http://127.0.0.1:${server.addr.port}/`);
}
