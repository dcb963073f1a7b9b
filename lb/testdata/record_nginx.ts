// Records which server nginx's `hash $http_x_key consistent` picks, for the
// golden tests of `Continuum` (see README.md). Needs nginx on PATH and root
// (the no-port sets listen on port 80 of 127.0.0.x).
//
//   deno run -A lb/testdata/record_nginx.ts
//
// Writes nginx_<set>.json next to this file. Only loopback addresses are used.

import { prng } from "../../core/testdata/prng.ts";
import { CRC32_INIT, crc32, crc32Final, crc32Update, crc32UpdateString, crc32UpdateU32 } from "../_crc32.ts";

interface Server {
  address: string;
  weight: number;
}
interface RecordSet {
  name: string;
  description: string;
  servers: Server[];
  extraKeys?: string[];
  keys?: (rand: () => number) => string;
  count?: number;
}

const HERE = new URL(".", import.meta.url).pathname;
const KEYS_PER_SET = 1000;

// Deterministic keys (seeded) so a re-recording asks the same questions.
const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-";
function makeKey(rand: () => number): string {
  const len = 1 + Math.floor(rand() * 40);
  let s = "";
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return s;
}

// nginx's split of a server string (the code under test does the same; the
// recording is what checks it).
function points(address: string, weight: number): number[] {
  let host = address;
  let port = "";
  for (let j = 0; j < address.length; j++) {
    const c = address.charCodeAt(address.length - j - 1);
    if (c === 0x3a) {
      host = address.slice(0, address.length - j - 1);
      port = address.slice(address.length - j);
      break;
    }
    if (c < 0x30 || c > 0x39) break;
  }
  let base = crc32UpdateString(CRC32_INIT, host);
  base = crc32Update(base, new Uint8Array(1));
  base = crc32UpdateString(base, port);
  const out: number[] = [];
  let prev = 0;
  for (let i = 0; i < weight * 160; i++) {
    prev = crc32Final(crc32UpdateU32(base, prev));
    out.push(prev);
  }
  return out;
}

// Finds two loopback servers with a shared ring point.
function findTie(): { a: string; b: string; hash: number } {
  const owner = new Map<number, string>();
  for (let port = 21000; port < 21400; port++) {
    for (let host = 1; host <= 8; host++) {
      const address = `127.0.0.${host}:${port}`;
      for (const h of new Set(points(address, 1))) {
        const other = owner.get(h);
        if (other !== undefined && other !== address) return { a: other, b: address, hash: h };
        owner.set(h, address);
      }
    }
  }
  throw new Error("no tie found");
}

// Keys that land on the ring point `hash` of a ring made of `servers`.
function keysOnPoint(servers: Server[], hash: number, count: number, rand: () => number): string[] {
  const all = servers.flatMap((s) => points(s.address, s.weight)).sort((x, y) => x - y);
  const below = all.filter((h) => h < hash).at(-1) ?? -1;
  const out: string[] = [];
  for (let tries = 0; out.length < count && tries < 50_000_000; tries++) {
    const k = makeKey(rand);
    const h = crc32(k);
    if (h > below && h <= hash) out.push(k);
  }
  return out;
}

function listenAddr(address: string): { hostname: string; port: number } {
  let host = address;
  let port = 80;
  const m = /^(.*):([0-9]+)$/.exec(address);
  if (m) {
    host = m[1]!;
    port = Number(m[2]);
  }
  if (host.startsWith("[")) host = host.slice(1, -1);
  if (host === "localhost") host = "127.0.0.1";
  return { hostname: host, port };
}

async function record(set: RecordSet, frontPort: number, seed: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nginx-ketama-" });
  await Deno.mkdir(`${dir}/logs`);
  const servers = set.servers;
  const upstream = servers.map((s) => `    server ${s.address} weight=${s.weight};`).join("\n");
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream up {
    hash $http_x_key consistent;
${upstream}
  }
  server {
    listen 127.0.0.1:${frontPort};
    location / {
      proxy_pass http://up;
      proxy_next_upstream off;
    }
  }
}
`,
  );
  const backends = servers.map((s) =>
    Deno.serve({ ...listenAddr(s.address), onListen() {} }, () => new Response(s.address))
  );
  const nginx = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  try {
    for (let i = 0; i < 100; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${frontPort}/`, { headers: { "x-key": "warmup" } });
        await r.body?.cancel();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const rand = prng(seed);
    const keys = [...(set.extraKeys ?? [])];
    const total = (set.count ?? KEYS_PER_SET) + (set.extraKeys?.length ?? 0);
    while (keys.length < total) keys.push((set.keys ?? makeKey)(rand));
    const records: [string, string][] = [];
    for (const key of keys) {
      const res = await fetch(`http://127.0.0.1:${frontPort}/`, { headers: { "x-key": key } });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`${set.name}: ${key}: status ${res.status}`);
      records.push([key, body]);
    }
    const version = new TextDecoder().decode(
      (await new Deno.Command("nginx", { args: ["-v"], stderr: "piped" }).output()).stderr,
    ).trim();
    const out = {
      set: set.name,
      description: set.description,
      recordedWith: `${version}, upstream "hash $http_x_key consistent"`,
      servers,
      records,
    };
    await Deno.writeTextFile(
      `${HERE}nginx_${set.name}.json`,
      JSON.stringify(out, null, 0).replace(/\],\[/g, "],\n[") + "\n",
    );
    console.log(`${set.name}: ${records.length} records`);
  } finally {
    nginx.kill("SIGTERM");
    await nginx.status;
    await Promise.all(backends.map((b) => b.shutdown()));
    await Deno.remove(dir, { recursive: true });
  }
}

const tie = findTie();
console.log(`tie: ${tie.a} and ${tie.b} share point ${tie.hash}`);
const third = { address: "127.0.0.9:21999", weight: 1 };
const tieAB = [{ address: tie.a, weight: 1 }, { address: tie.b, weight: 1 }, third];
const tieBA = [{ address: tie.b, weight: 1 }, { address: tie.a, weight: 1 }, third];
const tieKeys = keysOnPoint(tieAB, tie.hash, 50, prng(7));

const sets: RecordSet[] = [
  {
    name: "ipv4",
    description: "six IPv4 servers with ports, weights 1..5",
    servers: [
      { address: "127.0.0.1:18081", weight: 1 },
      { address: "127.0.0.2:18082", weight: 2 },
      { address: "127.0.0.3:18083", weight: 3 },
      { address: "127.0.0.4:8", weight: 1 },
      { address: "127.0.0.5:18085", weight: 1 },
      { address: "127.0.0.6:65000", weight: 5 },
    ],
  },
  {
    name: "ipv6",
    description: "IPv6 loopback servers, written with brackets (hashed with them)",
    servers: [
      { address: "[::1]:18091", weight: 1 },
      { address: "[::1]:18092", weight: 2 },
      { address: "[::1]:18093", weight: 1 },
      { address: "127.0.0.1:18094", weight: 1 },
    ],
  },
  {
    name: "no_port",
    description: "servers written without a port (nginx connects to 80, hashes an empty port)",
    servers: [
      { address: "127.0.0.2", weight: 1 },
      { address: "127.0.0.3", weight: 1 },
      { address: "127.0.0.4", weight: 2 },
      { address: "127.0.0.5:80", weight: 1 },
    ],
  },
  {
    name: "hostname",
    description: "servers written as hostnames (localhost resolves to 127.0.0.1 only here)",
    servers: [
      { address: "localhost:18101", weight: 1 },
      { address: "localhost:18102", weight: 2 },
      { address: "localhost", weight: 1 },
      { address: "127.0.0.1:18103", weight: 1 },
    ],
  },
  {
    name: "tie_ab",
    description:
      `${tie.a} and ${tie.b} share ring point ${tie.hash}; the first 50 keys land on it; ${tie.a} is configured first`,
    servers: tieAB,
    extraKeys: tieKeys,
  },
  {
    name: "tie_ba",
    description:
      `same as tie_ab with the two tied servers in the other order: ${tie.b} is configured first`,
    servers: tieBA,
    extraKeys: tieKeys,
  },
  {
    name: "weight100",
    description:
      "the shape of pingora-ketama's sample-nginx-upstream.csv: nine servers of weight 100 on port 443, 1,001 URIs /<40 hex digits>",
    servers: Array.from({ length: 9 }, (_, i) => ({ address: `127.0.0.${i + 1}:443`, weight: 100 })),
    keys: (rand) => "/" + Array.from({ length: 40 }, () => "0123456789abcdef"[Math.floor(rand() * 16)]).join(""),
    count: 1001,
  },
];

let port = 18300;
let seed = 1;
for (const set of sets) await record(set, port++, seed++);
