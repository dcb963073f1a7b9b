/**
 * `@cirque/proxy`: the programming model. Write one {@linkcode ProxyHttp}
 * object; {@linkcode HttpProxy} runs its phases for every request.
 *
 * @example
 * ```ts
 * import { HttpProxy, type ProxyHttp } from "@cirque/proxy";
 * import { HttpPeer } from "@cirque/core/peer";
 * import type { Connector } from "@cirque/core/connector";
 * import assert from "node:assert/strict";
 *
 * const gateway: ProxyHttp<null> = {
 *   newCtx: () => null,
 *   requestFilter: (session) =>
 *     session.req.headers.get("authorization") === null ? session.respond(401, "login first\n") : undefined,
 *   upstreamPeer: () => new HttpPeer("127.0.0.1:8080"),
 * };
 * const connector = {} as Connector; // never reached in this example
 * const res = await new HttpProxy(gateway, { connector }).handle(new Request("http://a.test/"));
 * assert.equal(res.status, 401);
 * ```
 *
 * @module
 */
export * from "./proxy_http.ts";
export * from "./session.ts";
export * from "./http_proxy.ts";
export * from "./forwarding.ts";
export * from "./hono.ts";
export * from "./http_proxy_service.ts";
export * from "./h1_server.ts";
export * from "./proxy_cache.ts";
