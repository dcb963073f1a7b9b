import assert from "node:assert/strict";
import { httpService, onCut } from "./http_service.ts";

Deno.test("httpService: addr resolves with the bound port and onListen sees it too", async () => {
  let heard: Deno.NetAddr | undefined;
  const svc = httpService(() => new Response("x"), {
    hostname: "127.0.0.1",
    port: 0,
    onListen: (a) => heard = a,
  });
  assert.equal(svc.name, "http 127.0.0.1:0");
  const stop = new AbortController();
  const running = svc.start(stop.signal, new AbortController().signal);
  const addr = await svc.addr;
  assert.equal(addr.hostname, "127.0.0.1");
  assert.ok(addr.port > 0);
  assert.deepEqual(heard, addr);
  stop.abort();
  await running;
});

Deno.test("httpService: a failed bind rejects start() and addr; a second start() is refused", async () => {
  const first = httpService(() => new Response("x"), { hostname: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  const running = first.start(stop.signal, new AbortController().signal);
  const { port } = await first.addr;
  await assert.rejects(
    first.start(new AbortController().signal, new AbortController().signal),
    /Cannot start http 127.0.0.1:0: it has already been started/,
  );
  const second = httpService(() => new Response("x"), { hostname: "127.0.0.1", port });
  await assert.rejects(
    second.start(new AbortController().signal, new AbortController().signal),
    Deno.errors.AddrInUse,
  );
  await assert.rejects(second.addr, Deno.errors.AddrInUse);
  stop.abort();
  await running;
});

Deno.test("httpService: stopped before it started, it does not bind", async () => {
  const svc = httpService(() => new Response("x"), { hostname: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  stop.abort();
  await svc.start(stop.signal, new AbortController().signal);
  await assert.rejects(svc.addr, /stopped before it started/);
});

Deno.test("httpService: a handler that answers after the cut has its body cancelled", async () => {
  const answer = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  let cancelled = false;
  const svc = httpService(async () => {
    arrived.resolve();
    await answer.promise;
    return new Response(
      new ReadableStream({
        pull() {},
        cancel() {
          cancelled = true;
        },
      }),
    );
  }, { hostname: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  const deadline = new AbortController();
  const running = svc.start(stop.signal, deadline.signal);
  const { port } = await svc.addr;
  const res = fetch(`http://127.0.0.1:${port}/`);
  await arrived.promise;
  stop.abort();
  deadline.abort();
  const cut = await res;
  assert.equal(cut.status, 503);
  await assert.rejects(cut.text());
  await running;
  answer.resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(cancelled);
});

Deno.test("httpService: handler errors go to onError; an explicit content-length and empty bodies pass through", async () => {
  const errors: unknown[] = [];
  const svc = httpService((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/throw") throw new Error("handler bug");
    if (path === "/empty") return new Response(null, { status: 204 });
    return new Response("0123456789", { headers: { "x-kept": "yes", "content-length": "10" } });
  }, {
    hostname: "127.0.0.1",
    port: 0,
    onError: (err) => {
      errors.push(err);
      return new Response("oops", { status: 500 });
    },
  });
  const stop = new AbortController();
  const running = svc.start(stop.signal, new AbortController().signal);
  const { port } = await svc.addr;
  const base = `http://127.0.0.1:${port}`;
  const thrown = await fetch(`${base}/throw`);
  assert.equal(thrown.status, 500);
  assert.equal(await thrown.text(), "oops");
  assert.equal((errors[0] as Error).message, "handler bug");
  const empty = await fetch(`${base}/empty`);
  assert.equal(empty.status, 204);
  assert.equal(await empty.text(), "");
  const body = await fetch(`${base}/`);
  assert.equal(body.headers.get("x-kept"), "yes");
  assert.equal(body.headers.get("content-length"), "10");
  assert.equal(await body.text(), "0123456789");
  stop.abort();
  await running;
});

Deno.test("httpService: inFlight counts running handlers and bodies being sent, and returns to 0", async () => {
  const release = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  const svc = httpService(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/slow") {
      arrived.resolve();
      await release.promise;
    }
    if (path === "/endless") {
      return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
    }
    return new Response("body");
  }, { hostname: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  const running = svc.start(stop.signal, new AbortController().signal);
  const { port } = await svc.addr;
  const base = `http://127.0.0.1:${port}`;
  assert.equal(svc.inFlight, 0);
  const slow = fetch(`${base}/slow`);
  await arrived.promise;
  assert.equal(svc.inFlight, 1);
  release.resolve();
  assert.equal(await (await slow).text(), "body");
  const head = await fetch(base, { method: "HEAD" });
  assert.equal(await head.text(), "");
  // a client that goes away mid-body
  const client = new AbortController();
  const endless = await fetch(`${base}/endless`, { signal: client.signal });
  assert.equal(endless.status, 200);
  client.abort();
  await endless.body?.cancel().catch(() => {});
  for (let i = 0; i < 100 && svc.inFlight > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(svc.inFlight, 0);
  stop.abort();
  await running;
});

Deno.test("httpService: guardBodies false sends responses as made and hands the handler the cut signal", async () => {
  const signals: AbortSignal[] = [];
  const sent = Promise.withResolvers<void>();
  const svc = httpService((req, _info, cut) => {
    signals.push(cut);
    if (new URL(req.url).pathname !== "/endless") return new Response("hello");
    // A streamed body that only the handler's own cut listener ends.
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    cut.addEventListener("abort", () => controller.error(cut.reason), { once: true });
    return new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
          c.enqueue(new TextEncoder().encode("part1\n"));
          sent.resolve();
        },
      }),
    );
  }, { hostname: "127.0.0.1", port: 0, guardBodies: false });
  const stop = new AbortController();
  const deadline = new AbortController();
  const running = svc.start(stop.signal, deadline.signal);
  const { port } = await svc.addr;
  const base = `http://127.0.0.1:${port}`;
  // A byte body keeps its length: no wrapping stream turned it into a chunked one.
  const plain = await fetch(base);
  assert.equal(plain.headers.get("content-length"), "5");
  assert.equal(await plain.text(), "hello");
  const endless = await fetch(`${base}/endless`);
  await sent.promise;
  const reader = endless.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "part1\n");
  assert.equal(svc.inFlight, 0, "bodies are the handler's to end: not counted");
  assert.equal(signals[0]!.aborted, false);
  stop.abort();
  deadline.abort();
  await assert.rejects(async () => {
    while (!(await reader.read()).done) { /* until the cut breaks it */ }
  });
  await running;
  assert.ok(signals.every((s) => s === signals[0] && s.aborted));
  assert.match(String(signals[0]!.reason), /shutdown deadline passed/);
});

Deno.test("onCut: each registration runs once at the abort unless taken off first, in any order", () => {
  const cut = new AbortController();
  const ran: number[] = [];
  const offs = Array.from({ length: 6 }, (_, i) => onCut(cut.signal, () => ran.push(i)));
  // Off from the middle, the ends, twice: only the first call finds it registered.
  assert.deepEqual([offs[2]!(), offs[0]!(), offs[5]!(), offs[2]!()], [true, true, true, false]);
  cut.abort();
  assert.deepEqual(ran.sort(), [1, 3, 4]);
  assert.equal(offs[1]!(), false, "already run");
  // An aborted signal runs the new registration at once.
  onCut(cut.signal, () => ran.push(9));
  assert.deepEqual(ran, [1, 3, 4, 9]);
  // Another signal has a list of its own.
  const other = new AbortController();
  onCut(other.signal, () => ran.push(7));
  other.abort();
  assert.deepEqual(ran, [1, 3, 4, 9, 7]);
});
