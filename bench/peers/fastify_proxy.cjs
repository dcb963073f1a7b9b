// node bench/peers/fastify_proxy.cjs <listenPort> <origin host:port>
// Peer row: fastify + @fastify/http-proxy (undici upstream, keep-alive pool).
const fastify = require("fastify")({ logger: false });
const [port = "29101", origin = "127.0.0.1:29100"] = process.argv.slice(2);
fastify.register(require("@fastify/http-proxy"), {
  upstream: `http://${origin}`,
  undici: { connections: 512, pipelining: 1, keepAliveTimeout: 60_000 },
});
fastify.listen({ port: Number(port), host: "127.0.0.1" }).catch((e) => {
  console.error(e);
  process.exit(1);
});
