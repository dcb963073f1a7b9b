// deno bench -A lb/selection_bench.ts
import { Backend } from "./backend.ts";
import type { BackendSelection } from "./backend_selection.ts";
import { Consistent } from "./consistent.ts";
import { FnvHash } from "./fnv_hash.ts";
import { LeastRequests } from "./least_requests.ts";
import { LoadBalancer } from "./load_balancer.ts";
import { Random } from "./random.ts";
import { RoundRobin } from "./round_robin.ts";

const ADDRESSES = Array.from({ length: 20 }, (_, i) => `10.0.0.${i + 1}:443`);
const BACKENDS = ADDRESSES.map((a, i) => new Backend(a, { weight: 1 + (i % 3) }));
const KEYS = Array.from({ length: 1024 }, (_, i) => `user-${i * 7919}`);
let i = 0;

function built<S extends BackendSelection>(s: S): S {
  s.build(BACKENDS);
  return s;
}
const ALGORITHMS: [string, BackendSelection][] = [
  ["RoundRobin", built(new RoundRobin())],
  ["Random", built(new Random())],
  ["FnvHash", built(new FnvHash())],
  ["Consistent", built(new Consistent())],
  ["LeastRequests", built(new LeastRequests())],
];

for (const [name, s] of ALGORITHMS) {
  Deno.bench(`${name}.select(key).next(), 20 backends`, {
    group: "select",
    baseline: name === "RoundRobin",
  }, () => {
    s.select(KEYS[i++ & 1023]!).next();
  });
}

const balancers = await Promise.all(ALGORITHMS.map(async ([name, s]) => {
  const lb = await LoadBalancer.fromAddresses(ADDRESSES, s);
  return [name, lb] as const;
}));
for (const [name, lb] of balancers) {
  Deno.bench(`LoadBalancer<${name}>.select(key), 20 backends`, {
    group: "LoadBalancer.select",
    baseline: name === "RoundRobin",
  }, () => {
    lb.select(KEYS[i++ & 1023]!);
  });
}
