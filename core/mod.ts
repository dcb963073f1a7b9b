/**
 * `@cirque/core`: errors, peers, the upstream connector contract, connection
 * pooling and the server lifecycle that every other Cirque package builds on.
 *
 * @example
 * ```ts
 * import { HttpPeer, ProxyError } from "@cirque/core";
 * import assert from "node:assert/strict";
 *
 * const peer = new HttpPeer("127.0.0.1:8080");
 * assert.equal(peer.authority, "127.0.0.1:8080");
 * assert.equal(new ProxyError("INTERNAL", "x").source, "internal");
 * ```
 *
 * @module
 */
export * from "./error.ts";
export * from "./peer.ts";
export * from "./connector.ts";
export * from "./http_header.ts";
export * from "./deadline.ts";
export * from "./service.ts";
export * from "./http_service.ts";
export * from "./server.ts";
export * from "./server_conf.ts";
export * from "./cli.ts";
export * as config from "./config.ts";
export * from "./h1_parse.ts";
export * from "./pool.ts";
export * from "./buffers.ts";
export * from "./h1_connection.ts";
export * from "./h1_connector.ts";
export * from "./fetch_connector.ts";
export * from "./ip.ts";
