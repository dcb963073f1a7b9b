// deno bench -A lb/ketama_bench.ts
import { Continuum } from "./ketama.ts";

const servers = (n: number, weight = 1) =>
  Array.from({ length: n }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}:443`, weight }));
const S10 = servers(10);
const S100 = servers(100);
const KEYS = Array.from({ length: 1024 }, (_, i) => `/assets/${i.toString(16)}/app.js`);
const BYTE_KEYS = KEYS.map((k) => new TextEncoder().encode(k));
const R10 = new Continuum(S10);
const R100 = new Continuum(S100);
let i = 0;

Deno.bench("build: 10 servers × 160 points", { group: "ring build", baseline: true }, () => {
  new Continuum(S10);
});
Deno.bench("build: 100 servers × 160 points", { group: "ring build" }, () => {
  new Continuum(S100);
});
Deno.bench("build: 10 servers × 160 points, pingora compat", { group: "ring build" }, () => {
  new Continuum(S10, { compat: "pingora" });
});

Deno.bench("node(): 10-server ring, string key", { group: "lookup", baseline: true }, () => {
  R10.node(KEYS[i++ & 1023]!);
});
Deno.bench("node(): 100-server ring, string key", { group: "lookup" }, () => {
  R100.node(KEYS[i++ & 1023]!);
});
Deno.bench("node(): 100-server ring, byte key", { group: "lookup" }, () => {
  R100.node(BYTE_KEYS[i++ & 1023]!);
});
