/**
 * Mount a Cirque proxy inside a Hono app.
 *
 * @module
 */

import type { HttpProxy } from "./http_proxy.ts";

/** The part of Hono's `Context` the adapter uses (kept structural, so no Hono type leaks). */
export interface HonoLikeContext {
  /** Hono's request wrapper; `raw` is the web `Request`. */
  req: { raw: Request };
  /** On Deno, Hono passes `Deno.serve`'s handler info as `env`. */
  env?: unknown;
}

/**
 * Returns a Hono handler that sends every request it gets through `proxy`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { cirque, HttpProxy } from "@cirque/proxy";
 * import { HttpPeer } from "@cirque/core/peer";
 * import type { Connector } from "@cirque/core/connector";
 * import assert from "node:assert/strict";
 *
 * const connector: Connector = {
 *   request: (_peer, head) => Promise.resolve({
 *     status: 200, statusText: "OK", headers: [], body: new Response(`upstream saw ${head.path}`).body,
 *     trailers: Promise.resolve([]), reused: false, timing: { connected: 0, responseHead: 0 },
 *   }),
 *   close: () => Promise.resolve(),
 * };
 * const proxy = new HttpProxy({ newCtx: () => null, upstreamPeer: () => new HttpPeer("127.0.0.1:9") }, { connector });
 * const app = new Hono();
 * app.get("/hello", (c) => c.text("from hono"));
 * app.all("/api/*", cirque(proxy));
 * assert.equal(await (await app.request("/api/users?id=1")).text(), "upstream saw /api/users?id=1");
 * assert.equal(await (await app.request("/hello")).text(), "from hono");
 * ```
 */
export function cirque<Ctx>(proxy: HttpProxy<Ctx>): (c: HonoLikeContext) => Promise<Response> {
  return function cirqueHandler(c: HonoLikeContext): Promise<Response> {
    const env = c.env as Deno.ServeHandlerInfo<Deno.Addr> | undefined;
    const info = env !== undefined && typeof env === "object" && "remoteAddr" in env
      ? env
      : undefined;
    return proxy.handle(c.req.raw, info);
  };
}
