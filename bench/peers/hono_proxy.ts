// deno run -A bench/peers/hono_proxy.ts <listenPort> <origin host:port>
// Peer row: Hono's proxy helper (`hono/proxy`) on Deno.serve.
import { Hono } from "hono";
import { proxy } from "hono/proxy";
const [portArg = "29101", origin = "127.0.0.1:29100"] = Deno.args;
const app = new Hono();
app.all("*", (c) => {
  const url = c.req.url;
  const path = url.slice(url.indexOf("/", url.indexOf("://") + 3));
  return proxy(`http://${origin}${path}`, {
    ...c.req,
    headers: { ...c.req.header(), "x-forwarded-for": "127.0.0.1" },
  });
});
Deno.serve({ hostname: "127.0.0.1", port: Number(portArg), onListen: () => {} }, app.fetch);
