// deno run -A bench/serve_floor.ts <listenPort> <origin host:port> certFile keyFile
/**
 * The floor row of the peer benchmark's HTTP/2 group (`serve-floor`): a
 * `Deno.serve` proxy built directly on Cirque's low-level connector API with
 * no engine, no `Session`, no phases. Per request it reads what
 * `HttpProxy.handle` reads from the `Request` (URL, every header field, the
 * abort signal with a listener, the client address, `info.completed`), sends
 * the head upstream as one string (`Host`, the request's fields and
 * `X-Forwarded-For`) through `H1Connector.acquire`/`writeAll`/`fill`/`release`,
 * and answers with the parsed status and fields (`Connection` and
 * `Keep-Alive` dropped) and a copy of the body.
 *
 * A measuring stick, not a proxy: it handles only bodiless requests and
 * Content-Length responses (the benchmark's `/small`), strips no other
 * hop-by-hop field and answers 502 on any failure. `cirque-serve ÷
 * serve-floor` is what the engine costs on the `Deno.serve` path;
 * `serve-floor ÷ serve-ceiling` what the upstream leg costs.
 *
 * @module
 */

import { H1Connector } from "@cirque/core/h1";
import { findHeadEnd, parseResponseHead } from "@cirque/core/h1-parse";
import { HttpPeer } from "@cirque/core/peer";

const [portArg = "29101", origin = "127.0.0.1:29100", certFile, keyFile] = Deno.args;
const peer = new HttpPeer(origin, { options: { maxIdlePerPeer: 512 } });
const connector = new H1Connector({ maxIdle: 512 });
const TIMEOUT = 30_000;
const enc = new TextEncoder();
const tls = certFile && keyFile
  ? { cert: Deno.readTextFileSync(certFile), key: Deno.readTextFileSync(keyFile) }
  : {};
const done = () => {};

async function handler(req: Request, info: Deno.ServeHandlerInfo<Deno.Addr>): Promise<Response> {
  const url = req.url;
  const path = url.slice(url.indexOf("/", url.indexOf("://") + 3));
  let head = `${req.method} ${path} HTTP/1.1\r\nHost: ${origin}\r\n`;
  for (const [k, v] of req.headers) if (k !== "host") head += `${k}: ${v}\r\n`;
  head += `X-Forwarded-For: ${(info.remoteAddr as Deno.NetAddr).hostname}\r\n\r\n`;
  info.completed.then(done, done);
  const up = await connector.acquire(peer);
  const onAbort = () => up.close();
  const signal = req.signal;
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await up.writeAll(enc.encode(head), TIMEOUT);
    let e: number;
    while ((e = findHeadEnd(up.buf, up.start, up.end)) < 0) {
      if ((await up.fill(TIMEOUT)) === 0) throw new Error("upstream closed");
    }
    const p = parseResponseHead(up.buf, up.start, e);
    up.start = e;
    const length = p.contentLength;
    if (length < 0) throw new Error("not a Content-Length response");
    if (up.buf.length - up.start < length) up.growBuffer();
    while (up.end - up.start < length) {
      if ((await up.fill(TIMEOUT)) === 0) throw new Error("upstream closed");
    }
    const body = up.buf.slice(up.start, up.start + length);
    up.start += length;
    connector.release(peer, up, true);
    // Fields appended, not given as `init.headers` (WebIDL's conversion of
    // pairs costs about twice as much), as `HttpProxy.handle` does.
    const res = new Response(body, { status: p.status, statusText: p.reason });
    for (const f of p.headers) {
      const k = f[0].toLowerCase();
      if (k !== "connection" && k !== "keep-alive") res.headers.append(f[0], f[1]);
    }
    return res;
  } catch {
    up.close();
    return new Response(null, { status: 502 });
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: Number(portArg), onListen: () => {}, ...tls },
  handler,
);
Deno.addSignalListener("SIGTERM", () => {
  console.error(JSON.stringify({ pool: connector.stats, memory: Deno.memoryUsage() }));
  void server.shutdown();
  Deno.exit(0);
});
