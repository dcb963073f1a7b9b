// deno run -A bench/tls_stall.ts [requests=20]
/**
 * The TLS side benchmark's latency half: sequential requests on ONE keep-alive
 * TLS connection (HTTP/1.1, 1 KiB body) through Cirque's fast path
 * (`serveH1` with cert/key) and through `Deno.serve` + `HttpProxy.handle`,
 * both in front of a local origin. `Deno.serve` over TLS does not set
 * TCP_NODELAY (reference: deno-tls.md §4.2), so a response of this size can
 * wait ~40 ms for the client's delayed ACK; the fast path sets no-delay.
 *
 * Needs the certificate and origin that `deno task bench:proxy` made and
 * started (run it once; this script starts its own origin from that config).
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;
const RUN = ROOT + "bench/scratch/run/";
const N = Number(Deno.args[0] ?? 20);
const ORIGIN = 29100;

function spawn(cmd: string[], cpu: number): Deno.ChildProcess {
  return new Deno.Command("taskset", {
    args: ["-c", String(cpu), ...cmd],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`Cannot start: port ${port} did not open`);
}

/** Milliseconds of each of `n` sequential GETs on one TLS connection. */
async function sequential(port: number, n: number): Promise<number[]> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [Deno.readTextFileSync(RUN + "cert.pem")],
    alpnProtocols: ["http/1.1"],
  });
  const req = new TextEncoder().encode("GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const buf = new Uint8Array(65536);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await conn.write(req);
      let got = 0;
      let need = -1;
      while (need < 0 || got < need) {
        const r = await conn.read(buf.subarray(got));
        if (r === null) throw new Error("Cannot read: connection closed");
        got += r;
        const text = new TextDecoder().decode(buf.subarray(0, got));
        const he = text.indexOf("\r\n\r\n");
        const m = /content-length:\s*(\d+)/i.exec(text);
        if (he >= 0 && m) need = he + 4 + Number(m[1]);
      }
      out.push(performance.now() - t0);
    }
  } finally {
    conn.close();
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const origin = spawn(["nginx", "-p", RUN + "origin", "-c", RUN + "origin/nginx.conf"], 0);
const rows: string[] = [];
try {
  await waitPort(ORIGIN);
  for (
    const [label, mode] of [
      ["Cirque fast path `serveH1` (TLS)", "h1-tls"],
      ["Cirque via `Deno.serve` (TLS)", "serve-tls"],
    ] as const
  ) {
    const p = spawn([
      "deno",
      "run",
      "-A",
      "--quiet",
      "bench/cirque_proxy.ts",
      mode,
      "29443",
      `127.0.0.1:${ORIGIN}`,
      RUN + "cert.pem",
      RUN + "key.pem",
    ], 1);
    try {
      await waitPort(29443);
      const ms = await sequential(29443, N);
      const steady = ms.slice(1);
      rows.push(
        `| ${label} | ${ms[0]!.toFixed(2)} | ${median(steady).toFixed(2)} | ${
          Math.max(...steady).toFixed(2)
        } |`,
      );
    } finally {
      p.kill("SIGTERM");
      await p.status;
    }
  }
} finally {
  origin.kill("SIGTERM");
  await origin.status;
}
console.log(
  `Sequential GET /small (1 KiB) on one keep-alive TLS connection, ${N} requests:\n\n` +
    "| server | first request ms | median of the rest ms | max of the rest ms |\n|---|---|---|---|\n" +
    rows.join("\n"),
);
