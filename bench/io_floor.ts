// deno run -A bench/io_floor.ts <listenPort> <origin host:port>
/**
 * The I/O floor row of the peer benchmark (`io-floor`): the least any Deno
 * proxy on Deno's own sockets can cost per request. One upstream connection
 * per client connection (opened with it, never pooled), four socket
 * operations per request (read the request, write it upstream, read the
 * response, write it back), one byte scan for each head's end, one for the
 * response's `Content-Length`, and `X-Forwarded-For` appended like every row.
 * Nothing of Cirque: no parser, no pool, no timeouts, no header strings.
 *
 * A measuring stick, not a proxy: bodiless requests only, no pipelining,
 * Content-Length responses whose field is spelled `Content-Length` (the
 * benchmark's nginx origin), no error handling beyond closing both sockets.
 * The gap between this row and `raw-floor` is what Cirque's low-level parts
 * cost; a target above this row's ratio cannot be met by any proxy built on
 * `Deno.listen` and `Deno.connect` on that machine.
 *
 * @module
 */

const [portArg = "29101", origin = "127.0.0.1:29100"] = Deno.args;
const colon = origin.lastIndexOf(":");
const originHost = origin.slice(0, colon);
const originPort = Number(origin.slice(colon + 1));
const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(portArg) });
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));

const CONTENT_LENGTH = new TextEncoder().encode("\r\nContent-Length: ");

/** The index after the head's CRLFCRLF in `b[from, to)`, or -1. */
function headEnd(b: Uint8Array, from: number, to: number): number {
  for (let i = from < 3 ? 3 : from; i < to; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** The `Content-Length` value in the head `b[0, end)` (0 if absent). */
function contentLength(b: Uint8Array, end: number): number {
  const m = CONTENT_LENGTH.length;
  outer: for (let i = 0; i + m < end; i++) {
    for (let j = 0; j < m; j++) if (b[i + j] !== CONTENT_LENGTH[j]) continue outer;
    let n = 0;
    for (let k = i + m; k < end && b[k]! >= 48 && b[k]! <= 57; k++) n = n * 10 + b[k]! - 48;
    return n;
  }
  return 0;
}

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  let up: Deno.TcpConn | null = null;
  try {
    up = await Deno.connect({ hostname: originHost, port: originPort });
    up.setNoDelay(true);
    const ip = (conn.remoteAddr as Deno.NetAddr).hostname;
    const xff = new TextEncoder().encode(`X-Forwarded-For: ${ip}\r\n\r\n`);
    const req = new Uint8Array(16384 + xff.length);
    const res = new Uint8Array(128 * 1024);
    for (;;) {
      let end = 0;
      let he = -1;
      while (he < 0) {
        if (end === 16384) return; // a head larger than the buffer: not for the floor
        const n = await conn.read(req.subarray(end, 16384));
        if (n === null) return;
        he = headEnd(req, end < 3 ? 0 : end - 3, end + n);
        end += n;
      }
      // The head without its final CRLF, then X-Forwarded-For and the CRLF.
      req.set(xff, he - 2);
      const head = req.subarray(0, he - 2 + xff.length);
      for (let w = 0; w < head.length;) w += await up.write(head.subarray(w));
      let got = 0;
      let rhe = -1;
      while (rhe < 0) {
        if (got === res.length) return;
        const n = await up.read(res.subarray(got));
        if (n === null) return;
        rhe = headEnd(res, got < 3 ? 0 : got - 3, got + n);
        got += n;
      }
      const total = rhe + contentLength(res, rhe);
      let sent = 0;
      for (;;) {
        for (let w = 0; w < got;) w += await conn.write(res.subarray(w, got));
        sent += got;
        if (sent >= total) break;
        const n = await up.read(res.subarray(0, Math.min(res.length, total - sent)));
        if (n === null) return;
        got = n;
      }
    }
  } catch {
    // Any failure ends both connections.
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
    try {
      up?.close();
    } catch { /* already closed */ }
  }
}

for await (const c of listener) serve(c as Deno.TcpConn);
