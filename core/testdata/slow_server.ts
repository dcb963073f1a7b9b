// A small program built on Server, driven by core/server_test.ts:
//   deno run -A core/testdata/slow_server.ts [-c FILE] [-t]
// It prints "listening PORT" when bound and "in-flight PATH" when a request
// arrives. GET /slow streams "part1\n", then waits for a line "release" on
// stdin before sending "part2\nend\n". Server log lines are printed as
// "log: ...".
import { runCli } from "../cli.ts";
import { httpService } from "../http_service.ts";
import { Server } from "../server.ts";
import { loadServerConf } from "../server_conf.ts";

const encoder = new TextEncoder();
const release = Promise.withResolvers<void>();

async function readStdin(): Promise<void> {
  let buffered = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    if (buffered.includes("release\n")) release.resolve();
  }
}

function handler(req: Request): Response {
  const path = new URL(req.url).pathname;
  console.log(`in-flight ${path}`);
  if (path !== "/slow") return new Response("fast\n");
  let step = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      step++;
      if (step === 1) controller.enqueue(encoder.encode("part1\n"));
      else if (step === 2) {
        await release.promise;
        controller.enqueue(encoder.encode("part2\n"));
      } else if (step === 3) controller.enqueue(encoder.encode("end\n"));
      else controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/plain" } });
}

readStdin();
const code = await runCli(Deno.args, {
  program: "slow_server",
  load: loadServerConf,
  setup(conf) {
    const http = httpService(handler, {
      hostname: "127.0.0.1",
      port: 0,
      onListen: (addr) => console.log(`listening ${addr.port}`),
    });
    return new Server({ conf, log: (line) => console.log(`log: ${line}`) }).add(http);
  },
});
console.log(`exit ${code}`);
Deno.exit(code);
