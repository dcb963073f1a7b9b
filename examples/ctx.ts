// deno run -A examples/ctx.ts
/**
 * Per-request state in `ctx`, and an access log line written in `logging`,
 * which runs exactly once per request, also for errors and filter answers.
 *
 *   curl -i http://127.0.0.1:8080/hello
 *
 * @module
 */

import { HttpPeer } from "@cirque/core/peer";
import { H1Connector } from "@cirque/core/h1";
import { type H1Server, HttpProxy, type ProxyHttp, serveH1 } from "@cirque/proxy";
import { demoOrigin, stopAll } from "./_origin.ts";

interface Ctx {
  requestId: string;
  start: number;
}

/** One access-log record. */
export interface AccessRecord {
  id: string;
  method: string;
  path: string;
  status: number;
  upstream: string | null;
  reused: boolean;
  error: string | null;
  ms: number;
}

/** Starts an origin and a proxy that logs each request to `log`. */
export function start(
  port = 8080,
  log: (r: AccessRecord) => void = (r) => console.log(JSON.stringify(r)),
): { server: H1Server; stop: () => Promise<void> } {
  const origin = demoOrigin("ctx-origin");
  const peer = new HttpPeer(origin.address);
  let seq = 0;
  const phases: ProxyHttp<Ctx> = {
    newCtx: () => ({ requestId: `req-${++seq}`, start: performance.now() }),
    requestFilter: (s) => s.req.path === "/forbidden" ? s.respond(403, "no\n") : undefined,
    upstreamPeer: () => peer,
    upstreamRequestFilter: (_s, up, ctx) => void up.headers.set("X-Request-Id", ctx.requestId),
    responseFilter: (_s, res, ctx) => void res.headers.set("X-Request-Id", ctx.requestId),
    logging(session, error, ctx) {
      log({
        id: ctx.requestId,
        method: session.req.method,
        path: session.req.path,
        status: session.status,
        upstream: session.upstreamPeer?.address ?? null,
        reused: session.upstreamReused,
        error: error?.code ?? null,
        ms: Math.round(performance.now() - ctx.start),
      });
    },
  };
  const connector = new H1Connector();
  const server = serveH1(new HttpProxy(phases, { connector, errorLog: () => {} }), { port });
  return {
    server,
    stop: () => stopAll(server, connector, origin),
  };
}

if (import.meta.main) {
  const { server } = start(Number(Deno.env.get("PORT") ?? 8080));
  console.log(`ctx example on http://127.0.0.1:${server.addr.port}/hello`);
}
