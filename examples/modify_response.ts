// deno run -A examples/modify_response.ts
/**
 * Rewrites a JSON response body in `responseBodyFilter`: the body is
 * collected (bounded), changed, and sent at the end of the stream.
 *
 *   curl -s http://127.0.0.1:8080/anything
 *
 * @module
 */

import { HttpPeer } from "@cirque/core/peer";
import { H1Connector } from "@cirque/core/h1";
import { type H1Server, HttpProxy, type ProxyHttp, serveH1 } from "@cirque/proxy";
import { demoOrigin, stopAll } from "./_origin.ts";

const LIMIT = 1 << 20; // refuse to buffer more than 1 MiB

interface Ctx {
  json: boolean;
  chunks: Uint8Array[];
  size: number;
}

/** Starts an origin and the rewriting proxy. */
export function start(port = 8080): { server: H1Server; stop: () => Promise<void> } {
  const origin = demoOrigin("json-origin");
  const peer = new HttpPeer(origin.address);
  const phases: ProxyHttp<Ctx> = {
    newCtx: () => ({ json: false, chunks: [], size: 0 }),
    upstreamPeer: () => peer,
    upstreamRequestFilter: (_s, up) => void up.headers.set("Accept-Encoding", "identity"),
    responseFilter(_s, res, ctx) {
      ctx.json = (res.headers.get("content-type") ?? "").startsWith("application/json");
    },
    responseBodyFilter(_s, chunk, endOfStream, ctx) {
      if (!ctx.json) return;
      if (chunk !== null) {
        ctx.size += chunk.byteLength;
        if (ctx.size > LIMIT) throw new Error("JSON body too large to rewrite");
        ctx.chunks.push(chunk);
      }
      if (!endOfStream) return { chunk: null }; // hold back until the end
      const doc = JSON.parse(new TextDecoder().decode(concat(ctx.chunks)));
      delete doc.headers; // do not leak what the origin saw
      doc.rewritten_by = "cirque";
      return { chunk: new TextEncoder().encode(JSON.stringify(doc) + "\n") };
    },
  };
  const connector = new H1Connector();
  const server = serveH1(new HttpProxy(phases, { connector }), { port });
  return {
    server,
    stop: () => stopAll(server, connector, origin),
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

if (import.meta.main) {
  const { server } = start(Number(Deno.env.get("PORT") ?? 8080));
  console.log(`modify_response on http://127.0.0.1:${server.addr.port}/anything`);
}
