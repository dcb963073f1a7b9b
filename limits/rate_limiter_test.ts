import assert from "node:assert/strict";
import { RateLimiter, type RateLimiterOptions } from "./rate_limiter.ts";
import { byHeader } from "./key_extractor.ts";

function limiterAt(limit: number, options: RateLimiterOptions = {}) {
  const t = { now: 0 };
  const limiter = new RateLimiter(limit, { ...options, clock: () => t.now });
  return { t, limiter };
}

Deno.test("RateLimiter (fixed window) allows N per window and refuses N+1", async (t) => {
  await t.step("remaining counts down, then 429 until the window ends", () => {
    const { t, limiter } = limiterAt(3, { algorithm: "fixed" });
    assert.deepEqual([1, 2, 3].map(() => limiter.check("c").remaining), [2, 1, 0]);
    t.now = 400;
    const refused = limiter.check("c");
    assert.equal(refused.allowed, false);
    assert.equal(refused.remaining, 0);
    assert.equal(refused.retryAfterSeconds, 1);
    t.now = 999;
    assert.equal(limiter.check("c").allowed, false);
    t.now = 1000;
    const again = limiter.check("c");
    assert.equal(again.allowed, true);
    assert.equal(again.remaining, 2);
  });
  await t.step("refused requests are not counted", () => {
    const { t, limiter } = limiterAt(2, { algorithm: "fixed" });
    for (let i = 0; i < 50; i++) limiter.check("c");
    t.now = 1000;
    assert.equal(limiter.check("c").remaining, 1);
  });
  await t.step("clients are limited separately", () => {
    const { limiter } = limiterAt(1, { algorithm: "fixed" });
    assert.equal(limiter.check("a").allowed, true);
    assert.equal(limiter.check("a").allowed, false);
    assert.equal(limiter.check("b").allowed, true);
  });
  await t.step("resetSeconds counts down to the window end in whole seconds", () => {
    const { t, limiter } = limiterAt(100, { algorithm: "fixed", windowSeconds: 60 });
    assert.equal(limiter.check("c").resetSeconds, 60);
    t.now = 59_001;
    assert.equal(limiter.check("c").resetSeconds, 1);
    t.now = 30_500;
    t.now = 60_000 + 30_500;
    assert.equal(limiter.check("c").resetSeconds, 30);
  });
  await t.step("cost counts several units", () => {
    const { limiter } = limiterAt(10, { algorithm: "fixed" });
    assert.equal(limiter.check("c", 7).remaining, 3);
    assert.equal(limiter.check("c", 4).allowed, false);
    assert.equal(limiter.check("c", 3).remaining, 0);
    assert.equal(limiter.check("c", 11).allowed, false);
  });
  await t.step("cost must be a non-negative safe integer; nothing is counted otherwise", () => {
    const { limiter } = limiterAt(2, { algorithm: "fixed" });
    for (const cost of [0.5, 1.9, -1, NaN, Infinity, 2 ** 53]) {
      assert.throws(
        () => limiter.check("c", cost),
        { name: "RangeError", message: /^Cannot check the rate: cost must be a non-negative/ },
        String(cost),
      );
      assert.throws(() => limiter.checkRequest(new Request("http://a.test/"), cost), RangeError);
    }
    assert.equal(limiter.check("c", 0).remaining, 2);
    assert.equal(limiter.check("c", 2).remaining, 0);
  });
});

Deno.test("RateLimiter (sliding window) smooths the boundary burst", async (t) => {
  await t.step("a full window still weighs on the next one", () => {
    const { t, limiter } = limiterAt(10);
    for (let i = 0; i < 10; i++) assert.equal(limiter.check("c").allowed, true);
    t.now = 1000; // previous 10 weighs 10·(1−0) = 10
    assert.equal(limiter.check("c").allowed, false);
    t.now = 1500; // weighs 5: five more fit
    let allowed = 0;
    for (let i = 0; i < 10; i++) if (limiter.check("c").allowed) allowed++;
    assert.equal(allowed, 5);
  });
  await t.step("remaining is the floor of what the estimate leaves", () => {
    const { t, limiter } = limiterAt(10);
    for (let i = 0; i < 4; i++) limiter.check("c");
    t.now = 1250; // prev 4 · 0.75 = 3
    assert.equal(limiter.check("c").remaining, 10 - 3 - 1);
    t.now = 1600; // prev 4 · 0.4 = 1.6, curr 1
    assert.equal(limiter.check("c").remaining, 6); // 10 − 1.6 − 2 = 6.4
  });
});

/** mulberry32: a seeded PRNG for reproducible scenarios. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("Retry-After is honest: refused one second earlier, allowed at Retry-After", async (t) => {
  for (const algorithm of ["fixed", "sliding"] as const) {
    await t.step(algorithm, () => {
      const random = mulberry32(algorithm === "fixed" ? 1 : 2);
      let checked = 0;
      for (let scenario = 0; scenario < 300; scenario++) {
        const limit = 1 + Math.floor(random() * 20);
        const windowSeconds = 1 + Math.floor(random() * 5);
        const { t, limiter } = limiterAt(limit, { algorithm, windowSeconds });
        // Random traffic until a refusal.
        let refused = null;
        for (let i = 0; i < 1000 && refused === null; i++) {
          t.now += Math.floor((random() * windowSeconds * 1000) / limit); // about 2× the limit
          const r = limiter.check("c");
          if (!r.allowed) refused = r;
        }
        assert.ok(refused !== null);
        const at = t.now;
        const wait = refused.retryAfterSeconds * 1000;
        assert.ok(wait >= 1000);
        // A probe one second before Retry-After is refused (probes are not counted).
        if (refused.retryAfterSeconds > 1) {
          t.now = at + wait - 1000;
          assert.equal(limiter.check("c").allowed, false, `scenario ${scenario}: too early`);
        }
        t.now = at + wait;
        assert.equal(
          limiter.check("c").allowed,
          true,
          `scenario ${scenario}: Retry-After too short`,
        );
        checked++;
      }
      assert.equal(checked, 300);
    });
  }
});

Deno.test("RateLimiter header fields follow draft-ietf-httpapi-ratelimit-headers-11", async (t) => {
  await t.step("allowed: RateLimit-Policy and RateLimit", () => {
    const { limiter } = limiterAt(100, { windowSeconds: 60, policy: "per-minute" });
    assert.deepEqual(limiter.check("c").headers(), [
      ["ratelimit-policy", '"per-minute";q=100;w=60'],
      ["ratelimit", '"per-minute";r=99;t=60'],
    ]);
  });
  await t.step("refused: 429, Retry-After, t = Retry-After, problem body", async () => {
    const { limiter } = limiterAt(1, { algorithm: "fixed", windowSeconds: 10 });
    limiter.check("c");
    const result = limiter.check("c");
    const response = limiter.response(result);
    assert.equal(response.status, 429);
    assert.equal(response.headers.get("retry-after"), "10");
    assert.equal(response.headers.get("ratelimit"), '"default";r=0;t=10');
    assert.equal(response.headers.get("ratelimit-policy"), '"default";q=1;w=10');
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(await response.json(), {
      type: "https://iana.org/assignments/http-problem-types#quota-exceeded",
      title: "Quota exceeded",
      status: 429,
      "violated-policies": ["default"],
    });
  });
  await t.step("policy names are escaped as Structured Field Strings", () => {
    const { limiter } = limiterAt(1, { policy: 'a "b" \\c' });
    assert.equal(limiter.check("c").headers()[0]![1], '"a \\"b\\" \\\\c";q=1;w=1');
    assert.throws(
      () => new RateLimiter(1, { policy: "é" }),
      /^TypeError: Cannot create RateLimiter/,
    );
    assert.throws(() => new RateLimiter(1, { policy: "" }), TypeError);
  });
  await t.step("response() refuses an allowed result", () => {
    const { limiter } = limiterAt(1);
    assert.throws(() => limiter.response(limiter.check("c")), /^TypeError: Cannot make a 429/);
  });
});

Deno.test("RateLimiter.checkRequest keys requests", async (t) => {
  await t.step("by client IP by default, ports ignored", () => {
    const { limiter } = limiterAt(1);
    const headers = new Headers();
    assert.equal(limiter.checkRequest({ clientAddr: "192.0.2.1:1000", headers }).allowed, true);
    assert.equal(limiter.checkRequest({ clientAddr: "192.0.2.1:2000", headers }).allowed, false);
    assert.equal(limiter.checkRequest({ clientAddr: "192.0.2.2:1000", headers }).allowed, true);
  });
  await t.step("requests without a key pass uncounted", () => {
    const { limiter } = limiterAt(1, { key: byHeader("x-api-key") });
    const anon = new Request("http://x.test/");
    for (let i = 0; i < 5; i++) {
      const r = limiter.checkRequest(anon);
      assert.equal(r.allowed, true);
      assert.equal(r.remaining, 1);
    }
  });
});

Deno.test("RateLimiter validates its options", () => {
  assert.throws(() => new RateLimiter(-1), /^RangeError: Cannot create RateLimiter: limit/);
  assert.throws(() => new RateLimiter(1.5), RangeError);
  assert.throws(() => new RateLimiter(1, { windowSeconds: 0.5 }), /windowSeconds/);
  assert.throws(
    () => new RateLimiter(1, { algorithm: "leaky" as "fixed" }),
    /^TypeError: Cannot create RateLimiter: unknown algorithm/,
  );
  assert.throws(() => new RateLimiter(1, { slots: 1000 }), /^RangeError: Cannot create Estimator/);
  const limiter = new RateLimiter(7, { windowSeconds: 3 });
  assert.equal(limiter.limit, 7);
  assert.equal(limiter.windowSeconds, 3);
  assert.equal(limiter.memoryBytes, 2 * 4 * 4096 * 4);
});
