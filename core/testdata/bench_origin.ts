// Origin for core/h1_connector_bench.ts, run in its own process so the bench
// measures only the client: `deno run -A core/testdata/bench_origin.ts`.
// Serves 1 KiB at every path and prints its port on the first line of stdout.
const body = new Uint8Array(1024).fill(120);
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(port) },
  () => new Response(body, { headers: { "content-type": "application/octet-stream" } }),
);
await server.finished;
