import assert from "node:assert/strict";
import { RequestHeader, ResponseHeader } from "@cirque/core/http-header";
import type { HeaderPairs } from "@cirque/core/connector";
import { CacheControl } from "./cache_control.ts";
import { CacheMeta } from "./cache_meta.ts";
import {
  freshnessDecision,
  type FreshnessOptions,
  requestDirectives,
  responseCacheability,
} from "./freshness.ts";
import { formatHttpDate } from "./http_date.ts";

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const date = (offsetSec: number) => formatHttpDate(NOW + offsetSec * 1000);

function check(
  res: HeaderPairs,
  opts: FreshnessOptions = {},
  req: HeaderPairs = [],
  status = 200,
  method = "GET",
) {
  return responseCacheability(
    new RequestHeader(method, "/", req),
    new ResponseHeader(status, res),
    { requestTime: NOW, responseTime: NOW },
    opts,
  );
}

function lifetime(res: HeaderPairs, opts: FreshnessOptions = {}, status = 200): number | string {
  const r = check(res, opts, [], status);
  return r.kind === "cacheable" ? r.meta.freshnessLifetime / 1000 : r.reason;
}

Deno.test("storing responses in a shared cache (RFC 9111 §3)", async (t) => {
  await t.step("§3: only GET/HEAD responses are stored", () => {
    assert.equal(lifetime([["Cache-Control", "max-age=5"]]), 5);
    const post = check([["Cache-Control", "max-age=5"]], {}, [], 200, "POST");
    assert.deepEqual(post, { kind: "uncacheable", reason: "method" });
  });
  await t.step("§5.2.2.5 / §5.2.1.5: no-store in response or request", () => {
    assert.equal(lifetime([["Cache-Control", "no-store, max-age=5"]]), "no-store");
    assert.equal(
      check([["Cache-Control", "max-age=5"]], {}, [["Cache-Control", "no-store"]]).kind,
      "uncacheable",
    );
  });
  await t.step('§5.2.2.7: private is not stored by a shared cache; private="f" strips f', () => {
    assert.equal(lifetime([["Cache-Control", "private, max-age=5"]]), "private");
    const r = check([["Cache-Control", 'private="x-secret", max-age=5'], ["X-Secret", "1"]]);
    assert.equal(r.kind, "cacheable");
    if (r.kind === "cacheable") assert.equal(r.meta.headers.get("x-secret"), null);
  });
  await t.step('§5.2.2.4: no-cache="f" strips f from the stored head', () => {
    const r = check([["Cache-Control", 'no-cache="set-cookie", max-age=5'], ["Set-Cookie", "a=1"]]);
    assert.equal(r.kind, "cacheable");
    if (r.kind === "cacheable") assert.equal(r.meta.headers.get("set-cookie"), null);
  });
  await t.step("§3.5: Authorization needs public, s-maxage or must-revalidate", () => {
    const auth: HeaderPairs = [["Authorization", "Basic x"]];
    assert.equal(check([["Cache-Control", "max-age=5"]], {}, auth).kind, "uncacheable");
    for (const cc of ["public, max-age=5", "s-maxage=5", "must-revalidate, max-age=5"]) {
      assert.equal(check([["Cache-Control", cc]], {}, auth).kind, "cacheable", cc);
    }
  });
  await t.step("§4.1: Vary: * is never stored", () => {
    assert.equal(lifetime([["Cache-Control", "max-age=5"], ["Vary", "Accept, *"]]), "vary-star");
  });
  await t.step("§3: status not heuristically cacheable needs explicit freshness", () => {
    assert.equal(lifetime([["Last-Modified", date(-1000)]], {}, 302), "status");
    assert.equal(lifetime([["Cache-Control", "max-age=7"]], {}, 302), 7);
    assert.equal(lifetime([["Cache-Control", "max-age=7"]], {}, 206), "status");
  });
});

Deno.test("freshness lifetime (RFC 9111 §4.2.1, §4.2.2, RFC 9213)", async (t) => {
  await t.step("§4.2.1: s-maxage wins over max-age over Expires", () => {
    assert.equal(lifetime([["Cache-Control", "max-age=5, s-maxage=9"], ["Expires", date(100)]]), 9);
    assert.equal(lifetime([["Cache-Control", "max-age=5"], ["Expires", date(100)]]), 5);
    assert.equal(lifetime([["Expires", date(100)], ["Date", date(0)], ["ETag", '"e"']]), 100);
  });
  await t.step("§4.2.1: Expires is relative to Date", () => {
    assert.equal(lifetime([["Expires", date(50)], ["Date", date(-50)]]), 100);
  });
  await t.step('§5.3: invalid Expires ("0") is in the past', () => {
    assert.equal(lifetime([["Expires", "0"], ["ETag", '"a"']]), 0);
    assert.equal(lifetime([["Expires", "0"]]), "no-freshness");
  });
  await t.step("§4.2.2: heuristic is 10% of Date − Last-Modified, bounded", () => {
    assert.equal(lifetime([["Date", date(0)], ["Last-Modified", date(-1000)]]), 100);
    assert.equal(
      lifetime([["Date", date(0)], ["Last-Modified", date(-10_000_000)]], {
        maxHeuristicTtl: 3600,
      }),
      3600,
    );
  });
  await t.step("§4.2.2: configured default TTL per status", () => {
    assert.equal(lifetime([], { defaultTtl: (s) => (s === 404 ? 30 : undefined) }, 404), 30);
    assert.equal(lifetime([], {}, 200), "no-freshness");
  });
  await t.step("§5.2.2.4: no-cache stores with zero freshness", () => {
    const r = check([["Cache-Control", "no-cache, max-age=60"], ["ETag", '"a"']]);
    assert.ok(r.kind === "cacheable" && r.meta.freshnessLifetime === 0 && r.meta.noCache);
  });
  await t.step("RFC 9213 §2.2: a targeted field overrides Cache-Control and Expires", () => {
    const opts = { targetedField: "CDN-Cache-Control" };
    assert.equal(
      lifetime([["Cache-Control", "no-store"], ["CDN-Cache-Control", "max-age=40"]], opts),
      40,
    );
    assert.equal(lifetime([["Cache-Control", "max-age=3"], ["CDN-Cache-Control", ""]], opts), 3);
    assert.equal(lifetime([["CDN-Cache-Control", "max-age=3"]]), "no-freshness");
  });
  await t.step(
    "§5.2.2.2/§5.2.2.8/§5.2.2.10: must-revalidate, proxy-revalidate, s-maxage forbid stale",
    () => {
      for (
        const cc of ["max-age=1, must-revalidate", "max-age=1, proxy-revalidate", "s-maxage=1"]
      ) {
        const r = check([["Cache-Control", `${cc}, stale-while-revalidate=60`]]);
        assert.ok(r.kind === "cacheable" && r.meta.mustRevalidate, cc);
        if (r.kind === "cacheable") assert.ok(!r.meta.canServeStaleWhileRevalidate(NOW + 2000));
      }
    },
  );
  await t.step(
    "§4.2.4: configured stale defaults never apply where a directive forbids stale",
    () => {
      const defaults = { defaultStaleWhileRevalidate: 60, defaultStaleIfError: 300 };
      const at = NOW + 5000;
      for (
        const cc of [
          "no-cache",
          "max-age=1, must-revalidate",
          "max-age=1, proxy-revalidate",
          "s-maxage=1",
        ]
      ) {
        const r = check([["Cache-Control", cc], ["ETag", '"v"']], defaults);
        assert.equal(r.kind, "cacheable", cc);
        if (r.kind !== "cacheable") continue;
        assert.ok(!r.meta.canServeStaleWhileRevalidate(at), cc);
        assert.ok(!r.meta.canServeStaleIfError(at), cc);
      }
      // Without such a directive the defaults apply.
      const plain = check([["Cache-Control", "max-age=1"]], defaults);
      assert.ok(plain.kind === "cacheable" && plain.meta.canServeStaleIfError(at));
      assert.ok(plain.kind === "cacheable" && plain.meta.canServeStaleWhileRevalidate(at));
      // A no-cache response without a validator and only default windows is not stored.
      assert.equal(lifetime([["Cache-Control", "no-cache"]], defaults), "no-freshness");
    },
  );
  await t.step(
    "RFC 5861 vs §4.2.4: an explicit stale-if-error outlives no-cache, not must-revalidate",
    () => {
      const at = NOW + 5000;
      const nc = check([[
        "Cache-Control",
        "no-cache, stale-if-error=60, stale-while-revalidate=60",
      ]]);
      assert.ok(nc.kind === "cacheable" && nc.meta.canServeStaleIfError(at));
      assert.ok(nc.kind === "cacheable" && !nc.meta.canServeStaleWhileRevalidate(at));
      for (const cc of ["must-revalidate", "proxy-revalidate", "s-maxage=0"]) {
        const r = check([["Cache-Control", `max-age=0, ${cc}, stale-if-error=60`], [
          "ETag",
          '"v"',
        ]]);
        assert.ok(r.kind === "cacheable" && !r.meta.canServeStaleIfError(at), cc);
      }
    },
  );
  await t.step("RFC 5861 §3, §4: stale-while-revalidate and stale-if-error windows", () => {
    const r = check([["Cache-Control", "max-age=1, stale-while-revalidate=10, stale-if-error=20"]]);
    assert.equal(r.kind, "cacheable");
    if (r.kind !== "cacheable") return;
    assert.ok(!r.meta.canServeStaleWhileRevalidate(NOW)); // fresh: not "stale" at all
    assert.ok(r.meta.canServeStaleWhileRevalidate(NOW + 5000));
    assert.ok(!r.meta.canServeStaleWhileRevalidate(NOW + 12_000));
    assert.ok(r.meta.canServeStaleIfError(NOW + 12_000));
    assert.ok(!r.meta.canServeStaleIfError(NOW + 22_000));
  });
});

Deno.test("age calculation (RFC 9111 §4.2.3)", async (t) => {
  await t.step("apparent age from Date vs Age + response delay: the larger wins", () => {
    const m = new CacheMeta({
      status: 200,
      headers: [["Date", date(-30)], ["Age", "10"]],
      requestTime: NOW - 2000,
      responseTime: NOW,
      freshnessLifetime: 60_000,
    });
    assert.equal(m.age(NOW), 30);
    const m2 = m.with({ headers: [["Date", date(0)], ["Age", "10"]] });
    assert.equal(m2.age(NOW), 12); // age_value + response_delay
  });
  await t.step("resident time is added; invalid Age is ignored (§5.1)", () => {
    const m = new CacheMeta({
      status: 200,
      headers: [["Age", "abc"]],
      requestTime: NOW,
      responseTime: NOW,
      freshnessLifetime: 60_000,
    });
    assert.equal(m.age(NOW + 5000), 5);
  });
});

Deno.test("using a stored response (RFC 9111 §4.2, §5.2.1)", async (t) => {
  const meta = new CacheMeta({
    status: 200,
    headers: [],
    requestTime: NOW,
    responseTime: NOW,
    freshnessLifetime: 100_000,
  });
  const at = (s: number) => NOW + s * 1000;
  await t.step("§4.2: fresh until the lifetime passes", () => {
    assert.equal(freshnessDecision(meta, CacheControl.EMPTY, at(99)), "fresh");
    assert.equal(freshnessDecision(meta, CacheControl.EMPTY, at(101)), "stale");
  });
  await t.step("§5.2.1.1: request max-age", () => {
    assert.equal(freshnessDecision(meta, CacheControl.parse("max-age=10"), at(11)), "stale");
    assert.equal(freshnessDecision(meta, CacheControl.parse("max-age=10"), at(9)), "fresh");
  });
  await t.step("§5.2.1.3: request min-fresh", () => {
    assert.equal(freshnessDecision(meta, CacheControl.parse("min-fresh=50"), at(60)), "stale");
    assert.equal(freshnessDecision(meta, CacheControl.parse("min-fresh=50"), at(40)), "fresh");
  });
  await t.step("§5.2.1.2: request max-stale, with and without a value", () => {
    assert.equal(
      freshnessDecision(meta, CacheControl.parse("max-stale=10"), at(105)),
      "stale-acceptable",
    );
    assert.equal(freshnessDecision(meta, CacheControl.parse("max-stale=10"), at(115)), "stale");
    assert.equal(
      freshnessDecision(meta, CacheControl.parse("max-stale"), at(9999)),
      "stale-acceptable",
    );
    const mr = meta.with({ mustRevalidate: true });
    assert.equal(freshnessDecision(mr, CacheControl.parse("max-stale"), at(105)), "stale");
  });
  await t.step("§5.2.1.4: request no-cache and §5.4 Pragma: no-cache revalidate", () => {
    assert.equal(freshnessDecision(meta, CacheControl.parse("no-cache"), at(1)), "stale");
    const pragma = requestDirectives(new RequestHeader("GET", "/", [["Pragma", "no-cache"]]));
    assert.equal(freshnessDecision(meta, pragma, at(1)), "stale");
    const both = requestDirectives(
      new RequestHeader("GET", "/", [["Pragma", "no-cache"], ["Cache-Control", "max-age=5"]]),
    );
    assert.equal(freshnessDecision(meta, both, at(1)), "fresh");
  });
});
