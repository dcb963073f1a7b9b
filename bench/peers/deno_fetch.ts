// deno run -A bench/peers/deno_fetch.ts <listenPort> <origin host:port> [certFile keyFile]
// Peer row: Deno.serve + fetch pass-through (streaming both ways, hop-by-hop
// fields stripped both ways, X-Forwarded-For, no decompression, no redirects,
// pooled keep-alive HTTP/1.1 upstream client).
const [portArg = "29101", origin = "127.0.0.1:29100", certFile, keyFile] = Deno.args;
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]);
function filter(h: Headers): [string, string][] {
  const extra = (h.get("connection") ?? "").toLowerCase().split(",").map((s) => s.trim());
  const out: [string, string][] = [];
  for (const [k, v] of h) if (!HOP.has(k) && !extra.includes(k)) out.push([k, v]);
  return out;
}
const client = Deno.createHttpClient({ poolMaxIdlePerHost: 512, http2: false, allowHost: true });
const base = `http://${origin}`;
const tls = certFile && keyFile
  ? { cert: Deno.readTextFileSync(certFile), key: Deno.readTextFileSync(keyFile) }
  : {};
Deno.serve(
  { hostname: "127.0.0.1", port: Number(portArg), onListen: () => {}, ...tls },
  async (req, info) => {
    const url = req.url;
    const path = url.slice(url.indexOf("/", url.indexOf("://") + 3));
    const headers = filter(req.headers).filter(([k]) => k !== "accept-encoding");
    headers.push(["accept-encoding", "identity"]);
    headers.push(["x-forwarded-for", (info.remoteAddr as Deno.NetAddr).hostname]);
    const hasBody = req.body !== null && req.method !== "GET" && req.method !== "HEAD";
    try {
      const r = await fetch(base + path, {
        method: req.method,
        headers,
        body: hasBody ? req.body : null,
        redirect: "manual",
        client,
      });
      return new Response(r.body, { status: r.status, headers: filter(r.headers) });
    } catch (e) {
      return new Response(`bad gateway: ${(e as Error).message}\n`, { status: 502 });
    }
  },
);
