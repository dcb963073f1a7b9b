// deno run -A bench/raw_floor.ts <listenPort> <origin host:port>
/**
 * The floor row of the peer benchmark (`raw-floor`): what a proxy built
 * directly on Cirque's low-level parts costs per request, with no engine, no
 * `Session`, no phases and no header strings on the request side. Request
 * heads go upstream as bytes plus an `X-Forwarded-For` line (like every
 * row); responses come back verbatim through `H1Connector.acquire`/`fill`/
 * `release` (the lab's "E" design, reference/fastpath.md).
 *
 * A measuring stick, not a proxy: it handles only bodiless requests and
 * Content-Length responses (the benchmark's `/small` and `/large`), strips no
 * hop-by-hop field and has no error handling beyond closing the connection.
 * The gap between this row and `cirque-h1` is what the engine, the session
 * and header handling cost.
 *
 * @module
 */

import { H1Connector } from "@cirque/core/h1";
import { findHeadEnd, parseResponseHead } from "@cirque/core/h1-parse";
import { HttpPeer } from "@cirque/core/peer";

const [portArg = "29101", origin = "127.0.0.1:29100"] = Deno.args;
const peer = new HttpPeer(origin, { options: { maxIdlePerPeer: 512 } });
const connector = new H1Connector({ maxIdle: 512 });
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(portArg) });
const TIMEOUT = 30_000;
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));

async function serve(conn: Deno.TcpConn): Promise<void> {
  // Like the fast path: no Nagle delay on a write that follows another.
  conn.setNoDelay(true);
  const ip = (conn.remoteAddr as Deno.NetAddr).hostname;
  const xff = new TextEncoder().encode(`X-Forwarded-For: ${ip}\r\n\r\n`);
  const buf = new Uint8Array(16384);
  const head = new Uint8Array(16384 + xff.length);
  let start = 0;
  let end = 0;
  try {
    for (;;) {
      let he: number;
      while ((he = end > start ? findHeadEnd(buf, start, end) : -1) < 0) {
        if (start === end) start = end = 0;
        if (end === buf.length) return; // a head larger than the buffer: not for the floor
        const n = await conn.read(end === 0 ? buf : buf.subarray(end));
        if (n === null) return;
        end += n;
      }
      // The request head without its final CRLF, then X-Forwarded-For and the CRLF.
      const hl = he - 2 - start;
      head.set(buf.subarray(start, he - 2));
      head.set(xff, hl);
      start = he;
      const up = await connector.acquire(peer);
      await up.writeAll(head.subarray(0, hl + xff.length), TIMEOUT);
      let e: number;
      while ((e = findHeadEnd(up.buf, up.start, up.end)) < 0) await up.fill(TIMEOUT);
      const total = e - up.start + parseResponseHead(up.buf, up.start, e).contentLength;
      // Head and the buffered body bytes in one write, then the rest as it arrives.
      let sent = 0;
      while (sent < total) {
        if (up.start === up.end) {
          up.growBuffer();
          if ((await up.fill(TIMEOUT)) === 0) throw new Error("upstream closed mid-body");
        }
        const k = Math.min(up.end - up.start, total - sent);
        // A write may take only part of the bytes.
        for (let w = 0; w < k;) w += await conn.write(up.buf.subarray(up.start + w, up.start + k));
        up.start += k;
        sent += k;
      }
      connector.release(peer, up, true);
    }
  } catch {
    // Any failure ends the connection.
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

for await (const c of listener) serve(c as Deno.TcpConn);
