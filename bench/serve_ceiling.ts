// deno run -A bench/serve_ceiling.ts <listenPort> <origin host:port> [certFile keyFile]
/**
 * The ceiling row of the peer benchmark's HTTP/2 group (`serve-ceiling`):
 * what any proxy built on `Deno.serve` pays before it does any upstream
 * work. Per request it reads what `HttpProxy.handle` reads from the
 * `Request` (URL, every header field, the abort signal with a listener added
 * and removed, the client address, `info.completed`) and answers with the
 * origin's own `/small` response, fetched once at start-up: its status, its
 * response fields (hop-by-hop fields dropped) and a fresh copy of its body.
 * No upstream request is made.
 *
 * A measuring stick, not a proxy: every path gets the same answer.
 * `cirque-serve ÷ serve-ceiling` is what Cirque's upstream leg and engine
 * cost on the `Deno.serve` path; `serve-ceiling ÷ deno-fetch` is the most
 * any `Deno.serve`-based proxy could reach against the fetch pass-through.
 *
 * @module
 */

const [portArg = "29101", origin = "127.0.0.1:29100", certFile, keyFile] = Deno.args;
const HOP = new Set(["connection", "keep-alive", "transfer-encoding"]);
const res = await fetch(`http://${origin}/small`);
const body = new Uint8Array(await res.arrayBuffer());
const status = res.status;
const statusText = res.statusText;
// The origin's field names as it sent them are not visible through fetch; the
// values and order are. Title case, as nginx writes them.
const headers: [string, string][] = [];
for (const [k, v] of res.headers) {
  if (!HOP.has(k)) headers.push([k.replace(/(^|-)[a-z]/g, (c) => c.toUpperCase()), v]);
}
const tls = certFile && keyFile
  ? { cert: Deno.readTextFileSync(certFile), key: Deno.readTextFileSync(keyFile) }
  : {};
const onAbort = () => {};
const done = () => {};
let seen = 0;
const server = Deno.serve(
  { hostname: "127.0.0.1", port: Number(portArg), onListen: () => {}, ...tls },
  (req, info) => {
    const url = req.url;
    const path = url.slice(url.indexOf("/", url.indexOf("://") + 3));
    let fields = 0;
    for (const _ of req.headers) fields++;
    const signal = req.signal;
    signal.addEventListener("abort", onAbort, { once: true });
    signal.removeEventListener("abort", onAbort);
    const peer = (info.remoteAddr as Deno.NetAddr).hostname;
    info.completed.then(done, done);
    // Keeps the reads above from being optimised away.
    seen += path.length + fields + peer.length;
    // Fields appended, not given as `init.headers` (WebIDL's conversion of
    // pairs costs about twice as much), as `HttpProxy.handle` does.
    const res = new Response(body.slice(), { status, statusText });
    for (const f of headers) res.headers.append(f[0], f[1]);
    return res;
  },
);
Deno.addSignalListener("SIGTERM", () => {
  console.error(JSON.stringify({ seen, memory: Deno.memoryUsage() }));
  void server.shutdown();
  Deno.exit(0);
});
