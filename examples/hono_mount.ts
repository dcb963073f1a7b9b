// deno run -A examples/hono_mount.ts
/**
 * A Hono app that serves some routes itself and mounts a Cirque proxy on
 * `/api/*`, all under `Deno.serve`.
 *
 *   curl -i http://127.0.0.1:8080/           # from Hono
 *   curl -i http://127.0.0.1:8080/api/users  # through Cirque to the origin
 *
 * @module
 */

import { Hono } from "hono";
import { HttpPeer } from "@cirque/core/peer";
import { H1Connector } from "@cirque/core/h1";
import { cirque, HttpProxy } from "@cirque/proxy";
import { demoOrigin } from "./_origin.ts";

/** Starts the origin and the Hono app; returns the app's address and a stop function. */
export function start(port = 8080): { port: number; stop: () => Promise<void> } {
  const origin = demoOrigin("api-origin");
  const peer = new HttpPeer(origin.address);
  const connector = new H1Connector();
  const proxy = new HttpProxy({
    newCtx: () => null,
    upstreamPeer: () => peer,
    upstreamRequestFilter: (_s, up) => void (up.path = up.path.replace(/^\/api/, "") || "/"),
  }, { connector });
  const app = new Hono();
  app.get("/", (c) => c.text("hello from hono\n"));
  app.all("/api/*", cirque(proxy));
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, app.fetch);
  return {
    port: server.addr.port,
    stop: async () => {
      await server.shutdown();
      await connector.close();
      await origin.close();
    },
  };
}

if (import.meta.main) {
  const { port } = start(Number(Deno.env.get("PORT") ?? 8080));
  console.log(`hono app on http://127.0.0.1:${port}/ and http://127.0.0.1:${port}/api/users`);
}
