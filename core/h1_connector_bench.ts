/**
 * Requests per second of H1Connector vs `fetch`, sequential and 64 concurrent
 * GETs of a 1 KiB body. The origin runs in a separate process: nginx when it
 * is on PATH (static 1 KiB file, one worker), else a Deno.serve script
 * (`testdata/bench_origin.ts`); force the latter with `CIRQUE_BENCH_ORIGIN=deno`.
 *
 *   deno bench -A core/h1_connector_bench.ts
 *
 * @module
 */
import { H1Connector } from "./h1_connector.ts";
import { HttpPeer } from "./peer.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitUp(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`origin on ${port} did not come up`);
}

async function startOrigin(): Promise<{ port: number; name: string; stop: () => void }> {
  const wantDeno = Deno.env.get("CIRQUE_BENCH_ORIGIN") === "deno";
  const nginx = wantDeno ? null : ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (nginx) {
    const dir = await Deno.makeTempDir({ prefix: "cirque-bench-nginx-" });
    const port = freePort();
    await Deno.mkdir(`${dir}/html`);
    await Deno.writeFile(`${dir}/html/small`, new Uint8Array(1024).fill(120));
    await Deno.writeTextFile(
      `${dir}/nginx.conf`,
      `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  server { listen 127.0.0.1:${port}; root ${dir}/html; } }
`,
    );
    const child = new Deno.Command(nginx, {
      args: ["-p", dir, "-c", `${dir}/nginx.conf`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitUp(port);
    return {
      port,
      name: "nginx",
      stop: () => {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
        try {
          const log = Deno.readTextFileSync(`${dir}/error.log`);
          if (log) console.error(log);
          Deno.removeSync(dir, { recursive: true });
        } catch { /* busy */ }
      },
    };
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./testdata/bench_origin.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("bench origin exited");
    out += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    port: Number(out.trim()),
    name: "deno",
    stop: () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    },
  };
}

const origin = await startOrigin();
globalThis.addEventListener("unload", () => {
  if (fetchFailures > 0) console.error(`fetch failures: ${fetchFailures}`);
  origin.stop();
});

const url = `http://127.0.0.1:${origin.port}/small`;
const peer = new HttpPeer(`127.0.0.1:${origin.port}`);
const connector = new H1Connector();
const head = { method: "GET", path: "/small", headers: [] as [string, string][] };

async function drain(body: ReadableStream<Uint8Array> | null): Promise<number> {
  if (body === null) return 0;
  const reader = body.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.length;
  }
}

async function viaH1(): Promise<void> {
  const r = await connector.request(peer, head, null);
  if ((await drain(r.body)) !== 1024) throw new Error("short body");
}

let fetchFailures = 0;
async function viaFetch(): Promise<void> {
  try {
    const r = await fetch(url);
    if ((await r.arrayBuffer()).byteLength !== 1024) throw new Error("short body");
  } catch (e) {
    // Seen rarely against nginx under load: "connection closed before message
    // completed" from fetch's pool. Counted (and reported) rather than fatal.
    if (fetchFailures++ === 0) console.error(`fetch failed: ${e}`);
  }
}

const CONCURRENCY = 64;
async function concurrent(one: () => Promise<void>): Promise<void> {
  const all: Promise<void>[] = [];
  for (let i = 0; i < CONCURRENCY; i++) all.push(one());
  await Promise.all(all);
}

// Warm both pools so connection setup is not measured.
await concurrent(viaH1);
await concurrent(viaFetch);

Deno.bench({
  name: `fetch, sequential GET 1 KiB (${origin.name} origin)`,
  group: "sequential",
  baseline: true,
  fn: viaFetch,
});
Deno.bench({
  name: `H1Connector, sequential GET 1 KiB (${origin.name} origin)`,
  group: "sequential",
  fn: viaH1,
});
Deno.bench({
  name: `fetch, 64 concurrent GETs 1 KiB (${origin.name} origin)`,
  group: "64 concurrent",
  baseline: true,
  fn: () => concurrent(viaFetch),
});
Deno.bench({
  name: `H1Connector, 64 concurrent GETs 1 KiB (${origin.name} origin)`,
  group: "64 concurrent",
  fn: () => concurrent(viaH1),
});
