import assert from "node:assert/strict";
import type { HeaderPairs } from "@cirque/core/connector";
import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
import { CacheLock } from "./cache_lock.ts";
import { ManualClock } from "./clock.ts";
import { formatHttpDate } from "./http_date.ts";
import { CacheMeta } from "./cache_meta.ts";
import { CacheConfig, type CacheHooks, HttpCache } from "./http_cache.ts";
import { MemoryStorage } from "./memory_storage.ts";

const T0 = Date.UTC(2026, 0, 1);

function setup(lock = false) {
  const clock = new ManualClock(T0);
  const config = new CacheConfig({
    storage: new MemoryStorage(),
    clock,
    lock: lock ? new CacheLock({ clock }) : null,
  });
  return { clock, config };
}

function get(path = "/", headers: HeaderPairs = [], method = "GET") {
  return new RequestHeader(method, path, [["Host", "h"], ...headers]);
}

async function text(b: ReadableStream<Uint8Array> | null): Promise<string> {
  return b === null ? "" : await new Response(b).text();
}

/** Runs one request through the cache; `origin` answers misses. */
async function run(
  config: CacheConfig,
  req: RequestHeader,
  origin: (up: RequestHeader) => { status: number; headers: HeaderPairs; body?: string } | Error,
  hooks: CacheHooks = {},
) {
  const c = new HttpCache(config, req, undefined, hooks);
  const l = await c.lookup();
  let upstream: RequestHeader | null = null;
  let out: { head: ResponseHeader; body: ReadableStream<Uint8Array> | null };
  if (l.kind === "serve") out = l;
  else {
    upstream = req.clone();
    c.upstreamRequest(upstream);
    const o = origin(upstream);
    if (o instanceof Error) {
      const s = c.upstreamError(o);
      if (s === null) throw o;
      out = s;
    } else {
      out = await c.upstreamResponse(
        new ResponseHeader(o.status, o.headers),
        o.body === undefined ? null : new Response(o.body).body,
      );
    }
  }
  return { cache: c, upstream, head: out.head, text: await text(out.body) };
}

const ok = (cc: string, body = "v1", extra: HeaderPairs = []) => () => ({
  status: 200,
  headers: [["Cache-Control", cc], ["ETag", '"v1"'], ...extra] as HeaderPairs,
  body,
});
const never = () => {
  throw new Error("origin must not be called");
};

Deno.test("HttpCache request flow (RFC 9111)", async (t) => {
  await t.step(
    "§4.2: fresh responses are served with Age; Cache-Status says hit (RFC 9211)",
    async () => {
      const { clock, config } = setup();
      const a = await run(config, get(), ok("max-age=60"));
      assert.equal(a.cache.phase, "miss");
      assert.match(
        a.head.headers.get("cache-status")!,
        /^cirque; fwd=uri-miss; fwd-status=200; stored$/,
      );
      clock.advance(10_000);
      const b = await run(config, get(), never);
      assert.equal(b.cache.phase, "hit");
      assert.equal(b.text, "v1");
      assert.equal(b.head.headers.get("age"), "10");
      assert.equal(b.head.headers.get("cache-status"), "cirque; hit; ttl=50");
    },
  );
  await t.step(
    "§4.3.1: stale entries are revalidated with validators; §4.3.4 304 refreshes",
    async () => {
      const { clock, config } = setup();
      await run(config, get(), ok("max-age=1", "v1", [["X-Meta", "old"], ["Vary", "X-Nothing"]]));
      clock.advance(2000);
      const r = await run(config, get(), (up) => {
        assert.equal(up.headers.get("if-none-match"), '"v1"');
        return {
          status: 304,
          headers: [["Cache-Control", "max-age=100"], ["X-Meta", "new"], ["ETag", '"v1"'], [
            "Vary",
            "X-Other",
          ]],
        };
      });
      assert.equal(r.cache.phase, "revalidated");
      assert.equal(r.head.status, 200);
      assert.equal(r.text, "v1");
      assert.equal(r.head.headers.get("x-meta"), "new");
      assert.equal(r.head.headers.get("vary"), "X-Nothing"); // §3.2 (Vary kept from the stored response)
      clock.advance(50_000);
      const h = await run(config, get(), never);
      assert.equal(h.cache.phase, "hit");
      assert.equal(h.head.headers.get("x-meta"), "new");
    },
  );
  await t.step("§4.3.4: a 304 restarts the entry's age (stored Age dropped)", async () => {
    const { clock, config } = setup();
    // A 200 that spent 3000 s in caches upstream; a 304 with Date and one without.
    await run(
      config,
      get("/a"),
      ok("max-age=3600", "v1", [["Age", "3000"], ["Date", formatHttpDate(T0)]]),
    );
    await run(config, get("/b"), ok("max-age=600", "v1", [["Date", formatHttpDate(T0)]]));
    clock.advance(700_000);
    const a = await run(config, get("/a"), () => ({
      status: 304,
      headers: [["ETag", '"v1"'], ["Date", formatHttpDate(clock.now())]],
    }));
    assert.equal(a.cache.phase, "revalidated");
    assert.equal(a.head.headers.get("age"), "0");
    const b = await run(config, get("/b"), () => ({ status: 304, headers: [["ETag", '"v1"']] }));
    assert.equal(b.cache.phase, "revalidated");
    assert.equal(b.head.headers.get("age"), "0");
    assert.equal(b.head.headers.get("date"), formatHttpDate(clock.now()));
    clock.advance(1000);
    const ha = await run(config, get("/a"), never);
    assert.equal(ha.cache.phase, "hit");
    assert.equal(ha.head.headers.get("age"), "1");
    const hb = await run(config, get("/b"), never);
    assert.equal(hb.cache.phase, "hit");
    assert.equal(hb.head.headers.get("cache-status"), "cirque; hit; ttl=599");
  });
  await t.step("§4.3.3: a 200 on revalidation replaces the entry", async () => {
    const { clock, config } = setup();
    await run(config, get(), ok("max-age=1"));
    clock.advance(2000);
    const r = await run(config, get(), ok("max-age=100", "v2"));
    assert.equal(r.cache.phase, "expired");
    assert.equal(r.text, "v2");
    assert.equal((await run(config, get(), never)).text, "v2");
  });
  await t.step(
    "RFC 5861 §3: stale-while-revalidate serves stale and asks for a background refresh",
    async () => {
      const { clock, config } = setup(true);
      await run(config, get(), ok("max-age=1, stale-while-revalidate=60"));
      clock.advance(5000);
      const c = new HttpCache(config, get());
      const l = await c.lookup();
      assert.equal(l.kind, "serve");
      assert.equal(c.phase, "stale-updating");
      assert.equal(c.needsBackgroundRevalidation, true);
      // A second request during the refresh is served stale too, without another refresh.
      const c2 = new HttpCache(config, get());
      assert.equal((await c2.lookup()).kind, "serve");
      assert.equal(c2.needsBackgroundRevalidation, false);
      const bg = HttpCache.revalidator(config, get(), c.key, {}, c);
      const up = get();
      bg.upstreamRequest(up);
      assert.equal(up.headers.get("if-none-match"), '"v1"');
      await bg.upstreamResponse(new ResponseHeader(304, [["Cache-Control", "max-age=100"]]), null);
      assert.equal(bg.phase, "revalidated");
      assert.equal((await run(config, get(), never)).cache.phase, "hit");
    },
  );
  await t.step(
    "RFC 5861: no stale serving for entries ruled out by Authorization or the request",
    async () => {
      const { clock, config } = setup(true);
      const swr = "max-age=60, stale-while-revalidate=30, stale-if-error=600";
      await run(config, get(), ok(swr, "anon"));
      clock.advance(10_000); // fresh by its own lifetime
      for (
        const h of [
          ["Authorization", "Bearer u1"],
          ["Cache-Control", "max-age=5"],
          ["Cache-Control", "min-fresh=55"],
        ] as HeaderPairs
      ) {
        const r = await run(config, get("/", [h]), ok("private, max-age=60", "for-u1"));
        assert.equal(r.text, "for-u1", h.join(": "));
        assert.equal(r.cache.needsBackgroundRevalidation, false);
      }
      clock.advance(55_000); // now stale by its own lifetime, within both windows
      const c = new HttpCache(config, get("/", [["Authorization", "Bearer u1"]]));
      assert.equal((await c.lookup()).kind, "upstream");
      assert.equal(c.phase, "stale");
      assert.equal(c.upstreamError(new Error("down")), null); // not stale-if-error either
      const s = await run(config, get(), never);
      assert.equal(s.cache.phase, "stale-updating");
      assert.equal(s.text, "anon");
    },
  );
  await t.step(
    "RFC 5861 §4: stale-if-error on an error or a 5xx; not past the window",
    async () => {
      const { clock, config } = setup();
      await run(config, get(), ok("max-age=1, stale-if-error=60"));
      clock.advance(5000);
      const e = await run(config, get(), () => new Error("down"));
      assert.equal(e.text, "v1");
      assert.match(e.head.headers.get("cache-status")!, /stale-if-error/);
      const f = await run(config, get(), () => ({ status: 503, headers: [] }));
      assert.equal(f.text, "v1");
      clock.advance(60_000);
      await assert.rejects(run(config, get(), () => new Error("down")));
    },
  );
  await t.step("§5.2.2.2: must-revalidate is never served stale on error", async () => {
    const { clock, config } = setup();
    await run(config, get(), ok("max-age=1, must-revalidate, stale-if-error=60"));
    clock.advance(5000);
    await assert.rejects(run(config, get(), () => new Error("down")));
  });
  await t.step(
    "§4.2.4: defaultStaleIfError does not serve a no-cache response stale on a 503",
    async () => {
      const clock = new ManualClock(T0);
      const config = new CacheConfig({
        storage: new MemoryStorage(),
        clock,
        defaultStaleIfError: 300,
        defaultStaleWhileRevalidate: 300,
      });
      await run(config, get(), ok("no-cache"));
      clock.advance(5000);
      const r = await run(config, get(), () => ({ status: 503, headers: [], body: "down" }));
      assert.equal(r.head.status, 503);
      assert.equal(r.text, "down");
      await assert.rejects(run(config, get(), () => new Error("down")));
      // The same default still serves a plain max-age response stale on error.
      await run(config, get("/p"), ok("max-age=1"));
      clock.advance(5000);
      assert.equal((await run(config, get("/p"), () => new Error("down"))).text, "v1");
    },
  );
  await t.step("§5.2.1.7: only-if-cached answers 504 without a usable entry", async () => {
    const { config } = setup();
    const r = await run(config, get("/", [["Cache-Control", "only-if-cached"]]), never);
    assert.equal(r.head.status, 504);
  });
  await t.step("§4.1: Vary keeps variants apart; Vary: * is not stored", async () => {
    const { config } = setup();
    const origin = (up: RequestHeader) => ({
      status: 200,
      headers: [["Cache-Control", "max-age=60"], ["Vary", "Accept-Language"]] as HeaderPairs,
      body: up.headers.get("accept-language") ?? "none",
    });
    assert.equal((await run(config, get("/", [["Accept-Language", "en"]]), origin)).text, "en");
    assert.equal((await run(config, get("/", [["Accept-Language", "fr"]]), origin)).text, "fr");
    assert.equal((await run(config, get("/", [["Accept-Language", "en"]]), never)).text, "en");
    assert.equal((await run(config, get("/", [["Accept-Language", "fr"]]), never)).text, "fr");
    const miss = await run(config, get("/", [["Accept-Language", "de"]]), origin);
    assert.match(miss.head.headers.get("cache-status")!, /fwd=vary-miss/);
    const star = () => ({
      status: 200,
      headers: [["Cache-Control", "max-age=60"], ["Vary", "*"]] as HeaderPairs,
      body: "s",
    });
    await run(config, get("/star"), star);
    assert.equal((await run(config, get("/star"), star)).cache.phase, "miss");
  });
  await t.step(
    "§4.1: Vary: * is never stored, even if responseCacheFilter or cacheVaryFilter says so",
    async () => {
      const { config } = setup();
      const approve: CacheHooks = {
        // Approves everything, Vary: * included, with a one-minute lifetime.
        responseFilter: (_req, res) => ({
          kind: "cacheable",
          meta: new CacheMeta({
            status: res.status,
            headers: res.headers.pairs,
            requestTime: T0,
            responseTime: T0,
            freshnessLifetime: 60_000,
          }),
        }),
      };
      let n = 0;
      const star = () => ({
        status: 200,
        headers: [["Cache-Control", "max-age=60"], ["Vary", "Accept, *"]] as HeaderPairs,
        body: `s${++n}`,
      });
      const first = await run(config, get("/star"), star, approve);
      assert.equal(first.cache.noCacheReason, "vary-star");
      const again = await run(config, get("/star", [["Accept", "x"]]), star, approve);
      assert.equal(again.cache.phase, "miss");
      assert.equal(again.text, "s2");
      // A cacheVaryFilter answering "*" for a response that varies on X-V.
      const starFilter: CacheHooks = { varyFilter: () => "*" };
      const vary = () => ({
        status: 200,
        headers: [["Cache-Control", "max-age=60"], ["Vary", "X-V"]] as HeaderPairs,
        body: `v${++n}`,
      });
      await run(config, get("/v", [["X-V", "1"]]), vary, starFilter);
      const other = await run(config, get("/v", [["X-V", "2"]]), vary, starFilter);
      assert.equal(other.cache.phase, "miss");
      assert.equal(other.cache.noCacheReason, "vary-star");
      // Without the hook, the other variant must not get a plain entry either.
      assert.equal((await run(config, get("/v", [["X-V", "2"]]), vary)).cache.phase, "miss");
    },
  );
  await t.step(
    "§4.4: a successful unsafe method invalidates the URI, Location and Content-Location",
    async () => {
      const { config } = setup();
      for (const p of ["/a", "/b", "/c", "/d"]) await run(config, get(p), ok("max-age=60"));
      await run(config, get("/a", [], "POST"), () => ({
        status: 201,
        headers: [["Location", "/b"], ["Content-Location", "http://h/c"]],
      }));
      for (const p of ["/a", "/b", "/c"]) {
        assert.equal((await run(config, get(p), ok("max-age=60"))).cache.phase, "miss", p);
      }
      assert.equal((await run(config, get("/d"), never)).cache.phase, "hit");
      // Safe methods do not invalidate; unknown methods are unsafe.
      await run(config, get("/d", [], "OPTIONS"), () => ({ status: 204, headers: [] }));
      assert.equal((await run(config, get("/d"), never)).cache.phase, "hit");
      await run(config, get("/c"), ok("max-age=60"));
      await run(config, get("/c", [], "M-SEARCH"), () => ({ status: 200, headers: [] }));
      assert.equal((await run(config, get("/c"), ok("max-age=60"))).cache.phase, "miss");
      // Failed unsafe requests do not invalidate.
      await run(config, get("/d", [], "DELETE"), () => ({ status: 500, headers: [] }));
      assert.equal((await run(config, get("/d"), never)).cache.phase, "hit");
    },
  );
  await t.step(
    "§4.4: with a custom cacheKey, Location / Content-Location invalidate through that key",
    async () => {
      const { config } = setup();
      // A key that does not end with the path (tenant last).
      const keyOf = (r: RequestHeader) => `${r.path}|tenant=${r.headers.get("x-tenant")}`;
      const hooks: CacheHooks = { cacheKey: keyOf };
      const go = async (req: RequestHeader, origin: Parameters<typeof run>[2]) => {
        const c = new HttpCache(config, req, keyOf(req), hooks);
        if ((await c.lookup()).kind === "serve") return c.phase;
        const o = origin(req) as { status: number; headers: HeaderPairs; body?: string };
        const out = await c.upstreamResponse(
          new ResponseHeader(o.status, o.headers),
          o.body === undefined ? null : new Response(o.body).body,
        );
        await text(out.body);
        return c.phase;
      };
      const t1: HeaderPairs = [["X-Tenant", "1"]];
      for (const p of ["/a", "/b", "/c", "/d"]) await go(get(p, t1), ok("max-age=60"));
      await go(get("/a", t1, "POST"), () => ({
        status: 201,
        headers: [["Location", "/b"], ["Content-Location", "http://h/c"]],
      }));
      assert.equal(await go(get("/b", t1), ok("max-age=60")), "miss");
      assert.equal(await go(get("/c", t1), ok("max-age=60")), "miss");
      assert.equal(await go(get("/d", t1), never), "hit");
    },
  );
  await t.step(
    "cache lock: misses of different Vary variants do not wait for each other",
    async () => {
      const { config } = setup(true);
      const origin = (up: RequestHeader) => ({
        status: 200,
        headers: [["Cache-Control", "max-age=60"], ["Vary", "X-V"]] as HeaderPairs,
        body: "v=" + up.headers.get("x-v"),
      });
      await run(config, get("/", [["X-V", "0"]]), origin); // stores the Vary marker
      const a = new HttpCache(config, get("/", [["X-V", "1"]]));
      assert.equal((await a.lookup()).kind, "upstream");
      const b = new HttpCache(config, get("/", [["X-V", "2"]]));
      // With one lock for all variants, b would wait for a (the ManualClock never times it out).
      const waited = await Promise.race([
        b.lookup().then((l) => l.kind),
        new Promise((ok) => setTimeout(() => ok("waiting"), 0)),
      ]);
      assert.equal(waited, "upstream");
      assert.equal(b.phase, "miss");
      assert.equal(config.lock!.size, 2);
      // The same variant still collapses onto its writer.
      const a2 = new HttpCache(config, get("/", [["X-V", "1"]]));
      const waiting = a2.lookup();
      await new Promise((ok) => setTimeout(ok, 0));
      const up = get("/", [["X-V", "1"]]);
      a.upstreamRequest(up);
      const o = origin(up);
      await text(
        (await a.upstreamResponse(
          new ResponseHeader(o.status, o.headers),
          new Response(o.body).body,
        )).body,
      );
      const l = await waiting;
      assert.equal(a2.phase, "hit");
      assert.equal(await text(l.kind === "serve" ? l.body : null), "v=1");
      b.disable("custom");
      assert.equal(config.lock!.size, 0);
    },
  );
  await t.step("§4.4: invalidation also removes every Vary variant", async () => {
    const { config } = setup();
    const origin = () => ({
      status: 200,
      headers: [["Cache-Control", "max-age=60"], ["Vary", "X-V"]] as HeaderPairs,
      body: "x",
    });
    await run(config, get("/", [["X-V", "1"]]), origin);
    await run(config, get("/", [], "PUT"), () => ({ status: 204, headers: [] }));
    await run(config, get("/", [["X-V", "2"]]), origin); // recreates the marker
    assert.equal((await run(config, get("/", [["X-V", "1"]]), origin)).cache.phase, "miss");
  });
  await t.step("RFC 9110 §13.2: conditional requests are answered 304 from cache", async () => {
    const { config } = setup();
    await run(config, get(), ok("max-age=60"));
    const r = await run(config, get("/", [["If-None-Match", '"v1"']]), never);
    assert.equal(r.head.status, 304);
    assert.equal(r.text, "");
    // A miss strips the client's conditional upstream and evaluates it on the full response.
    const { config: c2 } = setup();
    const m = await run(c2, get("/", [["If-None-Match", '"v1"']]), (up) => {
      assert.equal(up.headers.get("if-none-match"), null);
      return ok("max-age=60")();
    });
    assert.equal(m.head.status, 304);
    assert.equal((await run(c2, get(), never)).text, "v1");
  });
  await t.step(
    "RFC 9110 §14: ranges (single, multipart, If-Range) from a cached full response",
    async () => {
      const { config } = setup();
      await run(config, get(), ok("max-age=60", "0123456789", [["Content-Length", "10"]]));
      const one = await run(config, get("/", [["Range", "bytes=2-4"]]), never);
      assert.equal(one.head.status, 206);
      assert.equal(one.text, "234");
      const multi = await run(config, get("/", [["Range", "bytes=0-1,8-"]]), never);
      assert.equal(multi.head.status, 206);
      assert.match(multi.text, /Content-Range: bytes 0-1\/10\r\n\r\n01\r\n/);
      assert.match(multi.text, /Content-Range: bytes 8-9\/10\r\n\r\n89\r\n/);
      assert.equal(
        String(new TextEncoder().encode(multi.text).byteLength),
        multi.head.headers.get("content-length"),
      );
      const stale = await run(
        config,
        get("/", [["Range", "bytes=2-4"], ["If-Range", '"old"']]),
        never,
      );
      assert.equal(stale.head.status, 200);
      assert.equal(stale.text, "0123456789");
      const bad = await run(config, get("/", [["Range", "bytes=50-"]]), never);
      assert.equal(bad.head.status, 416);
      // On a miss the range is cut from the streamed response.
      const { config: c2 } = setup();
      const m = await run(c2, get("/", [["Range", "bytes=-3"]]), (up) => {
        assert.equal(up.headers.get("range"), null);
        return ok("max-age=60", "0123456789", [["Content-Length", "10"]])();
      });
      assert.equal(m.head.status, 206);
      assert.equal(m.text, "789");
    },
  );
  await t.step("§14: a Range miss whose response is not stored still gets its range", async () => {
    const storage = new MemoryStorage({ maxObjectSize: 4 });
    const config = new CacheConfig({ storage, clock: new ManualClock(T0) });
    for (const cc of ["private, max-age=60", "max-age=60"]) { // uncacheable; too large
      const r = await run(config, get("/", [["Range", "bytes=0-1"]]), (up) => {
        assert.equal(up.headers.get("range"), null);
        return ok(cc, "0123456789", [["Content-Length", "10"]])();
      });
      assert.equal(r.head.status, 206, cc);
      assert.equal(r.head.headers.get("content-range"), "bytes 0-1/10");
      assert.equal(r.head.headers.get("content-length"), "2");
      assert.equal(r.text, "01");
      assert.equal(r.cache.noCacheReason, cc.startsWith("private") ? "private" : "too-large");
    }
  });
  await t.step("HEAD is served from a cached GET and fetched as GET", async () => {
    const { config } = setup();
    const h = await run(config, get("/", [], "HEAD"), (up) => {
      assert.equal(up.method, "GET");
      return ok("max-age=60", "body")();
    });
    assert.equal(h.text, "");
    // The HEAD miss still stored the body (drained in the background).
    await new Promise((r) => setTimeout(r, 0));
    const g = await run(config, get(), never);
    assert.equal(g.text, "body");
    const h2 = await run(config, get("/", [], "HEAD"), never);
    assert.equal(h2.cache.phase, "hit");
    assert.equal(h2.text, "");
  });
  await t.step(
    "§3.5: a stored response is not reused for Authorization requests unless shareable",
    async () => {
      const { config } = setup();
      await run(config, get(), ok("max-age=60"));
      const r = await run(config, get("/", [["Authorization", "x"]]), ok("max-age=60", "private"));
      assert.equal(r.text, "private");
    },
  );
  await t.step(
    "cache lock: waiters are served the writer's entry; give-up sends them upstream",
    async () => {
      const { config } = setup(true);
      const w = new HttpCache(config, get());
      assert.equal((await w.lookup()).kind, "upstream");
      const r = new HttpCache(config, get());
      const waiting = r.lookup();
      await new Promise((ok) => setTimeout(ok, 0)); // let r reach the lock
      const out = await w.upstreamResponse(
        new ResponseHeader(200, [["Cache-Control", "max-age=60"], ["Content-Length", "6"]]),
        new Response("shared").body,
      );
      const l = await waiting;
      assert.equal(l.kind, "serve");
      // With a known length the reader streams the entry while the writer's client reads it.
      const [a, b] = await Promise.all([text(l.kind === "serve" ? l.body : null), text(out.body)]);
      assert.equal(a, "shared");
      assert.equal(b, "shared");
      const w2 = new HttpCache(config, get("/nc"));
      await w2.lookup();
      const r2 = new HttpCache(config, get("/nc"));
      const waiting2 = r2.lookup();
      await new Promise((ok) => setTimeout(ok, 0)); // let r2 reach the lock
      await w2.upstreamResponse(new ResponseHeader(200, [["Cache-Control", "no-store"]]), null);
      assert.equal((await waiting2).kind, "upstream");
      assert.equal(r2.noCacheReason, "lock-give-up");
    },
  );
  await t.step(
    "cache lock: without Content-Length, nobody reads the entry before it is complete",
    async () => {
      const { config } = setup(true);
      const storage = new MemoryStorage({ maxObjectSize: 8 });
      const small = new CacheConfig({ storage, clock: config.clock, lock: config.lock });
      // `chunks` reach the writer only when the writer's client reads them.
      const body = (chunks: string[]) => {
        let i = 0;
        return new ReadableStream<Uint8Array>({
          pull(c) {
            if (i < chunks.length) c.enqueue(new TextEncoder().encode(chunks[i++]!));
            else c.close();
          },
        }, { highWaterMark: 0 });
      };
      const cc = new ResponseHeader(200, [["Cache-Control", "max-age=60"]]);
      for (const [path, chunks] of [["/fits", ["abcd", "efgh"]], ["/big", ["abcd", "efgh", "i"]]]) {
        const w = new HttpCache(small, get(path as string));
        assert.equal((await w.lookup()).kind, "upstream");
        const before = new HttpCache(small, get(path as string));
        const waiting = before.lookup(); // collapsed on the lock
        await new Promise((ok) => setTimeout(ok, 0));
        const out = await w.upstreamResponse(cc.clone(), body(chunks as string[]));
        // A request arriving while the entry is written waits too.
        const during = new HttpCache(small, get(path as string));
        const waiting2 = during.lookup();
        let settled = false;
        void Promise.all([waiting, waiting2]).then(() => settled = true);
        const reader = out.body!.getReader();
        assert.equal(new TextDecoder().decode((await reader.read()).value), "abcd");
        await new Promise((ok) => setTimeout(ok, 0));
        assert.equal(settled, false, `${path}: a reader was let in before the entry was complete`);
        let rest = "";
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          rest += new TextDecoder().decode(r.value);
        }
        assert.equal(rest, (chunks as string[]).slice(1).join(""));
        const [a, b] = await Promise.all([waiting, waiting2]);
        if (path === "/fits") {
          assert.equal(a.kind, "serve");
          assert.equal(b.kind, "serve");
          assert.equal(await text(a.kind === "serve" ? a.body : null), "abcdefgh");
          assert.equal(await text(b.kind === "serve" ? b.body : null), "abcdefgh");
          assert.equal(before.phase, "hit");
        } else {
          // It outgrew maxObjectSize: the waiters go upstream themselves.
          assert.equal(a.kind, "upstream");
          assert.equal(b.kind, "upstream");
          assert.equal(before.noCacheReason, "lock-give-up");
          assert.equal(during.noCacheReason, "lock-give-up");
          assert.equal(storage.size, 1);
        }
      }
      assert.equal(config.lock!.size, 0);
    },
  );
  await t.step(
    "cacheHitFilter force-miss (with a lock): a miss that stores the new response",
    async () => {
      const { config } = setup(true);
      await run(config, get(), ok("max-age=60", "v1"));
      const c = new HttpCache(config, get(), undefined, { hitFilter: () => "force-miss" });
      assert.equal((await c.lookup()).kind, "upstream");
      assert.equal(c.phase, "miss");
      const out = await c.upstreamResponse(
        new ResponseHeader(200, [["Cache-Control", "max-age=60"]]),
        new Response("v2").body,
      );
      assert.equal(await text(out.body), "v2");
      assert.match(out.head.headers.get("cache-status")!, /; stored$/);
      assert.equal(config.lock!.size, 0);
      const h = await run(config, get(), never);
      assert.equal(h.cache.phase, "hit");
      assert.equal(h.text, "v2");
    },
  );
  await t.step("a storable 204 without a body is stored; collapsed waiters get it", async () => {
    const { config } = setup(true);
    const w = new HttpCache(config, get("/pixel"));
    assert.equal((await w.lookup()).kind, "upstream");
    const r = new HttpCache(config, get("/pixel"));
    const waiting = r.lookup();
    await new Promise((ok) => setTimeout(ok, 0)); // let r reach the lock
    const out = await w.upstreamResponse(
      new ResponseHeader(204, [["Cache-Control", "max-age=60"]]),
      null,
    );
    assert.equal(out.head.status, 204);
    assert.equal(out.body, null);
    assert.match(out.head.headers.get("cache-status")!, /fwd-status=204; stored$/);
    const l = await waiting;
    assert.equal(l.kind, "serve");
    assert.equal(r.phase, "hit");
    assert.equal(l.kind === "serve" ? l.body : "", null);
    const h = await run(config, get("/pixel"), never);
    assert.equal(h.cache.phase, "hit");
    assert.equal(h.head.status, 204);
    assert.equal(h.head.headers.get("content-length"), null);
  });
  await t.step("Expires and Date drive freshness with the wall clock", async () => {
    const { clock, config } = setup();
    await run(config, get(), () => ({
      status: 200,
      headers: [["Date", formatHttpDate(T0)], ["Expires", formatHttpDate(T0 + 30_000)]],
      body: "e",
    }));
    clock.advance(29_000);
    assert.equal((await run(config, get(), never)).cache.phase, "hit");
    clock.advance(2000);
    assert.equal((await run(config, get(), ok("max-age=1"))).cache.phase, "expired");
  });
});

Deno.test("HttpCache.writing is true from the stored response until its body is written", async (t) => {
  const body = (parts: string[]) => {
    const chunks = parts.map((p) => new TextEncoder().encode(p));
    return new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next === undefined) c.close();
        else c.enqueue(next);
      },
    }, { highWaterMark: 0 });
  };
  const res = (cc: string) => new ResponseHeader(200, [["Cache-Control", cc]]);

  await t.step("a stored body: until it ends, also when the client cancels it", async () => {
    for (const cancel of [false, true]) {
      const { config } = setup(true);
      const cache = new HttpCache(config, get(`/w${cancel}`));
      await cache.lookup();
      assert.equal(cache.writing, false);
      const out = await cache.upstreamResponse(res("max-age=60"), body(["a", "b"]));
      assert.equal(cache.writing, true);
      const reader = out.body!.getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), "a");
      assert.equal(cache.writing, true);
      if (cancel) {
        // The rest is drained into the cache without a reader.
        await reader.cancel();
        for (let i = 0; i < 1000 && cache.writing; i++) await new Promise((r) => setTimeout(r, 1));
      } else {
        while (!(await reader.read()).done) { /* read on */ }
      }
      assert.equal(cache.writing, false);
      const hit = await new HttpCache(config, get(`/w${cancel}`)).lookup();
      assert.equal(hit.kind, "serve");
      if (hit.kind === "serve") assert.equal(await text(hit.body), "ab");
    }
  });

  await t.step("never for a response that is not stored", async () => {
    const { config } = setup(true);
    const cache = new HttpCache(config, get("/private"));
    await cache.lookup();
    const out = await cache.upstreamResponse(res("private"), body(["a"]));
    assert.equal(cache.writing, false);
    assert.equal(await text(out.body), "a");
  });

  await t.step("not once the storage refuses more", async () => {
    const clock = new ManualClock(T0);
    const config = new CacheConfig({ storage: new MemoryStorage({ maxObjectSize: 2 }), clock });
    const cache = new HttpCache(config, get("/big"));
    await cache.lookup();
    const out = await cache.upstreamResponse(res("max-age=60"), body(["ab", "cd"]));
    const reader = out.body!.getReader();
    await reader.read();
    assert.equal(cache.writing, true);
    await reader.read();
    assert.equal(cache.writing, false);
    await reader.cancel();
  });
});

Deno.test("HttpCache.filling: from taking the lock until the entry is stored or the lock released", async (t) => {
  const res = (cc: string, length?: number) =>
    new ResponseHeader(200, [
      ["Cache-Control", cc],
      ...(length === undefined ? [] : [["Content-Length", String(length)] as [string, string]]),
    ]);

  await t.step(
    "the lock holder, before the response and while it writes (with or without a length)",
    async () => {
      for (const length of [2, undefined]) {
        const { config } = setup(true);
        const cache = new HttpCache(config, get(`/f${length}`));
        assert.equal(cache.filling, false);
        await cache.lookup();
        assert.equal(cache.phase, "miss");
        assert.equal(cache.filling, true);
        assert.equal(cache.writing, false);
        const out = await cache.upstreamResponse(
          res("max-age=60", length),
          new Response("ab").body,
        );
        assert.equal(cache.filling, true);
        assert.equal(await text(out.body), "ab");
        assert.equal(cache.filling, false);
      }
    },
  );

  await t.step("not once a response that is not stored released the lock", async () => {
    const { config } = setup(true);
    const cache = new HttpCache(config, get("/private"));
    await cache.lookup();
    assert.equal(cache.filling, true);
    const out = await cache.upstreamResponse(res("private"), new Response("a").body);
    assert.equal(cache.filling, false);
    assert.equal(await text(out.body), "a");
  });

  await t.step(
    "not before the response without a lock, nor for a method the cache skips",
    async () => {
      const { config } = setup(false);
      const cache = new HttpCache(config, get("/nolock"));
      await cache.lookup();
      assert.equal(cache.phase, "miss");
      assert.equal(cache.filling, false);
      const post = new HttpCache(setup(true).config, get("/p", [], "POST"));
      await post.lookup();
      assert.equal(post.filling, false);
    },
  );

  await t.step("not once an upstream error released the lock", async () => {
    const { config } = setup(true);
    const cache = new HttpCache(config, get("/err"));
    await cache.lookup();
    assert.equal(cache.filling, true);
    assert.equal(cache.upstreamError(new Error("reset")), null);
    assert.equal(cache.filling, false);
  });
});
