// deno run -A main.ts --demo
/**
 * The ready-made Cirque proxy. Until the proxy engine lands (see the issue
 * tracker) this is a minimal pass-through proxy in front of a built-in demo
 * origin, so that `deno task start` shows something working.
 *
 * @module
 */

const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function strip(h: Headers): Headers {
  const out = new Headers(h);
  for (const t of (h.get("connection") ?? "").split(",")) out.delete(t.trim());
  for (const k of HOP) out.delete(k);
  return out;
}

if (import.meta.main) {
  const port = Number(Deno.env.get("PORT") ?? 8080);
  const origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => Response.json({ origin: "demo", path: new URL(req.url).pathname }),
  );
  const upstream = `http://127.0.0.1:${origin.addr.port}`;
  const client = Deno.createHttpClient({ allowHost: true });
  Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: (a) => console.log(`cirque: proxying http://${a.hostname}:${a.port}/ -> ${upstream}`),
  }, async (req) => {
    const u = new URL(req.url);
    const headers = strip(req.headers);
    headers.set("accept-encoding", "identity");
    const r = await fetch(upstream + u.pathname + u.search, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
      client,
    });
    return new Response(r.body, { status: r.status, headers: strip(r.headers) });
  });
}
