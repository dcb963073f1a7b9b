import assert from "node:assert/strict";
import { H1Connector } from "@cirque/core/h1";
import { HttpPeer } from "@cirque/core/peer";
import { CacheConfig, CacheLock, ManualClock, MemoryStorage } from "@cirque/cache";
import { rawOrigin, readRequest, writeAll } from "../core/testdata/origins.ts";
import { HttpProxy, type ProxyHttp, serveH1, type Session, sessionCache } from "./mod.ts";

type Handler = (req: Request, n: number) => Response | Promise<Response>;

/** An origin on 127.0.0.1 that counts requests per path. */
function origin(handler: Handler) {
  const counts = new Map<string, number>();
  const seen: Request[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    seen.push(req);
    return handler(req, n);
  });
  return {
    server,
    port: server.addr.port,
    seen,
    count: (path: string) => counts.get(path) ?? 0,
  };
}

interface Setup {
  storage: MemoryStorage;
  lock: CacheLock;
  clock: ManualClock;
  proxyPort: number;
  entered: { n: number };
  phases: string[];
  client: Deno.HttpClient;
  get(path: string, init?: RequestInit): Promise<Response>;
}

type Transport = "fast path" | "Deno.serve";

interface SetupOptions {
  maxObjectSize?: number;
  lock?: CacheLock;
  phases?: Partial<ProxyHttp<null>>;
  /** The downstream transport: `serveH1` (default) or `Deno.serve` + `proxy.handle`. */
  transport?: Transport;
}

async function withCache(
  handler: Handler,
  fn: (s: Setup, o: ReturnType<typeof origin>) => Promise<void>,
  options: SetupOptions = {},
): Promise<void> {
  const o = origin(handler);
  try {
    await withCacheTo(o.port, (s) => fn(s, o), options);
  } finally {
    await o.server.shutdown().catch(() => {});
  }
}

/** A caching proxy in front of the origin on 127.0.0.1:`port`. */
async function withCacheTo(
  port: number,
  fn: (s: Setup) => Promise<void>,
  options: SetupOptions = {},
): Promise<void> {
  const storage = new MemoryStorage({
    maxBytes: 64 << 20,
    maxObjectSize: options.maxObjectSize ?? 16 << 20,
  });
  const clock = new ManualClock(Date.now());
  const lock = options.lock ?? new CacheLock();
  const config = new CacheConfig({ storage, clock, lock });
  const entered = { n: 0 };
  const phases: string[] = [];
  const connector = new H1Connector();
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    requestFilter: () => {
      entered.n++;
    },
    upstreamPeer: () => new HttpPeer(`127.0.0.1:${port}`),
    requestCacheFilter: () => config,
    isPurge: (session) => session.req.method === "PURGE",
    logging: (session) => {
      phases.push(sessionCache(session)?.phase ?? "none");
    },
    ...options.phases,
  }, { connector, errorLog: () => {} });
  let proxyPort: number;
  let stop: () => Promise<void>;
  if (options.transport === "Deno.serve") {
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      proxy.handle,
    );
    proxyPort = server.addr.port;
    stop = () => (ac.abort(), server.finished);
  } else {
    const server = serveH1(proxy, { port: 0 });
    proxyPort = server.addr.port;
    stop = () => (server.close(), server.finished);
  }
  const client = Deno.createHttpClient({});
  const s: Setup = {
    storage,
    lock,
    clock,
    proxyPort,
    entered,
    phases,
    client,
    get: (path, init = {}) => fetch(`http://127.0.0.1:${proxyPort}${path}`, { ...init, client }),
  };
  try {
    await fn(s);
  } finally {
    client.close();
    await stop();
    await connector.close();
  }
}

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => open = r);
  return { p, open };
}

async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  debug?: () => unknown,
): Promise<void> {
  for (let i = 0; i < 500 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(await cond(), `timed out waiting for ${what} ${debug ? JSON.stringify(debug()) : ""}`);
}

async function sha256(b: ArrayBuffer): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", b)))
    .map((x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * A raw origin that answers the first request on any connection with `first`
 * and every later one with an empty 500 (a second fill would show as an
 * error); `requests()` counts them.
 */
function firstOnlyOrigin(first: (conn: Deno.Conn) => Promise<void>) {
  let requests = 0;
  const origin = rawOrigin(async (conn) => {
    const st = { buf: new Uint8Array(1 << 16), len: 0 };
    while ((await readRequest(conn, st)) !== null) {
      if (++requests > 1) {
        await writeAll(conn, "HTTP/1.1 500 Again\r\nContent-Length: 0\r\n\r\n");
        continue;
      }
      await first(conn);
    }
  });
  return Object.assign(origin, { requests: () => requests });
}

Deno.test("HTTP cache through the proxy over real sockets", async (t) => {
  await t.step("100 concurrent misses make one upstream request (cache lock)", async () => {
    const release = gate();
    await withCache(async (_req, n) => {
      await release.p;
      return new Response(`body ${n}`, { headers: { "Cache-Control": "max-age=60" } });
    }, async (s, o) => {
      const all = Array.from({ length: 100 }, () => s.get("/hot").then((r) => r.text()));
      try {
        await until(
          () => s.entered.n === 100 && o.count("/hot") === 1,
          "100 requests in flight",
          () => [s.entered.n, o.count("/hot")],
        );
      } finally {
        release.open();
      }
      const bodies = await Promise.all(all);
      assert.ok(bodies.every((b) => b === "body 1"));
      assert.equal(o.count("/hot"), 1);
    });
  });

  await t.step(
    "stale-while-revalidate answers at once and refreshes once in the background",
    async () => {
      const second = gate();
      await withCache(async (_req, n) => {
        if (n === 2) await second.p;
        return new Response(`v${n}`, {
          // The proxy's clock runs 2 s ahead of the origin's Date after advance(): v2 lives longer.
          headers: { "Cache-Control": `max-age=${n === 1 ? 1 : 100}, stale-while-revalidate=60` },
        });
      }, async (s, o) => {
        assert.equal(await (await s.get("/swr")).text(), "v1");
        s.clock.advance(2000);
        // The refresh is held at the origin: these are answered from the stale entry.
        const stale = await Promise.all(
          Array.from({ length: 5 }, () =>
            s.get("/swr").then(async (r) => ({
              body: await r.text(),
              status: r.headers.get("cache-status"),
            }))),
        );
        assert.ok(stale.every((r) => r.body === "v1"));
        assert.match(stale[0]!.status!, /stale-while-revalidate/);
        await until(() => o.count("/swr") === 2, "the background refresh");
        second.open();
        await until(async () => {
          const hit = await s.storage.lookup(`http://127.0.0.1:${s.proxyPort}/swr`);
          return hit !== null && hit.complete && hit.size === 2 &&
            (await new Response(hit.body()).text()) === "v2";
        }, "the refresh to be stored");
        assert.equal(await (await s.get("/swr")).text(), "v2");
        assert.equal(o.count("/swr"), 2);
      });
    },
  );

  await t.step("stale-if-error serves the stale entry when the origin is dead", async () => {
    await withCache(() =>
      new Response("still here", {
        headers: { "Cache-Control": "max-age=1, stale-if-error=600" },
      }), async (s, o) => {
      assert.equal(await (await s.get("/sie")).text(), "still here");
      await o.server.shutdown();
      s.clock.advance(5000);
      const r = await s.get("/sie");
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "still here");
      assert.match(r.headers.get("cache-status")!, /stale-if-error/);
      const miss = await s.get("/never-cached");
      assert.equal(miss.status, 502);
      await miss.body?.cancel();
    });
  });

  await t.step("a 304 revalidation refreshes the stored headers (RFC 9111 §3.2)", async () => {
    await withCache((req, n) => {
      if (req.headers.get("if-none-match") === '"e1"') {
        return new Response(null, {
          status: 304,
          headers: { "ETag": '"e1"', "Cache-Control": "max-age=100", "X-Version": String(n) },
        });
      }
      return new Response("payload", {
        headers: { "ETag": '"e1"', "Cache-Control": "max-age=1", "X-Version": String(n) },
      });
    }, async (s, o) => {
      await (await s.get("/reval")).text();
      s.clock.advance(2000);
      const r = await s.get("/reval");
      assert.equal(await r.text(), "payload");
      assert.equal(r.headers.get("x-version"), "2");
      assert.match(r.headers.get("cache-status")!, /fwd=stale; fwd-status=304/);
      const h = await s.get("/reval");
      assert.equal(h.headers.get("x-version"), "2");
      await h.text();
      assert.equal(o.count("/reval"), 2);
      assert.equal(o.seen[1]!.headers.get("if-none-match"), '"e1"');
    });
  });

  await t.step("Vary variants are kept apart", async () => {
    await withCache((req) =>
      new Response(`lang=${req.headers.get("accept-language")}`, {
        headers: { "Cache-Control": "max-age=60", "Vary": "Accept-Language" },
      }), async (s, o) => {
      for (const lang of ["en", "fr", "en", "fr", "en"]) {
        const r = await s.get("/v", { headers: { "Accept-Language": lang } });
        assert.equal(await r.text(), `lang=${lang}`);
      }
      assert.equal(o.count("/v"), 2);
    });
  });

  await t.step("unsafe methods and PURGE invalidate", async () => {
    await withCache(
      (req, n) =>
        req.method === "GET"
          ? new Response(`get ${n}`, { headers: { "Cache-Control": "max-age=60" } })
          : new Response("done", { status: 200 }),
      async (s, o) => {
        assert.equal(await (await s.get("/item")).text(), "get 1");
        assert.equal(await (await s.get("/item")).text(), "get 1");
        await (await s.get("/item", { method: "POST", body: "x" })).text();
        assert.equal(await (await s.get("/item")).text(), "get 3");
        const purge = await s.get("/item", { method: "PURGE" });
        assert.equal(purge.status, 200);
        await purge.body?.cancel();
        const again = await s.get("/item", { method: "PURGE" });
        assert.equal(again.status, 404);
        await again.body?.cancel();
        assert.equal(await (await s.get("/item")).text(), "get 4");
        assert.equal(o.count("/item"), 4);
      },
    );
  });

  await t.step("a 10 MB response streams to 20 concurrent readers while written", async () => {
    const size = 10 * 1024 * 1024;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) crypto.getRandomValues(data.subarray(i, i + 4096));
    const expected = await sha256(data.buffer);
    const rest = gate();
    await withCache((_req) => {
      let off = 0;
      const chunk = 256 * 1024;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(c) {
            if (off === chunk) await rest.p; // hold the body until all readers are in
            if (off >= size) return c.close();
            c.enqueue(data.slice(off, off + chunk));
            off += chunk;
          },
        }),
        { headers: { "Cache-Control": "max-age=60", "Content-Length": String(size) } },
      );
    }, async (s, o) => {
      const all = Array.from(
        { length: 20 },
        () => s.get("/big").then(async (r) => sha256(await r.arrayBuffer())),
      );
      await until(() => s.entered.n === 20, "20 readers");
      await new Promise((r) => setTimeout(r, 50));
      rest.open();
      const sums = await Promise.all(all);
      assert.ok(sums.every((x) => x === expected));
      assert.equal(o.count("/big"), 1);
      assert.equal(await sha256(await (await s.get("/big")).arrayBuffer()), expected);
      assert.equal(o.count("/big"), 1);
    });
  });

  await t.step("an over-size response passes through without being stored", async () => {
    const size = 4 * 1024 * 1024;
    await withCache((req) => {
      const chunked = new URL(req.url).pathname === "/chunked";
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= size) return c.close();
            c.enqueue(new Uint8Array(64 * 1024).fill(7));
            sent += 64 * 1024;
          },
        }),
        {
          headers: chunked
            ? { "Cache-Control": "max-age=60" }
            : { "Cache-Control": "max-age=60", "Content-Length": String(size) },
        },
      );
    }, async (s, o) => {
      for (const path of ["/sized", "/chunked"]) {
        for (let i = 0; i < 2; i++) {
          const r = await s.get(path);
          assert.equal((await r.arrayBuffer()).byteLength, size);
        }
        assert.equal(o.count(path), 2, path);
      }
      assert.equal(s.storage.weight, 0);
      assert.equal(s.storage.size, 0);
    }, { maxObjectSize: 1024 * 1024 });
  });

  await t.step("HEAD and ranges are served from a cached GET", async () => {
    await withCache(() =>
      new Response("0123456789", {
        headers: { "Cache-Control": "max-age=60", "ETag": '"r"' },
      }), async (s, o) => {
      assert.equal(await (await s.get("/r")).text(), "0123456789");
      const head = await s.get("/r", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), "10");
      await head.body?.cancel();
      const part = await s.get("/r", { headers: { Range: "bytes=3-5" } });
      assert.equal(part.status, 206);
      assert.equal(await part.text(), "345");
      const nm = await s.get("/r", { headers: { "If-None-Match": '"r"' } });
      assert.equal(nm.status, 304);
      await nm.body?.cancel();
      assert.equal(o.count("/r"), 1);
    });
  });
});

/** A cache lock that counts the requests that had to wait for a writer. */
class CountingLock extends CacheLock {
  readers = 0;
  override lock(key: string): ReturnType<CacheLock["lock"]> {
    const l = super.lock(key);
    if (l.kind === "read") this.readers++;
    return l;
  }
}

/** `p`, or a failure naming `what` after 10 s. */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads from `conn` until a whole response head is in; returns it (the body bytes stay unread). */
async function readResponseHead(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("connection closed before the response head");
    text += new TextDecoder("latin1").decode(buf.subarray(0, n));
  }
  return text.slice(0, text.indexOf("\r\n\r\n"));
}

Deno.test("a client that goes away while its request writes a cache entry", async (t) => {
  // The first part is far larger than the socket buffers: the proxy is still
  // writing it when the client closes with unread bytes (a reset), so it sees
  // the client go away before the origin sends the second part.
  const size = 9 << 20;
  const part1 = 8 << 20;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const expected = await sha256(data.buffer);
  const request = (port: number, path: string) =>
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  const headOf = (cacheControl: string, length = size) =>
    `HTTP/1.1 200 OK\r\nCache-Control: ${cacheControl}\r\nContent-Length: ${length}\r\n\r\n`;

  await t.step(
    "a cacheable response is still read whole into the cache: stored, and the lock's waiter gets all of it",
    async () => {
      const head = gate(), rest = gate();
      await using o = firstOnlyOrigin(async (conn) => {
        await head.p;
        await writeAll(conn, headOf("max-age=60"));
        await writeAll(conn, data.subarray(0, part1));
        await rest.p;
        await writeAll(conn, data.subarray(part1));
      });
      const lock = new CountingLock();
      const logged: (string | null)[] = [];
      try {
        await withCacheTo(o.port, async (s) => {
          const a = await Deno.connect({ hostname: "127.0.0.1", port: s.proxyPort });
          let waiter: Promise<Response>;
          try {
            await a.write(request(s.proxyPort, "/fill"));
            await until(() => o.requests() === 1, "the writer's request at the origin");
            waiter = s.get("/fill");
            await until(() => lock.readers === 1, "the waiter to join the lock");
            head.open();
            assert.match(await within(readResponseHead(a), "the response head"), /^HTTP\/1\.1 200/);
          } finally {
            a.close();
          }
          await until(() => logged.length > 0, "the proxy to see the client go away");
          // Only the writer is done: the waiter is still streaming the entry.
          assert.deepEqual(logged, ["CONNECTION_CLOSED"]);
          rest.open();
          const w = await within(waiter, "the waiter's head");
          assert.match(w.headers.get("cache-status")!, /collapsed/);
          assert.equal(await within(w.arrayBuffer().then(sha256), "the waiter's body"), expected);
          const next = await within(s.get("/fill"), "the next request");
          assert.match(next.headers.get("cache-status")!, /hit/);
          assert.equal(await within(next.arrayBuffer().then(sha256), "the hit's body"), expected);
          assert.equal(o.requests(), 1);
        }, { lock, phases: { logging: (_s, e) => void logged.push(e?.code ?? null) } });
      } finally {
        head.open();
        rest.open();
      }
    },
  );

  await t.step("an uncacheable response: the upstream connection is closed", async () => {
    let upstreamClosed = false;
    await using o = rawOrigin(async (conn) => {
      if ((await readRequest(conn)) === null) return;
      // The rest is never sent: only the proxy can end this exchange.
      await writeAll(conn, headOf("private")).catch(() => {});
      await writeAll(conn, data.subarray(0, part1)).catch(() => {});
      const n = await conn.read(new Uint8Array(1)).catch(() => null);
      upstreamClosed = n === null;
    });
    const logged: (string | null)[] = [];
    await withCacheTo(o.port, async (s) => {
      const a = await Deno.connect({ hostname: "127.0.0.1", port: s.proxyPort });
      try {
        await a.write(request(s.proxyPort, "/private"));
        assert.match(await within(readResponseHead(a), "the response head"), /^HTTP\/1\.1 200/);
      } finally {
        a.close();
      }
      await until(() => upstreamClosed, "the proxy to close the upstream connection");
      await until(() => logged.length > 0, "the request to be logged");
      assert.deepEqual(logged, ["CONNECTION_CLOSED"]);
    }, { phases: { logging: (_s, e) => void logged.push(e?.code ?? null) } });
  });

  await t.step(
    "a writer whose upstream fails mid-body: the waiter streaming the entry gets an error, not a short 200",
    async () => {
      const head = gate(), fail = gate();
      let requests = 0;
      await using o = rawOrigin(async (conn) => {
        if ((await readRequest(conn)) === null) return;
        requests++;
        await head.p;
        await writeAll(conn, headOf("max-age=60"));
        await writeAll(conn, data.subarray(0, 65536));
        await fail.p; // then the connection closes before the rest
      });
      const lock = new CountingLock();
      try {
        await withCacheTo(o.port, async (s) => {
          const writer = s.get("/broken");
          await until(() => requests === 1, "the writer's request at the origin");
          const waiter = s.get("/broken");
          await until(() => lock.readers === 1, "the waiter to join the lock");
          head.open();
          const [w1, w2] = await within(Promise.all([writer, waiter]), "both heads");
          assert.equal(w1.status, 200);
          assert.equal(w2.status, 200);
          assert.match(w2.headers.get("cache-status")!, /collapsed/);
          fail.open();
          await assert.rejects(within(w1.arrayBuffer(), "the writer's body"));
          await assert.rejects(within(w2.arrayBuffer(), "the waiter's body"));
          assert.equal(s.storage.size, 0);
        }, { lock });
      } finally {
        head.open();
        fail.open();
      }
    },
  );
});

/**
 * Sends a request to the proxy from a client of its own; `leave()` makes that
 * client go away before any response byte, then waits until the proxy's
 * session for it (`session()`) saw that.
 */
function startRequest(s: Setup, path: string, init: RequestInit = {}) {
  const ac = new AbortController();
  const client = Deno.createHttpClient({});
  const pending = fetch(`http://127.0.0.1:${s.proxyPort}${path}`, {
    ...init,
    client,
    signal: ac.signal,
  }).then(() => "answered", () => null).finally(() => client.close());
  return {
    async leave(session: () => Session | undefined): Promise<void> {
      ac.abort();
      assert.equal(await pending, null);
      await until(() => session()?.aborted === true, "the proxy to see the client go away");
    },
  };
}

/** A logging phase that records the error code and the Cache-Status of each request. */
/**
 * Phases that keep every session (`requestFilter`) and log each request's
 * error code and Cache-Status (`logging`).
 */
function recorder() {
  const sessions: Session[] = [];
  const logged: [string | null, string | null][] = [];
  const phases: Partial<ProxyHttp<null>> = {
    requestFilter: (session) => void sessions.push(session),
    logging: (session, e) =>
      void logged.push([e?.code ?? null, sessionCache(session)?.cacheStatus() ?? null]),
  };
  return { sessions, logged, phases };
}

for (const transport of ["fast path", "Deno.serve"] as const) {
  Deno.test(`${transport}: a client that goes away before the response head of its request`, async (t) => {
    await t.step(
      "a cache fill holding the lock goes on: one origin request, the waiter gets the entry, the next client a hit",
      async () => {
        const head = gate();
        const body = "x".repeat(100_000);
        await using o = firstOnlyOrigin(async (conn) => {
          await head.p;
          await writeAll(
            conn,
            `HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          );
        });
        const lock = new CountingLock();
        const { sessions, logged, phases: recording } = recorder();
        try {
          await withCacheTo(o.port, async (s) => {
            const writer = startRequest(s, "/early");
            await until(() => o.requests() === 1, "the writer's request at the origin");
            const waiter = s.get("/early");
            await until(() => lock.readers === 1, "the waiter to join the lock");
            await writer.leave(() => sessions[0]);
            head.open();
            const w = await within(waiter, "the waiter's head");
            assert.equal(w.status, 200);
            assert.match(w.headers.get("cache-status")!, /collapsed/);
            assert.equal(await within(w.text(), "the waiter's body"), body);
            await until(() => logged.length === 2, "both requests logged", () => logged);
            // The writer stored the response its client no longer wanted.
            assert.deepEqual(logged.find(([e]) => e !== null), [
              "CONNECTION_CLOSED",
              "cirque; fwd=uri-miss; fwd-status=200; stored",
            ]);
            assert.match(logged.find(([e]) => e === null)![1]!, /hit.*collapsed/);
            const next = await within(s.get("/early"), "the next request");
            assert.match(next.headers.get("cache-status")!, /hit/);
            assert.equal(await next.text(), body);
            assert.equal(o.requests(), 1);
            assert.equal(s.lock.size, 0);
          }, {
            lock,
            transport,
            phases: recording,
          });
        } finally {
          head.open();
        }
      },
    );

    await t.step(
      "a fill whose response is not storable: not stored, its upstream connection closed with the body unread, the lock released",
      async () => {
        const head = gate();
        let requests = 0;
        let upstreamClosed = false;
        await using o = rawOrigin(async (conn) => {
          const st = { buf: new Uint8Array(1 << 16), len: 0 };
          if ((await readRequest(conn, st)) === null) return;
          if (++requests > 1) {
            await writeAll(
              conn,
              "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 2\r\n\r\nok",
            );
            return;
          }
          await head.p;
          // 1 GiB announced, 1 MiB sent: only the proxy can end this exchange.
          await writeAll(
            conn,
            `HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: ${1 << 30}\r\n\r\n`,
          )
            .catch(() => {});
          await writeAll(conn, new Uint8Array(1 << 20)).catch(() => {});
          const n = await conn.read(new Uint8Array(1)).catch(() => null);
          upstreamClosed = n === null;
        });
        const { sessions, logged, phases: recording } = recorder();
        try {
          await withCacheTo(o.port, async (s) => {
            const client = startRequest(s, "/nostore");
            await until(() => requests === 1, "the request at the origin");
            await client.leave(() => sessions[0]);
            head.open();
            await until(() => upstreamClosed, "the proxy to close the upstream connection");
            await until(() => logged.length === 1, "the request logged");
            // The response head did reach the cache (not aborted before it), which did not store it.
            assert.deepEqual(logged, [[
              "CONNECTION_CLOSED",
              "cirque; fwd=uri-miss; fwd-status=200",
            ]]);
            assert.equal(sessionCache(sessions[0]!)?.noCacheReason, "no-store");
            assert.equal(s.storage.size, 0);
            assert.equal(s.lock.size, 0);
            const next = await within(s.get("/nostore"), "the next request");
            assert.equal(await next.text(), "ok");
            assert.equal(requests, 2);
          }, {
            transport,
            phases: recording,
          });
        } finally {
          head.open();
        }
      },
    );

    const noFill: [string, RequestInit, Partial<ProxyHttp<null>>][] = [
      ["a request the cache bypasses", {}, { requestCacheFilter: () => null }],
      ["a POST (a method the cache does not store)", { method: "POST", body: "x" }, {}],
      ["a miss without a cache lock", {}, {
        requestCacheFilter: () => new CacheConfig({ storage: new MemoryStorage() }),
      }],
    ];
    for (const [what, init, phases] of noFill) {
      await t.step(`${what}: its upstream request is aborted at once`, async () => {
        let arrived = 0;
        let aborted = 0;
        await using o = rawOrigin(async (conn) => {
          if ((await readRequest(conn)) === null) return;
          arrived++;
          // No answer: only the proxy closing the connection ends the exchange.
          if ((await conn.read(new Uint8Array(1)).catch(() => null)) === null) aborted++;
        });
        const { sessions, logged, phases: recording } = recorder();
        await withCacheTo(o.port, async (s) => {
          const client = startRequest(s, "/hold", init);
          await until(() => arrived === 1, "the request at the origin");
          await client.leave(() => sessions[0]);
          await until(() => aborted === 1, "the proxy to abort the upstream request");
          await until(() => logged.length === 1, "the request logged");
          assert.equal(logged[0]![0], "CONNECTION_CLOSED");
        }, {
          transport,
          phases: { ...recording, ...phases },
        });
      });
    }
  });
}

/** Sends a WebSocket upgrade over a raw connection; resolves the status line. */
async function upgrade(port: number): Promise<string> {
  using c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(
    new TextEncoder().encode(
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ),
  );
  const buf = new Uint8Array(4096);
  const n = await c.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0]!;
}

Deno.test("an Upgrade request bypasses the cache: no lookup, no lock", async () => {
  await withCache((req) => {
    if (req.headers.get("upgrade") !== "websocket") return new Response("plain");
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onerror = () => {};
    return response;
  }, async (s, o) => {
    for (let i = 0; i < 2; i++) {
      assert.equal(await upgrade(s.proxyPort), "HTTP/1.1 101 Switching Protocols");
      // The 101 tunnel never passes through the cache: nothing may be left locked.
      assert.equal(s.lock.size, 0);
    }
    assert.equal(o.count("/ws"), 2);
    await until(() => s.phases.length === 2, "both tunnels logged", () => s.phases);
    assert.deepEqual(s.phases, ["none", "none"]);
  });
});

Deno.test("a proxy without cache phases is untouched by the cache", async () => {
  const o = origin(() => new Response("x", { headers: { "Cache-Control": "max-age=60" } }));
  const connector = new H1Connector();
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer(`127.0.0.1:${o.port}`),
  }, { connector });
  for (let i = 0; i < 2; i++) {
    const r = await proxy.handle(new Request("http://a.test/p"));
    assert.equal(r.headers.get("cache-status"), null);
    await r.text();
  }
  assert.equal(o.count("/p"), 2);
  await connector.close();
  await o.server.shutdown();
});
