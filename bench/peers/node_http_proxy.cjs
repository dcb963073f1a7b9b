// node bench/peers/node_http_proxy.cjs <listenPort> <origin host:port>
// Peer row: node http-proxy with a keep-alive agent.
const http = require("node:http");
const httpProxy = require("http-proxy");
const [port = "29101", origin = "127.0.0.1:29100"] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512 });
const proxy = httpProxy.createProxyServer({ target: `http://${origin}`, agent, xfwd: true });
proxy.on("error", (_e, _req, res) => {
  if (!res.headersSent) res.writeHead(502);
  res.end();
});
http.createServer((req, res) => proxy.web(req, res)).listen(Number(port), "127.0.0.1");
