/**
 * `@cirque/cirque`: the umbrella package. Re-exports the stable API of every
 * Cirque package; import the single packages (`@cirque/lb`, `@cirque/cache`, …)
 * to pay only for what you use.
 *
 * @example
 * ```ts
 * import { HttpPeer, RoundRobin } from "@cirque/cirque";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new HttpPeer("[::1]:80").addr.transport, "tcp");
 * assert.equal(typeof RoundRobin, "function");
 * ```
 *
 * @module
 */
export * from "@cirque/core";
export * from "@cirque/proxy";
export * from "@cirque/lb";
export * from "@cirque/limits";
export * from "@cirque/cache";
