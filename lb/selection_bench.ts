// deno bench -A lb/selection_bench.ts
// One function literal per algorithm: closures of one literal share V8's type
// feedback, which would make every call site megamorphic and skew the ratios.
import { Backend } from "./backend.ts";
import { Consistent } from "./consistent.ts";
import { FnvHash } from "./fnv_hash.ts";
import { LeastRequests } from "./least_requests.ts";
import { LoadBalancer } from "./load_balancer.ts";
import { Random } from "./random.ts";
import { RoundRobin } from "./round_robin.ts";

const ADDRESSES = Array.from({ length: 20 }, (_, i) => `10.0.0.${i + 1}:443`);
const BACKENDS = ADDRESSES.map((a, i) => new Backend(a, { weight: 1 + (i % 3) }));
const KEYS = Array.from({ length: 1024 }, (_, i) => `user-${i * 7919}`);

const rr = new RoundRobin();
const random = new Random();
const fnv = new FnvHash();
const ketama = new Consistent();
const least = new LeastRequests();
for (const s of [rr, random, fnv, ketama, least]) s.build(BACKENDS);

const group = "select(key).next(), 20 backends";
let a = 0;
Deno.bench("RoundRobin", { group, baseline: true }, () => {
  rr.select(KEYS[a++ & 1023]!).next();
});
let b = 0;
Deno.bench("Random", { group }, () => {
  random.select(KEYS[b++ & 1023]!).next();
});
let c = 0;
Deno.bench("FnvHash", { group }, () => {
  fnv.select(KEYS[c++ & 1023]!).next();
});
let d = 0;
Deno.bench("Consistent", { group }, () => {
  ketama.select(KEYS[d++ & 1023]!).next();
});
let e = 0;
Deno.bench("LeastRequests", { group }, () => {
  least.select(KEYS[e++ & 1023]!).next();
});

const lbRr = await LoadBalancer.fromAddresses(ADDRESSES, new RoundRobin());
const lbFnv = await LoadBalancer.fromAddresses(ADDRESSES, new FnvHash());
const lbKetama = await LoadBalancer.fromAddresses(ADDRESSES, new Consistent());
const lbLeast = await LoadBalancer.fromAddresses(ADDRESSES, new LeastRequests());
const lbGroup = "LoadBalancer.select(key): health filter + UniqueIterator";
let f = 0;
Deno.bench("LoadBalancer<RoundRobin>", { group: lbGroup, baseline: true }, () => {
  lbRr.select(KEYS[f++ & 1023]!);
});
let g = 0;
Deno.bench("LoadBalancer<FnvHash>", { group: lbGroup }, () => {
  lbFnv.select(KEYS[g++ & 1023]!);
});
let h = 0;
Deno.bench("LoadBalancer<Consistent>", { group: lbGroup }, () => {
  lbKetama.select(KEYS[h++ & 1023]!);
});
let k = 0;
Deno.bench("LoadBalancer<LeastRequests>", { group: lbGroup }, () => {
  lbLeast.select(KEYS[k++ & 1023]!);
});
