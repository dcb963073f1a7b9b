// deno run -A examples/websocket.ts
/**
 * WebSocket through Cirque's HTTP/1.1 fast path: the `Upgrade` request is
 * forwarded, and after the upstream's `101 Switching Protocols` the
 * connection becomes a raw byte tunnel in both directions (any upgrade
 * protocol works, not only WebSocket).
 *
 *   deno run -A examples/websocket.ts, then in a browser console:
 *   const ws = new WebSocket("ws://127.0.0.1:8080/echo"); ws.onmessage = (e) => console.log(e.data);
 *   ws.onopen = () => ws.send("hello");
 *
 * @module
 */

import { HttpPeer } from "@cirque/core/peer";
import { H1Connector } from "@cirque/core/h1";
import { type H1Server, HttpProxy, serveH1 } from "@cirque/proxy";
import { stopAll } from "./_origin.ts";

/** A WebSocket echo origin: echoes every message prefixed with "echo: ". */
export function echoOrigin(): { address: string; close: () => Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("websocket only\n", { status: 426, headers: { Upgrade: "websocket" } });
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(`echo: ${e.data}`);
    return response;
  });
  return { address: `127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** Starts the echo origin and the proxy. */
export function start(port = 8080): { server: H1Server; stop: () => Promise<void> } {
  const origin = echoOrigin();
  const peer = new HttpPeer(origin.address);
  const connector = new H1Connector();
  const server = serveH1(
    new HttpProxy({ newCtx: () => null, upstreamPeer: () => peer }, { connector }),
    { port },
  );
  return {
    server,
    stop: () => stopAll(server, connector, origin),
  };
}

if (import.meta.main) {
  const { server } = start(Number(Deno.env.get("PORT") ?? 8080));
  console.log(`websocket proxy on ws://127.0.0.1:${server.addr.port}/echo`);
}
