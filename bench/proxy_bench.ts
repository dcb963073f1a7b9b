// deno task bench:proxy [--quick] [--rounds=N] [--duration=S] [--warmup=S] [--only=a,b]
//                        [--paths=small,large] [--groups=h1,h2,tls] [--no-install]
//                        [--profile=ROW] [--out=FILE]
/**
 * Side-by-side benchmark of Cirque against peer proxies, per proxy CPU second.
 *
 * Layout (see `bench/README.md`): a local nginx origin and the load generator
 * share CPU 0; each proxy runs alone on CPU 1 (`taskset`), a fresh process per
 * run; rounds are interleaved (every row once, then the next round); each cell
 * is the median over rounds, and each ratio is the median of the per-round
 * ratios (a ratio compares two runs of the same round).
 *
 * The proxy's CPU is `utime + stime` summed over its process tree, read from
 * `/proc/PID/stat` just before and after the measured run. Foreign load is
 * every other busy tick of the machine in that window (`/proc/stat` minus
 * proxy, origin, load generator and this harness).
 *
 * Everything binds 127.0.0.1; only processes this script started are stopped,
 * by PID.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;
const BENCH = ROOT + "bench/";
const SCRATCH = BENCH + "scratch/";
const RUN = SCRATCH + "run/";
const NPM_DIR = SCRATCH + "npm/";
const RESULTS = BENCH + "results/";

const ORIGIN_PORT = 29100;
const STATUS_PORT = 29109;
const PROXY_PORT = 29101;
const TLS_PORT = 29443;
const CLK_TCK = 100;

// ---------------------------------------------------------------- arguments

interface Args {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  only: Set<string> | null;
  paths: string[];
  groups: Set<string>;
  install: boolean;
  profile: string | null;
  out: string | null;
  quick: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    rounds: 2,
    duration: 6,
    // V8 compiles the hot path with TurboFan 1–4 s into the load (`--trace-opt`:
    // about 0.1, 0.3 and 0.2 s of compile CPU in seconds 1, 2 and 3 for the
    // fast path), on the proxy's own core: a shorter warm-up puts that in the
    // measured run of every JavaScript row.
    warmup: 5,
    connections: 50,
    only: null,
    paths: ["small", "large"],
    groups: new Set(["h1", "h2", "tls"]),
    install: true,
    profile: null,
    out: null,
    quick: false,
  };
  for (const arg of argv) {
    const [k, v = ""] = arg.split("=", 2) as [string, string?];
    switch (k) {
      case "--quick":
        a.quick = true;
        a.rounds = 1;
        a.duration = 4;
        a.warmup = 1;
        break;
      case "--rounds":
        a.rounds = Math.max(1, Number(v));
        break;
      case "--duration":
        a.duration = Math.max(1, Number(v));
        break;
      case "--warmup":
        a.warmup = Math.max(0, Number(v));
        break;
      case "--connections":
        a.connections = Math.max(1, Number(v));
        break;
      case "--only":
        a.only = new Set(v.split(",").filter(Boolean));
        break;
      case "--paths":
        a.paths = v.split(",").filter(Boolean);
        break;
      case "--groups":
        a.groups = new Set(v.split(",").filter(Boolean));
        break;
      case "--no-install":
        a.install = false;
        break;
      case "--profile":
        a.profile = v;
        break;
      case "--out":
        a.out = v;
        break;
      default:
        throw new Error(`Cannot parse arguments: unknown flag "${arg}"`);
    }
  }
  return a;
}

// ---------------------------------------------------------------- helpers

async function sh(cmd: string, opts: { check?: boolean } = {}): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", cmd], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (opts.check !== false && !out.success) {
    throw new Error(`Cannot run "${cmd}": exit ${out.code}\n${text}`);
  }
  return text;
}

function has(bin: string): Promise<boolean> {
  return sh(`command -v ${bin}`, { check: false }).then((t) => t.trim().length > 0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The commit and a fingerprint of uncommitted changes to the code the proxies
 * run: every run starts a fresh process from the worktree, so an edit during
 * the benchmark would mix code versions between rows.
 */
async function codeState(): Promise<{ commit: string; dirty: boolean; print: string }> {
  const commit = (await sh(`cd ${ROOT} && git rev-parse --short HEAD`, { check: false })).trim();
  const diff = await sh(
    `cd ${ROOT} && git status --porcelain -- '*.ts' deno.json deno.lock && git diff HEAD -- '*.ts' deno.json deno.lock`,
    { check: false },
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(diff));
  const print = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return {
    commit: /^[0-9a-f]+$/.test(commit) ? commit : "unknown",
    dirty: diff.trim() !== "",
    print,
  };
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** utime+stime ticks (and stime alone) and ppid of every process. */
function procTable(): Map<number, { ppid: number; ticks: number; sys: number }> {
  const t = new Map<number, { ppid: number; ticks: number; sys: number }>();
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      // f[0] is field 3 (state): ppid = field 4, utime = 14, stime = 15.
      t.set(pid, { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), sys: Number(f[12]) });
    } catch { /* exited */ }
  }
  return t;
}

function treePids(root: number, table = procTable()): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, p] of table) if (p.ppid === out[i]) out.push(pid);
  }
  return out.filter((p) => table.has(p));
}

function treeTicks(root: number): number {
  return treeCpu(root).ticks;
}

/** CPU ticks (all, and kernel alone) of a process tree. */
function treeCpu(root: number): { ticks: number; sys: number } {
  const table = procTable();
  let ticks = 0;
  let sys = 0;
  for (const p of treePids(root, table)) {
    ticks += table.get(p)!.ticks;
    sys += table.get(p)!.sys;
  }
  return { ticks, sys };
}

function treeHwmKiB(root: number): number {
  let sum = 0;
  for (const p of treePids(root)) {
    try {
      const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${p}/status`));
      if (m) sum += Number(m[1]);
    } catch { /* exited */ }
  }
  return sum;
}

/** Busy and steal ticks of the whole machine. */
function machineTicks(): { busy: number; steal: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return { busy, steal: f[7]! };
}

function selfTicks(): number {
  const s = Deno.readTextFileSync("/proc/self/stat");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

async function portOpen(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

async function waitPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await portOpen(port)) return;
    await sleep(50);
  }
  throw new Error(`Cannot start server: port ${port} not open after ${ms} ms`);
}

/** Accepted connections of the origin nginx (stub_status), minus this probe's own. */
async function originAccepts(): Promise<number> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port: STATUS_PORT });
  await c.write(new TextEncoder().encode("GET /status HTTP/1.0\r\nHost: x\r\n\r\n"));
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  c.close();
  const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)/.exec(text);
  if (!m) throw new Error(`Cannot read origin status: ${text}`);
  return Number(m[1]) - 1;
}

interface Proc {
  pid: number;
  child: Deno.ChildProcess;
}

/** Processes this run started and has not stopped yet (stopped on SIGINT/SIGTERM too). */
const live = new Set<Proc>();
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.addSignalListener(sig, () => {
    console.error(`\n${sig}: stopping ${live.size} process(es) this run started`);
    Promise.allSettled([...live].map(stop)).then(() => Deno.exit(code));
  });
}

function spawn(cmd: string, log: string, cpu: number | null): Proc {
  const line = `exec ${cpu === null ? "" : `taskset -c ${cpu} `}${cmd} >${log} 2>&1`;
  const child = new Deno.Command("sh", {
    args: ["-c", line],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const p = { pid: child.pid, child };
  live.add(p);
  return p;
}

async function stop(p: Proc): Promise<void> {
  live.delete(p);
  const pids = treePids(p.pid);
  try {
    Deno.kill(p.pid, "SIGTERM");
  } catch { /* gone */ }
  const done = p.child.status.then(() => true);
  const t = await Promise.race([done, sleep(5000).then(() => false)]);
  if (!t) {
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await p.child.status;
  }
  // Children (nginx workers) that outlived their parent.
  for (const pid of pids.slice(1)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

// ---------------------------------------------------------------- setup

async function install(args: Args): Promise<void> {
  const need: [bin: string, pkg: string][] = [
    ["nginx", "nginx"],
    ["haproxy", "haproxy"],
    ["wrk", "wrk"],
    ["h2load", "nghttp2-client"],
    ["taskset", "util-linux"],
    ["openssl", "openssl"],
  ];
  const missing: string[] = [];
  for (const [bin, pkg] of need) if (!(await has(bin))) missing.push(pkg);
  if (missing.length > 0) {
    if (!args.install) throw new Error(`Cannot run: missing ${missing.join(", ")}`);
    console.error(`installing (apt): ${missing.join(" ")}`);
    await sh("apt-get update -qq");
    await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(" ")}`);
  }
  const mods = ["http-proxy", "fastify", "@fastify/http-proxy", "hono"];
  const absent = mods.filter((m) => {
    try {
      Deno.statSync(NPM_DIR + "node_modules/" + m + "/package.json");
      return false;
    } catch {
      return true;
    }
  });
  if (absent.length > 0) {
    if (!args.install) throw new Error(`Cannot run: missing npm ${absent.join(", ")}`);
    console.error(`installing (npm, ${NPM_DIR}): ${absent.join(" ")}`);
    Deno.mkdirSync(NPM_DIR, { recursive: true });
    try {
      Deno.statSync(NPM_DIR + "package.json");
    } catch {
      Deno.writeTextFileSync(NPM_DIR + "package.json", '{ "private": true }\n');
    }
    await sh(`cd ${NPM_DIR} && npm install --no-audit --no-fund --silent ${mods.join(" ")}`);
  }
  // Deno peers (hono from the root import map) must be in the cache.
  await sh(`cd ${ROOT} && deno cache --frozen bench/peers/hono_proxy.ts bench/cirque_proxy.ts`);
}

function writeConfigs(): void {
  for (const d of ["", "www", "origin", "origin/logs", "nginx", "nginx/logs", "haproxy"]) {
    Deno.mkdirSync(RUN + d, { recursive: true });
  }
  Deno.writeFileSync(RUN + "www/small", new Uint8Array(1024).fill(97));
  Deno.writeFileSync(RUN + "www/large", new Uint8Array(102400).fill(98));
  Deno.writeTextFileSync(
    RUN + "origin/nginx.conf",
    `user root;
worker_processes 1;
daemon off;
pid ${RUN}origin/nginx.pid;
error_log ${RUN}origin/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  default_type application/octet-stream;
  client_body_temp_path ${RUN}origin/body;
  proxy_temp_path ${RUN}origin/proxy;
  fastcgi_temp_path ${RUN}origin/fcgi;
  uwsgi_temp_path ${RUN}origin/uwsgi;
  scgi_temp_path ${RUN}origin/scgi;
  server {
    listen 127.0.0.1:${ORIGIN_PORT} backlog=4096;
    root ${RUN}www;
    location / { }
  }
  server {
    listen 127.0.0.1:${STATUS_PORT};
    location /status { stub_status; }
  }
}
`,
  );
  Deno.writeTextFileSync(
    RUN + "nginx/nginx.conf",
    `user root;
worker_processes 1;
daemon off;
pid ${RUN}nginx/nginx.pid;
error_log ${RUN}nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path ${RUN}nginx/body;
  proxy_temp_path ${RUN}nginx/proxy;
  fastcgi_temp_path ${RUN}nginx/fcgi;
  uwsgi_temp_path ${RUN}nginx/uwsgi;
  scgi_temp_path ${RUN}nginx/scgi;
  upstream origin {
    server 127.0.0.1:${ORIGIN_PORT};
    keepalive 1024;
    keepalive_requests 1000000;
  }
  # Buffers sized to hold the 100 KiB body in memory (8 x 16 KiB = 128 KiB).
  proxy_buffer_size 16k;
  proxy_buffers 8 16k;
  proxy_busy_buffers_size 32k;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  server {
    listen 127.0.0.1:${PROXY_PORT} backlog=4096;
    location / { proxy_pass http://origin; }
  }
  server {
    listen 127.0.0.1:${TLS_PORT} ssl http2;
    ssl_certificate ${RUN}cert.pem;
    ssl_certificate_key ${RUN}key.pem;
    location / { proxy_pass http://origin; }
  }
}
`,
  );
  Deno.writeTextFileSync(
    RUN + "haproxy/haproxy.cfg",
    `global
  nbthread 1
  maxconn 8192
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend plain
  bind 127.0.0.1:${PROXY_PORT}
  default_backend origin
frontend tls
  bind 127.0.0.1:${TLS_PORT} ssl crt ${RUN}haproxy.pem alpn h2,http/1.1
  default_backend origin
backend origin
  server o1 127.0.0.1:${ORIGIN_PORT} maxconn 1024
`,
  );
}

async function makeCert(): Promise<void> {
  try {
    Deno.statSync(RUN + "cert-v2.stamp");
    return;
  } catch { /* make it */ }
  await sh(
    `openssl req -x509 -newkey rsa:2048 -nodes -keyout ${RUN}key.pem -out ${RUN}cert.pem ` +
      `-days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 ` +
      // An end-entity certificate (rustls refuses a CA certificate as a server's).
      `-addext basicConstraints=critical,CA:FALSE`,
  );
  await sh(`cat ${RUN}cert.pem ${RUN}key.pem > ${RUN}haproxy.pem`);
  Deno.writeTextFileSync(RUN + "cert-v2.stamp", "");
}

// ---------------------------------------------------------------- rows

type Group = "h1" | "h2" | "tls";

interface Row {
  id: string;
  label: string;
  /** A JavaScript peer (for the "÷ best JS" column). */
  js: boolean;
  cirque: boolean;
  /** Command (run from the worktree root), or null for the direct row. */
  cmd: string | null;
  /** Extra request headers. */
  headers?: string[];
}

const DENO = "deno run -A --frozen --quiet";
const cirque = (mode: string, port: number, extra = "", tls = false) =>
  `${DENO} ${extra} bench/cirque_proxy.ts ${mode} ${port} 127.0.0.1:${ORIGIN_PORT}` +
  (tls ? ` ${RUN}cert.pem ${RUN}key.pem` : "");

/** What a browser sends besides Host (`bench/browser_headers.txt`), for the `-browser` rows. */
const BROWSER_HEADERS = Deno.readTextFileSync(new URL("browser_headers.txt", import.meta.url))
  .split("\n").filter((l) => l.trim() !== "");

function rows(group: Group, args: Args): Row[] {
  // The profile is named after the row and group: `cirque-serve.cpuprofile`, `cirque-serve-h2.cpuprofile`.
  const prof = (id: string, tag = "") =>
    args.profile === id
      ? `--cpu-prof --cpu-prof-dir=${SCRATCH}prof --cpu-prof-name=${id}${
        tag && `-${tag}`
      }.cpuprofile`
      : "";
  const o = `127.0.0.1:${ORIGIN_PORT}`;
  // A measuring stick of the HTTP/2 group: a standalone Deno.serve script over TLS.
  const serveStick = (id: string, label: string, script: string): Row => ({
    id,
    label,
    js: false,
    cirque: false,
    cmd: `${DENO} --unstable-no-legacy-abort ${
      prof(id, "h2")
    } bench/${script} ${TLS_PORT} ${o} ${RUN}cert.pem ${RUN}key.pem`,
  });
  if (group === "h1") {
    return [
      { id: "direct", label: "direct to origin (no proxy)", js: false, cirque: false, cmd: null },
      {
        id: "nginx",
        label: "nginx",
        js: false,
        cirque: false,
        cmd: `nginx -p ${RUN}nginx -c ${RUN}nginx/nginx.conf`,
      },
      {
        id: "haproxy",
        label: "haproxy",
        js: false,
        cirque: false,
        cmd: `haproxy -db -f ${RUN}haproxy/haproxy.cfg`,
      },
      {
        id: "node-http-proxy",
        label: "node http-proxy",
        js: true,
        cirque: false,
        cmd:
          `env NODE_PATH=${NPM_DIR}node_modules node bench/peers/node_http_proxy.cjs ${PROXY_PORT} ${o}`,
      },
      {
        id: "fastify",
        label: "fastify + @fastify/http-proxy",
        js: true,
        cirque: false,
        cmd:
          `env NODE_PATH=${NPM_DIR}node_modules node bench/peers/fastify_proxy.cjs ${PROXY_PORT} ${o}`,
      },
      {
        id: "deno-fetch",
        label: "Deno.serve + fetch",
        js: true,
        cirque: false,
        cmd: `${DENO} ${prof("deno-fetch")} bench/peers/deno_fetch.ts ${PROXY_PORT} ${o}`,
      },
      {
        id: "hono",
        label: "Hono proxy helper (Deno)",
        js: true,
        cirque: false,
        cmd: `${DENO} bench/peers/hono_proxy.ts ${PROXY_PORT} ${o}`,
      },
      {
        id: "cirque-h1",
        label: "**Cirque** fast path (empty ProxyHttp)",
        js: false,
        cirque: true,
        cmd: cirque("h1", PROXY_PORT, prof("cirque-h1")),
      },
      {
        id: "raw-floor",
        label: "raw floor: Cirque's low-level API, no engine (`raw_floor.ts`)",
        js: false,
        cirque: false,
        cmd: `${DENO} ${prof("raw-floor")} bench/raw_floor.ts ${PROXY_PORT} ${o}`,
      },
      {
        id: "io-floor",
        label: "I/O floor: four socket operations per request, nothing else (`io_floor.ts`)",
        js: false,
        cirque: false,
        cmd: `${DENO} ${prof("io-floor")} bench/io_floor.ts ${PROXY_PORT} ${o}`,
      },
      // A browser's request (eleven more fields, ~600 bytes): what parsing
      // and forwarding client fields cost, nginx beside Cirque.
      {
        id: "nginx-browser",
        label: "nginx, a browser's request headers",
        js: false,
        cirque: false,
        cmd: `nginx -p ${RUN}nginx -c ${RUN}nginx/nginx.conf`,
        headers: BROWSER_HEADERS,
      },
      {
        id: "cirque-h1-browser",
        label: "**Cirque** fast path, a browser's request headers",
        js: false,
        cirque: true,
        cmd: cirque("h1", PROXY_PORT),
        headers: BROWSER_HEADERS,
      },
      {
        id: "cirque-h1-semi2",
        label: "**Cirque** fast path, `--v8-flags=--max-semi-space-size=2`",
        js: false,
        cirque: true,
        cmd: cirque("h1", PROXY_PORT, "--v8-flags=--max-semi-space-size=2"),
      },
      {
        id: "cirque-gateway",
        label: "**Cirque** fast path, gateway phases",
        js: false,
        cirque: true,
        cmd: cirque("gateway", PROXY_PORT, prof("cirque-gateway")),
        headers: ["Authorization: Bearer alice-token"],
      },
      {
        id: "cirque-cache",
        label: "**Cirque** fast path, cache hit (RFC 9111 cache, MemoryStorage)",
        js: false,
        cirque: true,
        cmd: cirque("cache", PROXY_PORT, prof("cirque-cache")),
      },
      {
        id: "cirque-serve",
        label: "**Cirque** via Deno.serve (`h2` listener), `--unstable-no-legacy-abort`",
        js: false,
        cirque: true,
        cmd: cirque("serve", PROXY_PORT, `--unstable-no-legacy-abort ${prof("cirque-serve")}`),
      },
    ];
  }
  if (group === "h2") {
    return [
      {
        id: "nginx",
        label: "nginx (h2, TLS)",
        js: false,
        cirque: false,
        cmd: `nginx -p ${RUN}nginx -c ${RUN}nginx/nginx.conf`,
      },
      {
        id: "haproxy",
        label: "haproxy (h2, TLS)",
        js: false,
        cirque: false,
        cmd: `haproxy -db -f ${RUN}haproxy/haproxy.cfg`,
      },
      {
        id: "deno-fetch",
        label: "Deno.serve + fetch (h2, TLS)",
        js: true,
        cirque: false,
        cmd: `${DENO} ${
          prof("deno-fetch", "h2")
        } bench/peers/deno_fetch.ts ${TLS_PORT} ${o} ${RUN}cert.pem ${RUN}key.pem`,
      },
      {
        id: "cirque-serve",
        label: "**Cirque** via Deno.serve (`h2` listener, h2, TLS), `--unstable-no-legacy-abort`",
        js: false,
        cirque: true,
        cmd: cirque(
          "serve-tls",
          TLS_PORT,
          `--unstable-no-legacy-abort ${prof("cirque-serve", "h2")}`,
          true,
        ),
      },
      serveStick(
        "serve-floor",
        "floor: Deno.serve + Cirque's low-level API, no engine (`serve_floor.ts`, h2, TLS)",
        "serve_floor.ts",
      ),
      serveStick(
        "serve-ceiling",
        "ceiling: Deno.serve entry, no upstream (`serve_ceiling.ts`, h2, TLS)",
        "serve_ceiling.ts",
      ),
    ];
  }
  return [
    {
      id: "nginx",
      label: "nginx (HTTP/1.1, TLS)",
      js: false,
      cirque: false,
      cmd: `nginx -p ${RUN}nginx -c ${RUN}nginx/nginx.conf`,
    },
    {
      id: "deno-fetch",
      label: "Deno.serve + fetch (HTTP/1.1, TLS)",
      js: true,
      cirque: false,
      cmd: `${DENO} bench/peers/deno_fetch.ts ${TLS_PORT} ${o} ${RUN}cert.pem ${RUN}key.pem`,
    },
    {
      id: "cirque-h1",
      label: "**Cirque** fast path `serveH1` (TLS)",
      js: false,
      cirque: true,
      cmd: cirque("h1-tls", TLS_PORT, "", true),
    },
    {
      id: "cirque-serve",
      label:
        "**Cirque** via Deno.serve (`h2` listener, HTTP/1.1, TLS), `--unstable-no-legacy-abort`",
      js: false,
      cirque: true,
      cmd: cirque("serve-tls", TLS_PORT, "--unstable-no-legacy-abort", true),
    },
  ];
}

// ---------------------------------------------------------------- one run

interface RunResult {
  row: string;
  group: Group;
  path: string;
  round: number;
  requests: number;
  seconds: number;
  rps: number;
  cpu: number;
  /** Kernel share of `cpu` (stime), seconds. */
  sys: number;
  reqPerCpu: number;
  p50: number;
  p99: number;
  mean: number;
  rssMiB: number;
  upstreamConns: number;
  clientConns: number;
  errors: string;
  foreign: number;
  steal: number;
}

function toMs(v: string, unit: string): number {
  const x = Number(v);
  return unit === "us" ? x / 1000 : unit === "s" ? x * 1000 : unit === "m" ? x * 60000 : x;
}

interface LoadResult {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  mean: number;
  errors: string;
  genTicks: number;
}

async function load(group: Group, url: string, secs: number, c: number, hdrs: string[]): Promise<
  LoadResult
> {
  const h = hdrs.map((x) => `-H '${x}'`).join(" ");
  let cmd: string;
  if (group === "h2") {
    cmd = `taskset -c 0 h2load -t1 -c${c} -m10 -D ${secs} ${h} ${url}`;
  } else {
    cmd = `taskset -c 0 wrk -t1 -c${c} -d${secs}s --latency ${h} ${url}`;
  }
  // The shell's own stat after wait carries the load generator's CPU (cutime+cstime).
  const out = await sh(`${cmd}; echo; cat /proc/$$/stat`, { check: false });
  const statLine = out.trim().split("\n").at(-1)!;
  const f = statLine.slice(statLine.lastIndexOf(")") + 2).split(" ");
  const genTicks = Number(f[13]) + Number(f[14]);
  if (group === "h2") {
    const fin = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(out);
    const req =
      /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/
        .exec(out);
    const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    const t = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/
      .exec(out);
    if (!fin || !req) throw new Error(`Cannot parse h2load output:\n${out}`);
    const bad = Number(req[5]) + Number(req[6]) + Number(req[7]) +
      (status ? Number(status[3]) + Number(status[4]) : 0);
    return {
      requests: Number(req[4]),
      seconds: Number(fin[1]),
      p50: NaN,
      p99: NaN,
      mean: t ? toMs(t[5]!, t[6]!) : NaN,
      errors: bad > 0 ? `${bad} failed/non-2xx` : "",
      genTicks,
    };
  }
  const m = /(\d+) requests in ([\d.]+)(s|ms|m)/.exec(out);
  if (!m) throw new Error(`Cannot parse wrk output:\n${out}`);
  const lat = (p: string) => {
    const r = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)`).exec(out);
    return r ? toMs(r[1]!, r[2]!) : NaN;
  };
  const mean = /Latency\s+([\d.]+)(us|ms|s)/.exec(out);
  const errs: string[] = [];
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) errs.push(`${non2xx[1]} non-2xx`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock && sock.slice(1).some((x) => x !== "0")) {
    errs.push(`socket errors c/r/w/t ${sock.slice(1).join("/")}`);
  }
  return {
    requests: Number(m[1]),
    seconds: toMs(m[2]!, m[3]!) / 1000,
    p50: lat("50"),
    p99: lat("99"),
    mean: mean ? toMs(mean[1]!, mean[2]!) : NaN,
    errors: errs.join(", "),
    genTicks,
  };
}

async function measure(
  row: Row,
  group: Group,
  path: string,
  round: number,
  args: Args,
  origin: Proc,
): Promise<RunResult> {
  const port = group === "h1" ? (row.cmd === null ? ORIGIN_PORT : PROXY_PORT) : TLS_PORT;
  const scheme = group === "h1" ? "http" : "https";
  const url = `${scheme}://127.0.0.1:${port}/${path}`;
  const log = `${RUN}${group}-${row.id}-${path}-${round}.log`;
  const a0 = await originAccepts();
  let proc: Proc | null = null;
  if (row.cmd !== null) {
    for (const p of [PROXY_PORT, TLS_PORT]) {
      if (await portOpen(p)) throw new Error(`Cannot start ${row.id}: port ${p} is taken`);
    }
    proc = spawn(row.cmd, log, 1);
    await waitPort(port, 20_000);
  }
  const target = proc?.pid ?? origin.pid;
  try {
    // The warm-up is two loads: the end of the first closes its connections,
    // which runs a JIT-compiled proxy's teardown paths for the first time (V8
    // then drops optimized code that never saw them), and the second gives the
    // proxy time to compile again before the measured load, which starts right
    // after such a teardown too.
    for (const secs of warmups(args.warmup)) {
      await load(group, url, secs, args.connections, row.headers ?? []);
    }
    const c0 = treeCpu(target);
    const t0 = c0.ticks;
    const o0 = treeTicks(origin.pid);
    const m0 = machineTicks();
    const s0 = selfTicks();
    const r = await load(group, url, args.duration, args.connections, row.headers ?? []);
    const c1 = treeCpu(target);
    const t1 = c1.ticks;
    const o1 = treeTicks(origin.pid);
    const m1 = machineTicks();
    const s1 = selfTicks();
    const rss = treeHwmKiB(target) / 1024;
    const a1 = await originAccepts();
    const cpu = (t1 - t0) / CLK_TCK;
    const originCpu = proc === null ? 0 : (o1 - o0) / CLK_TCK;
    const foreign = (m1.busy - m0.busy) / CLK_TCK - cpu - originCpu - r.genTicks / CLK_TCK -
      (s1 - s0) / CLK_TCK;
    return {
      row: row.id,
      group,
      path,
      round,
      requests: r.requests,
      seconds: r.seconds,
      rps: r.requests / r.seconds,
      cpu,
      sys: (c1.sys - c0.sys) / CLK_TCK,
      reqPerCpu: cpu > 0 ? r.requests / cpu : NaN,
      p50: r.p50,
      p99: r.p99,
      mean: r.mean,
      rssMiB: rss,
      upstreamConns: a1 - a0 - (proc === null ? 0 : 0),
      clientConns: args.connections * (1 + warmups(args.warmup).length),
      errors: r.errors,
      foreign: Math.max(0, foreign),
      steal: (m1.steal - m0.steal) / CLK_TCK,
    };
  } finally {
    if (proc !== null) await stop(proc);
  }
}

/**
 * The warm-up loads, in whole seconds (wrk takes no fractions): all of it, or,
 * from 2 s on, the rest and then 1–2 s.
 */
function warmups(total: number): number[] {
  const t = Math.round(total);
  if (t <= 0) return [];
  if (t < 2) return [t];
  const second = Math.min(2, Math.floor(t / 2));
  return [t - second, second];
}

/** The warm-up as the report states it, e.g. `3 + 2 s warm-up (two loads)`. */
function warmupText(total: number): string {
  const w = warmups(total);
  if (w.length === 0) return "no warm-up";
  return w.length === 1 ? `${w[0]} s warm-up` : `${w.join(" + ")} s warm-up (two loads)`;
}

// ---------------------------------------------------------------- report

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    .replaceAll(",", " ");
}

function table(all: RunResult[], group: Group, list: Row[], args: Args): string {
  const lines: string[] = [];
  const paths = group === "h1" ? args.paths : ["small"];
  const h2 = group === "h2";
  lines.push(
    `| proxy | path | req/CPU-s median (min–max) | ÷ nginx | ÷ best JS peer | req/s | ` +
      (h2 ? "mean latency" : "p50 / p99") +
      ` | µs/req user + kernel | CPU use | peak RSS | upstream conns opened (client conns) | runs (busy) |`,
  );
  lines.push("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const path of paths) {
    const rounds = byRound(all, group, path);
    for (const row of list) {
      const rs = all.filter((r) => r.group === group && r.path === path && r.row === row.id);
      if (rs.length === 0) continue;
      const v = rs.map((r) => r.reqPerCpu);
      const rn = roundRatios(all, group, path, row.id, "nginx");
      const rj: number[] = [];
      for (const run of rounds) {
        const me = run(row.id);
        const best = Math.max(0, ...list.filter((x) => x.js).map((x) => run(x.id)?.reqPerCpu ?? 0));
        if (me && best > 0) rj.push(me.reqPerCpu / best);
      }
      const busy = rs.filter((r) => r.foreign > 0.05 * args.duration).length;
      const errs = rs.map((r) => r.errors).filter(Boolean);
      const lat = h2
        ? `${fmt(median(rs.map((r) => r.mean)), 2)} ms`
        : `${fmt(median(rs.map((r) => r.p50)), 2)} / ${fmt(median(rs.map((r) => r.p99)), 2)} ms`;
      const name = row.id === "direct" ? row.label + " (CPU = origin's)" : row.label;
      lines.push(
        `| ${name}${errs.length ? ` ⚠ ${errs[0]}` : ""} | /${path} | **${fmt(median(v))}** (${
          fmt(Math.min(...v))
        }–${fmt(Math.max(...v))}) | ${fmt(median(rn), 2)} | ${fmt(median(rj), 2)} | ${
          fmt(median(rs.map((r) => r.rps)))
        } | ${lat} | ${usPerReq(rs)} | ${fmt(median(rs.map(cpuUse)))}% | ${
          fmt(median(rs.map((r) => r.rssMiB)))
        } MiB | ${fmt(median(rs.map((r) => r.upstreamConns)))} (${
          rs[0]!.clientConns
        }) | ${rs.length} (${busy}) |`,
      );
    }
  }
  return lines.join("\n");
}

/**
 * The proxy's CPU seconds per second of run, in percent: 100 when its core was
 * saturated; below that the load generator, not the proxy, set the pace.
 */
function cpuUse(r: RunResult): number {
  return 100 * r.cpu / r.seconds;
}

/** Median CPU µs per request, split into user and kernel time. */
function usPerReq(rs: RunResult[]): string {
  const user = median(rs.map((r) => (r.cpu - (r.sys ?? 0)) * 1e6 / r.requests));
  const sys = median(rs.map((r) => (r.sys ?? 0) * 1e6 / r.requests));
  return `${fmt(user, 1)} + ${fmt(sys, 1)}`;
}

function ratio(all: RunResult[], group: Group, path: string, a: string, b: string): number {
  return median(roundRatios(all, group, path, a, b));
}

/** Row `a` ÷ row `b` in each round where both ran. */
function roundRatios(all: RunResult[], group: Group, path: string, a: string, b: string): number[] {
  return roundPairs(all, group, path, a, b).map(([x, y]) => x.reqPerCpu / y.reqPerCpu);
}

/** Per round: that round's run of a row (in `group`, on `path`), if it ran. */
function byRound(
  all: RunResult[],
  group: Group,
  path: string,
): ((id: string) => RunResult | undefined)[] {
  return [...new Set(all.map((r) => r.round))].map((round) => (id: string) =>
    all.find((r) => r.group === group && r.path === path && r.row === id && r.round === round)
  );
}

/** The runs of rows `a` and `b` in each round where both ran. */
function roundPairs(
  all: RunResult[],
  group: Group,
  path: string,
  a: string,
  b: string,
): [RunResult, RunResult][] {
  const out: [RunResult, RunResult][] = [];
  for (const run of byRound(all, group, path)) {
    const x = run(a);
    const y = run(b);
    if (x && y) out.push([x, y]);
  }
  return out;
}

function targets(all: RunResult[]): string {
  const out: string[] = [];
  const check = (name: string, v: number, goal: number, cmp: "ge" | "le" = "ge") => {
    if (!Number.isFinite(v)) return;
    const ok = cmp === "ge" ? v >= goal : v <= goal;
    out.push(
      `| ${name} | ${fmt(v, 2)} | ${cmp === "ge" ? "≥" : "≤"} ${goal} | ${
        ok ? "met" : "**not met**"
      } |`,
    );
  };
  check("Cirque fast path /small ÷ nginx", ratio(all, "h1", "small", "cirque-h1", "nginx"), 0.7);
  check(
    "Cirque fast path /small ÷ Deno fetch",
    ratio(all, "h1", "small", "cirque-h1", "deno-fetch"),
    2.5,
  );
  check("Cirque fast path /large ÷ nginx", ratio(all, "h1", "large", "cirque-h1", "nginx"), 0.8);
  check(
    "Cirque via Deno.serve (h2, TLS) ÷ Deno fetch (h2, TLS)",
    ratio(all, "h2", "small", "cirque-serve", "deno-fetch"),
    1.5,
  );
  check(
    "Cirque via Deno.serve (HTTP/1.1) /small ÷ Deno fetch",
    ratio(all, "h1", "small", "cirque-serve", "deno-fetch"),
    1.5,
  );
  // Issue 8: a cache hit costs no more CPU than a miss through the empty proxy.
  for (const path of ["small", "large"]) {
    check(
      `Cirque cache hit ÷ empty-proxy miss, /${path} (req/CPU-s)`,
      ratio(all, "h1", path, "cirque-cache", "cirque-h1"),
      1,
    );
  }
  for (const id of ["cirque-h1", "cirque-gateway", "cirque-serve"]) {
    const rs = all.filter((r) => r.group === "h1" && r.row === id);
    if (rs.length === 0) continue;
    const worst = Math.max(...rs.map((r) => r.upstreamConns / r.clientConns));
    check(`${id}: upstream conns ÷ client conns (worst run)`, worst, 2, "le");
  }
  for (
    const [id, path] of [
      ["cirque-h1", "small"],
      ["cirque-h1", "large"],
      ["cirque-h1-semi2", "small"],
      ["cirque-h1-semi2", "large"],
    ]
  ) {
    const me = all.filter((r) => r.group === "h1" && r.row === id && r.path === path);
    const df = all.filter((r) => r.group === "h1" && r.row === "deno-fetch" && r.path === path);
    if (me.length && df.length) {
      check(
        `${id} peak RSS ÷ Deno fetch's, /${path}`,
        median(me.map((r) => r.rssMiB)) / median(df.map((r) => r.rssMiB)),
        1,
        "le",
      );
    }
  }
  return ["| target | measured | goal | |", "|---|---|---|---|", ...out].join("\n");
}

/** Ratios that explain the targets: what the floor reaches and what nginx itself does against fetch. */
function context(all: RunResult[]): string {
  const lines: string[] = [];
  const add = (name: string, v: number) => {
    if (Number.isFinite(v)) lines.push(`- ${name}: ${fmt(v, 2)}`);
  };
  for (const path of ["small", "large"]) {
    add(`nginx ÷ Deno fetch, /${path}`, ratio(all, "h1", path, "nginx", "deno-fetch"));
    add(`raw floor ÷ nginx, /${path}`, ratio(all, "h1", path, "raw-floor", "nginx"));
    add(`raw floor ÷ Deno fetch, /${path}`, ratio(all, "h1", path, "raw-floor", "deno-fetch"));
    add(`I/O floor ÷ Deno fetch, /${path}`, ratio(all, "h1", path, "io-floor", "deno-fetch"));
    add(`raw floor ÷ I/O floor, /${path}`, ratio(all, "h1", path, "raw-floor", "io-floor"));
    add(
      `Cirque fast path ÷ raw floor, /${path} (the engine's cost)`,
      ratio(all, "h1", path, "cirque-h1", "raw-floor"),
    );
    add(
      `Cirque fast path ÷ nginx, a browser's request headers, /${path}`,
      ratio(all, "h1", path, "cirque-h1-browser", "nginx-browser"),
    );
  }
  // The spread behind the medians of the ratio targets.
  const spread: [string, Group, string, string, string][] = [
    ["Cirque fast path /small ÷ Deno fetch", "h1", "small", "cirque-h1", "deno-fetch"],
    ["I/O floor /small ÷ Deno fetch", "h1", "small", "io-floor", "deno-fetch"],
    ["Cirque fast path /small ÷ nginx", "h1", "small", "cirque-h1", "nginx"],
    ["Cirque via Deno.serve ÷ Deno fetch, h2", "h2", "small", "cirque-serve", "deno-fetch"],
  ];
  for (const [name, group, path, a, b] of spread) {
    const ps = roundPairs(all, group, path, a, b);
    if (ps.length > 1) {
      // With each round, the CPU use of both rows: a row below 100% was paced by the load generator.
      lines.push(
        `- ${name}, per round (CPU use ${a} / ${b}): ${
          ps.map(([x, y]) =>
            `${fmt(x.reqPerCpu / y.reqPerCpu, 2)} (${fmt(cpuUse(x))}/${fmt(cpuUse(y))}%)`
          ).join(", ")
        }`,
      );
    }
  }
  const h2: [name: string, a: string, b: string][] = [
    ["nginx ÷ Deno fetch, h2", "nginx", "deno-fetch"],
    [
      "serve ceiling ÷ Deno fetch, h2 (the most a Deno.serve proxy can reach)",
      "serve-ceiling",
      "deno-fetch",
    ],
    [
      "serve floor ÷ Deno fetch, h2 (the most a Deno.serve proxy on Cirque's connector can reach)",
      "serve-floor",
      "deno-fetch",
    ],
    ["Cirque via Deno.serve ÷ serve floor, h2 (the engine's cost)", "cirque-serve", "serve-floor"],
    [
      "Cirque via Deno.serve ÷ serve ceiling, h2 (the upstream leg's and engine's cost)",
      "cirque-serve",
      "serve-ceiling",
    ],
  ];
  for (const [name, a, b] of h2) add(name, ratio(all, "h2", "small", a, b));
  return lines.join("\n");
}

async function machine(): Promise<string> {
  const cpu = /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "?";
  const v = async (cmd: string) => (await sh(cmd, { check: false })).trim().split("\n")[0];
  return [
    `- CPU: ${navigator.hardwareConcurrency} × ${cpu}; kernel ${Deno.osRelease()}`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); ${await v("nginx -v")}; ${await v(
      "haproxy -v",
    )}; node ${await v("node -v")}; ${await v("wrk -v")}; ${await v("h2load --version")}`,
  ].join("\n");
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  const started = new Date();
  await install(args);
  writeConfigs();
  await makeCert();
  for (const p of [ORIGIN_PORT, STATUS_PORT, PROXY_PORT, TLS_PORT]) {
    if (await portOpen(p)) throw new Error(`Cannot start: port ${p} is already in use`);
  }
  const load0 = Deno.loadavg();
  const code0 = await codeState();
  const origin = spawn(`nginx -p ${RUN}origin -c ${RUN}origin/nginx.conf`, `${RUN}origin.log`, 0);
  const results: RunResult[] = [];
  const groups = (["h1", "h2", "tls"] as Group[]).filter((g) => args.groups.has(g));
  try {
    await waitPort(ORIGIN_PORT, 10_000);
    await waitPort(STATUS_PORT, 10_000);
    for (let round = 1; round <= args.rounds; round++) {
      for (const group of groups) {
        const list = rows(group, args).filter((r) => args.only === null || args.only.has(r.id));
        const paths = group === "h1" ? args.paths : ["small"];
        for (const path of paths) {
          for (const row of list) {
            const r = await measure(row, group, path, round, args, origin);
            results.push(r);
            console.error(
              `round ${round} ${group} ${row.id.padEnd(16)} /${path.padEnd(5)} ` +
                `${fmt(r.rps).padStart(7)} req/s  cpu ${r.cpu.toFixed(2)} s  ` +
                `${fmt(r.reqPerCpu).padStart(7)} req/CPU-s  rss ${fmt(r.rssMiB)} MiB  ` +
                `up ${r.upstreamConns}  foreign ${r.foreign.toFixed(2)} s ${r.errors}`,
            );
          }
        }
      }
    }
  } finally {
    await stop(origin);
  }
  let stall = "";
  if (groups.includes("tls")) {
    // Latency half of the TLS side benchmark (its own origin, same config).
    stall = await sh(`cd ${ROOT} && deno run -A --frozen --quiet bench/tls_stall.ts 20`, {
      check: false,
    });
  }
  const load1 = Deno.loadavg();
  const code1 = await codeState();
  const busyRuns = results.filter((r) => r.foreign > 0.05 * args.duration).length;
  const foreignMed = median(results.map((r) => r.foreign / r.seconds));
  const sections: string[] = [];
  sections.push(`# Proxy benchmark ${started.toISOString().slice(0, 16)}Z`);
  sections.push("");
  sections.push(
    `Command: \`deno task bench:proxy ${Deno.args.join(" ")}\`; ${args.rounds} round(s), ` +
      `${warmupText(args.warmup)} + ${args.duration} s measured per run, ` +
      `${args.connections} connections, ` +
      `fresh proxy process per run, rounds interleaved. Load generator and nginx origin on CPU 0, ` +
      `proxy alone on CPU 1.`,
  );
  sections.push("");
  sections.push(await machine());
  sections.push(
    `- Code: commit ${code0.commit}${code0.dirty ? " with uncommitted changes" : ""}.` +
      (code1.print !== code0.print || code1.commit !== code0.commit
        ? " **Warning: the code changed during the run** (commit or uncommitted files differ " +
          "between start and end): rows may have run different versions; run again."
        : ""),
  );
  sections.push(
    `- Foreign load: median ${foreignMed.toFixed(2)} CPU-s per second of run; ${busyRuns} of ` +
      `${results.length} runs had more than 5% foreign CPU (other engineers' tests on the same ` +
      `2 cores); load average ${load0.map((x) => x.toFixed(1)).join(" ")} at start, ` +
      `${load1.map((x) => x.toFixed(1)).join(" ")} at end. Prefer the ratios.`,
  );
  for (const group of groups) {
    const list = rows(group, args);
    const title = group === "h1"
      ? "HTTP/1.1 downstream (wrk), keep-alive both sides"
      : group === "h2"
      ? "HTTP/2 downstream over TLS (h2load -m10), HTTP/1.1 upstream"
      : "HTTP/1.1 downstream over TLS (wrk), the TLS side benchmark";
    sections.push("", `## ${title}`, "", table(results, group, list, args));
  }
  if (stall !== "") sections.push("", stall.trim());
  sections.push("", "## Targets (issue 7)", "", targets(results));
  const ctx = context(results);
  if (ctx !== "") sections.push("", "Context (medians of per-round ratios):", "", ctx);
  sections.push(
    "",
    "Columns: req/CPU-s = requests ÷ CPU seconds of the proxy's process tree during the " +
      "measured run; ratios are medians of per-round ratios; the direct row's CPU is the " +
      "origin's; µs/req user + kernel = the proxy's CPU per request split into utime and stime " +
      "(on loopback the kernel share includes delivering each write to the receiver); " +
      "CPU use = the proxy's CPU seconds per second of run (100% = its core saturated; below, " +
      "the load generator on the other core set the pace); " +
      "upstream conns = connections the origin accepted from process start to the " +
      "end of the run (warm-up + measured), against the client connections opened in that time; " +
      "busy = runs with more than 5% foreign CPU.",
  );
  const md = sections.join("\n") + "\n";
  console.log(md);
  Deno.mkdirSync(RESULTS, { recursive: true });
  const file = args.out ??
    `${RESULTS}${started.toISOString().slice(0, 16).replace(":", "")}${
      args.quick ? "-quick" : ""
    }.md`;
  Deno.writeTextFileSync(file, md);
  Deno.writeTextFileSync(file.replace(/\.md$/, ".json"), JSON.stringify(results, null, 1) + "\n");
  console.error(`written: ${file}`);
}

if (import.meta.main) await main();
