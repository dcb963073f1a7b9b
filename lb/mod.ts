/**
 * `@cirque/lb`: load balancing as Pingora does it (weighted round robin,
 * random, FNV hashing, ketama consistent hashing, `UniqueIterator` failover,
 * TCP and HTTP health checks with consecutive thresholds) plus what it lacks:
 * least requests (power of two choices), DNS and file discovery.
 *
 * @example
 * ```ts
 * import { LoadBalancer, RoundRobin, StaticDiscovery } from "@cirque/lb";
 * import assert from "node:assert/strict";
 *
 * const lb = new LoadBalancer(
 *   new RoundRobin(),
 *   StaticDiscovery.fromAddresses(["127.0.0.1:8080", "127.0.0.1:8081"]),
 * );
 * await lb.update();
 * assert.equal(lb.select()?.address, "127.0.0.1:8080");
 * lb.setEnabled("127.0.0.1:8081", false);
 * assert.equal(lb.select()?.address, "127.0.0.1:8080");
 * ```
 *
 * @module
 */

export * from "./backend.ts";
export * from "./backends.ts";
export * from "./backend_selection.ts";
export * from "./consistent.ts";
export * from "./dns_discovery.ts";
export * from "./file_discovery.ts";
export * from "./fnv_hash.ts";
export * from "./health_check.ts";
export * from "./http_health_check.ts";
export * from "./ketama.ts";
export * from "./least_requests.ts";
export * from "./load_balancer.ts";
export * from "./random.ts";
export * from "./round_robin.ts";
export * from "./service_discovery.ts";
export * from "./tcp_health_check.ts";
export * from "./unique_iterator.ts";
