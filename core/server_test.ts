import assert from "node:assert/strict";
import { EXIT_CODES, Server } from "./server.ts";
import { httpService } from "./http_service.ts";
import { backgroundService, type Service } from "./service.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A handler whose /slow body sends "part1\n", waits for `release`, then "part2\nend\n". */
function slowApp() {
  const release = Promise.withResolvers<void>();
  const waiting = Promise.withResolvers<void>();
  let cancelled = false;
  const handler = (req: Request): Response | Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (path === "/wait") {
      waiting.resolve();
      // never answers on its own: only the deadline ends it
      return new Promise<Response>(() => {});
    }
    let step = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(c) {
          step++;
          if (step === 1) c.enqueue(encoder.encode("part1\n"));
          else if (step === 2) {
            await release.promise;
            c.enqueue(encoder.encode("part2\n"));
          } else if (step === 3) c.enqueue(encoder.encode("end\n"));
          else c.close();
        },
        cancel() {
          cancelled = true;
        },
      }),
    );
  };
  return { handler, release, waiting, wasCancelled: () => cancelled };
}

/** Reads a whole body; resolves with the text or with `ERROR: …` if the stream broke. */
async function readAll(res: Response): Promise<string> {
  let text = "";
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value);
    }
  } catch (err) {
    return `${text}ERROR: ${err instanceof Error ? err.name : err}`;
  }
}

/** Reads one chunk of a body, keeping the reader for later. */
async function firstChunk(res: Response) {
  const reader = res.body!.getReader();
  const { value } = await reader.read();
  return { text: decoder.decode(value), reader };
}

async function rest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value);
    }
  } catch (err) {
    return `${text}ERROR: ${err instanceof Error ? err.name : err}`;
  }
}

/** Resolves when `signal` aborts, also if it already has. */
function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

function quietServer(conf: ConstructorParameters<typeof Server>[0] = {}) {
  const lines: string[] = [];
  const server = new Server({ handleSignals: false, log: (l) => lines.push(l), ...conf });
  return { server, lines };
}

Deno.test("Server: graceful stop refuses new connections and drains an in-flight streamed response", async () => {
  const app = slowApp();
  const http = httpService(app.handler, { hostname: "127.0.0.1", port: 0 });
  const { server } = quietServer();
  server.add(http);
  const exit = server.run();
  const { port } = await http.addr;
  const res = await fetch(`http://127.0.0.1:${port}/slow`);
  const { text, reader } = await firstChunk(res);
  assert.equal(text, "part1\n");

  server.shutdown("graceful");
  assert.equal(server.phase, "draining");
  await assert.rejects(fetch(`http://127.0.0.1:${port}/fast`)); // listener closed

  app.release.resolve();
  assert.equal(await rest(reader), "part2\nend\n");
  assert.equal(await exit, EXIT_CODES.ok);
  assert.equal(server.phase, "stopped");
});

Deno.test("Server: when the grace period runs out, in-flight requests are cut and the exit code is 143", async () => {
  const app = slowApp();
  const http = httpService(app.handler, { hostname: "127.0.0.1", port: 0 });
  const { server, lines } = quietServer({ conf: { gracePeriodSeconds: 0.05 } });
  server.add(http);
  const exit = server.run();
  const { port } = await http.addr;
  const streaming = await fetch(`http://127.0.0.1:${port}/slow`);
  const { reader } = await firstChunk(streaming);
  const waitingRes = fetch(`http://127.0.0.1:${port}/wait`);
  await app.waiting.promise;

  server.shutdown("graceful");
  // nothing releases the requests: only the grace period can end them
  assert.match(await rest(reader), /^ERROR: /);
  const waiting = await waitingRes;
  assert.equal(waiting.status, 503);
  assert.match(await readAll(waiting), /^ERROR: /);
  assert.equal(await exit, EXIT_CODES.graceExpired);
  assert.ok(app.wasCancelled(), "the cut cancels the source stream");
  assert.ok(lines.some((l) => l.includes("grace period over")));
});

Deno.test("Server: fast stop cuts in-flight work at once (exit 130)", async (t) => {
  await t.step("shutdown('fast')", async () => {
    const app = slowApp();
    const http = httpService(app.handler, { hostname: "127.0.0.1", port: 0 });
    const { server } = quietServer();
    server.add(http);
    const exit = server.run();
    const { port } = await http.addr;
    const { reader } = await firstChunk(await fetch(`http://127.0.0.1:${port}/slow`));
    server.shutdown("fast");
    assert.match(await rest(reader), /^ERROR: /);
    assert.equal(await exit, EXIT_CODES.fastStop);
  });

  await t.step("a second graceful request while draining", async () => {
    const app = slowApp();
    const http = httpService(app.handler, { hostname: "127.0.0.1", port: 0 });
    const { server } = quietServer();
    server.add(http);
    const exit = server.run();
    const { port } = await http.addr;
    const { reader } = await firstChunk(await fetch(`http://127.0.0.1:${port}/slow`));
    server.shutdown("graceful");
    assert.equal(server.phase, "draining");
    server.shutdown("graceful");
    assert.equal(server.phase, "stopping");
    assert.match(await rest(reader), /^ERROR: /);
    assert.equal(await exit, EXIT_CODES.fastStop);
  });
});

Deno.test("Server: a failing service stops the others gracefully and exits 1", async () => {
  let backgroundSignal: AbortSignal | undefined;
  const background = backgroundService("bg", (signal) => {
    backgroundSignal = signal;
    return new Promise((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
  });
  const failing = Promise.withResolvers<void>();
  const broken: Service = { name: "broken", start: () => failing.promise };
  const { server, lines } = quietServer();
  server.add(background).add(broken);
  const exit = server.run();
  assert.equal(backgroundSignal?.aborted, false);
  failing.reject(new Error("boom"));
  assert.equal(await exit, EXIT_CODES.serviceFailed);
  assert.equal(backgroundSignal?.aborted, true);
  assert.ok(lines.some((l) => l === "service broken failed: boom"), lines.join("\n"));
});

Deno.test("Server: background services get signal then deadline", async (t) => {
  await t.step("graceful: signal aborts, deadline stays live when they return", async () => {
    let seen: [boolean, boolean] | undefined;
    const svc = backgroundService("bg", async (signal, deadline) => {
      await untilAborted(signal);
      seen = [signal.aborted, deadline.aborted];
    });
    const { server } = quietServer();
    const exit = server.add(svc).run();
    server.shutdown();
    assert.equal(await exit, 0);
    assert.deepEqual(seen, [true, false]);
  });

  await t.step("fast: both are aborted", async () => {
    let seen: [boolean, boolean] | undefined;
    const svc = backgroundService("bg", async (signal, deadline) => {
      await untilAborted(signal);
      seen = [signal.aborted, deadline.aborted];
    });
    const { server } = quietServer();
    const exit = server.add(svc).run();
    server.shutdown("fast");
    assert.equal(await exit, 130);
    assert.deepEqual(seen, [true, true]);
  });

  await t.step("services that return on their own end the run with 0", async () => {
    const { server, lines } = quietServer();
    const exit = await server.add(backgroundService("once", async () => {})).run();
    assert.equal(exit, 0);
    assert.ok(lines.includes("service once returned"));
  });
});

Deno.test("Server: a service that ignores the deadline is abandoned after graceful_shutdown_timeout (exit 1)", async () => {
  const stuck: Service = { name: "stuck", start: () => new Promise(() => {}) };
  const { server, lines } = quietServer({ conf: { gracefulShutdownTimeoutSeconds: 0.01 } });
  const exit = server.add(stuck).run();
  server.shutdown("fast");
  assert.equal(await exit, EXIT_CODES.serviceFailed);
  assert.ok(lines.some((l) => l.startsWith("gave up waiting for stuck")), lines.join("\n"));
});

Deno.test("Server: lifecycle rules", async (t) => {
  await t.step("run() runs once; add() only before run()", async () => {
    const { server } = quietServer();
    const exit = server.run();
    await assert.rejects(server.run(), /Cannot run: the server is/);
    assert.throws(
      () => server.add(backgroundService("late", async () => {})),
      /Cannot add service late/,
    );
    assert.equal(await exit, 0);
  });

  await t.step("shutdown() before run() does nothing", () => {
    const { server } = quietServer();
    server.shutdown("fast");
    assert.equal(server.phase, "idle");
  });

  await t.step("conf defaults apply to absent keys", () => {
    const { server } = quietServer({ conf: { gracePeriodSeconds: 1 } });
    assert.equal(server.conf.gracePeriodSeconds, 1);
    assert.equal(server.conf.gracefulShutdownTimeoutSeconds, 5);
  });
});

Deno.test("Server: pid_file is written while running and removed after; error_log receives log lines", async () => {
  const dir = await Deno.makeTempDir();
  const pidFile = `${dir}/cirque.pid`;
  const errorLog = `${dir}/error.log`;
  let pidSeen = "";
  const svc = backgroundService("bg", async (signal) => {
    pidSeen = await Deno.readTextFile(pidFile);
    await untilAborted(signal);
  });
  const server = new Server({ handleSignals: false, conf: { pidFile, errorLog } });
  const exit = server.add(svc).run();
  await Promise.resolve();
  server.shutdown();
  assert.equal(await exit, 0);
  assert.equal(pidSeen, `${Deno.pid}\n`);
  await assert.rejects(Deno.stat(pidFile), Deno.errors.NotFound);
  const log = await Deno.readTextFile(errorLog);
  assert.match(log, /cirque\[\d+\]: started 1 service\(s\): bg/);
  assert.match(log, /stopped \(exit code 0\)/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Server: an unwritable pid_file fails the start with exit 1", async () => {
  const { server, lines } = quietServer({ conf: { pidFile: "/nonexistent-dir/x.pid" } });
  let started = false;
  server.add(backgroundService("bg", () => {
    started = true;
    return Promise.resolve();
  }));
  assert.equal(await server.run(), 1);
  assert.equal(started, false);
  assert.ok(lines.some((l) => l.startsWith("cannot write pid_file")));
});

Deno.test("Server: SIGHUP calls the reload hook; reload errors are logged, not fatal", async () => {
  if (Deno.build.os === "windows") return;
  const reloaded = Promise.withResolvers<void>();
  let calls = 0;
  const lines: string[] = [];
  const server = new Server({
    log: (l) => lines.push(l),
    onReload: () => {
      calls++;
      reloaded.resolve();
      if (calls === 1) throw new Error("bad new config");
    },
  });
  const exit = server.add(
    backgroundService(
      "bg",
      (signal) => untilAborted(signal),
    ),
  ).run();
  // signal listeners do not keep the event loop alive; this timer does
  const keepAlive = setInterval(() => {}, 1000);
  Deno.kill(Deno.pid, "SIGHUP");
  await reloaded.promise;
  clearInterval(keepAlive);
  await Promise.resolve();
  assert.equal(server.phase, "running");
  server.shutdown();
  assert.equal(await exit, 0);
  assert.equal(calls, 1);
  assert.ok(lines.includes("reload failed: bad new config"), lines.join("\n"));
});

// ---------------------------------------------------------------------------
// Real signals to a real process: core/testdata/slow_server.ts

const PROGRAM = new URL("./testdata/slow_server.ts", import.meta.url).pathname;

/** A child running slow_server.ts, with its stdout as awaitable lines. */
function spawnServer(args: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", PROGRAM, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  type Waiter = {
    test: (l: string) => boolean;
    resolve: (l: string) => void;
    reject: (e: Error) => void;
  };
  const waiters: Waiter[] = [];
  let ended = false;
  const reading = (async () => {
    let buffered = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += text;
      let i;
      while ((i = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
    ended = true;
    for (const w of waiters.splice(0)) {
      w.reject(new Error(`child output ended:\n${lines.join("\n")}`));
    }
  })();
  const stderr = new Response(child.stderr).text();
  const stdin = child.stdin.getWriter();
  return {
    child,
    lines,
    /** Resolves with the first line (already seen or future) that matches. */
    waitFor(pattern: RegExp): Promise<string> {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (ended) return Promise.reject(new Error(`child output ended:\n${lines.join("\n")}`));
      return new Promise((resolve, reject) =>
        waiters.push({ test: (l) => pattern.test(l), resolve, reject })
      );
    },
    async send(text: string) {
      await stdin.write(encoder.encode(text));
    },
    /** Waits (at most 10 s, then SIGKILL) for the exit and releases every pipe. */
    async finish(): Promise<{ code: number; stderr: string }> {
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const status = await child.status;
      clearTimeout(killer);
      await stdin.close().catch(() => {});
      await reading;
      return { code: status.code, stderr: await stderr };
    },
  };
}

type ServerProcess = ReturnType<typeof spawnServer>;

/** Runs `body` against a fresh child; a failing body kills the child. Resolves with how it exited. */
async function withServer(
  args: string[],
  body: (proc: ServerProcess, port: number) => Promise<void>,
): Promise<{ code: number; log: string }> {
  const proc = spawnServer(args);
  try {
    const port = Number((await proc.waitFor(/^listening \d+$/)).split(" ")[1]);
    await body(proc, port);
  } catch (err) {
    try {
      proc.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await proc.finish();
    throw err;
  }
  const { code, stderr } = await proc.finish();
  return { code, log: `${stderr}${proc.lines.join("\n")}` };
}

Deno.test("slow_server subprocess: SIGTERM drains an in-flight slow request, then exits 0", async () => {
  const { code, log } = await withServer([], async (proc, port) => {
    const res = await fetch(`http://127.0.0.1:${port}/slow`);
    const { text, reader } = await firstChunk(res);
    assert.equal(text, "part1\n");
    proc.child.kill("SIGTERM");
    await proc.waitFor(/^log: SIGTERM received: draining/);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/fast`)); // no longer accepting
    await proc.send("release\n");
    assert.equal(await rest(reader), "part2\nend\n");
  });
  assert.equal(code, EXIT_CODES.ok, log);
});

Deno.test("slow_server subprocess: SIGINT cuts the in-flight request and exits 130", async () => {
  const { code, log } = await withServer([], async (proc, port) => {
    const { reader } = await firstChunk(await fetch(`http://127.0.0.1:${port}/slow`));
    proc.child.kill("SIGINT");
    assert.match(await rest(reader), /^ERROR: /);
  });
  assert.equal(code, EXIT_CODES.fastStop, log);
  assert.match(log, /log: SIGINT received/);
});

Deno.test("slow_server subprocess: grace_period_seconds from -c FILE expires and cuts a too-slow request (exit 143)", async () => {
  const conf = new URL("./testdata/short_grace.yaml", import.meta.url).pathname;
  const { code, log } = await withServer(["-c", conf], async (proc, port) => {
    const { reader } = await firstChunk(await fetch(`http://127.0.0.1:${port}/slow`));
    proc.child.kill("SIGTERM");
    // never released: the request outlives the 0.2 s grace period
    assert.match(await rest(reader), /^ERROR: /);
  });
  assert.equal(code, EXIT_CODES.graceExpired, log);
  assert.match(log, /draining \(grace period 0\.2 s\)/);
  assert.match(log, /grace period over/);
});

Deno.test("slow_server subprocess: -t validates the config file (0 valid, 1 invalid, naming file and line)", async () => {
  const run = async (conf: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", PROGRAM, "-t", "-c", conf],
      stdin: "null",
    }).output();
    return {
      code: out.code,
      stderr: decoder.decode(out.stderr),
      stdout: decoder.decode(out.stdout),
    };
  };
  const good = await run(new URL("./testdata/short_grace.yaml", import.meta.url).pathname);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /short_grace\.yaml: configuration is valid/);
  const bad = await run(new URL("./testdata/bad.yaml", import.meta.url).pathname);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /bad\.yaml:2:23: grace_period_seconds: expected number from 0 to 2147483, found "soon"/,
  );
  assert.match(bad.stderr, /bad\.yaml:3:1: grace_period_secs: unknown key/);
});
