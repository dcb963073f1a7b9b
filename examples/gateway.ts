// deno run -A examples/gateway.ts
/**
 * An API gateway: authentication in `requestFilter`, routing by path to two
 * services, and an upstream request filter that passes the user on.
 *
 *   curl -i http://127.0.0.1:8080/users/1 -H "Authorization: Bearer alice-token"
 *   curl -i http://127.0.0.1:8080/orders/7 -H "Authorization: Bearer bob-token"
 *   curl -i http://127.0.0.1:8080/users/1            # 401
 *
 * @module
 */

import { HttpPeer } from "@cirque/core/peer";
import { H1Connector } from "@cirque/core/h1";
import { type H1Server, HttpProxy, type ProxyHttp, serveH1 } from "@cirque/proxy";
import { demoOrigin, stopAll } from "./_origin.ts";

const TOKENS: Record<string, string> = { "alice-token": "alice", "bob-token": "bob" };

interface Ctx {
  user: string | null;
}

/** Starts the two services and the gateway; returns the gateway and a stop function. */
export function start(port = 8080): { server: H1Server; stop: () => Promise<void> } {
  const users = demoOrigin("users-service");
  const orders = demoOrigin("orders-service");
  const routes: [prefix: string, peer: HttpPeer][] = [
    ["/users", new HttpPeer(users.address)],
    ["/orders", new HttpPeer(orders.address)],
  ];
  const gateway: ProxyHttp<Ctx> = {
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
      up.headers.delete("authorization"); // the services trust the gateway, not the token
      up.headers.set("X-User", ctx.user!);
    },
  };
  const connector = new H1Connector();
  const server = serveH1(new HttpProxy(gateway, { connector }), { port });
  return {
    server,
    stop: () => stopAll(server, connector, users, orders),
  };
}

if (import.meta.main) {
  const { server } = start(Number(Deno.env.get("PORT") ?? 8080));
  console.log(
    `gateway on http://127.0.0.1:${server.addr.port}/users/1 (Authorization: Bearer alice-token)`,
  );
}
