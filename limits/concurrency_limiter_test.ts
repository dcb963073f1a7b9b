import assert from "node:assert/strict";
import { ConcurrencyLimiter } from "./concurrency_limiter.ts";
import { byHeader } from "./key_extractor.ts";

Deno.test("ConcurrencyLimiter allows at most N in flight per key", async (t) => {
  await t.step("the N+1th is refused until a permit is released", () => {
    const limiter = new ConcurrencyLimiter(2);
    const a = limiter.tryAcquire("k");
    const b = limiter.tryAcquire("k");
    assert.ok(a && b);
    assert.equal(limiter.tryAcquire("k"), null);
    assert.equal(limiter.inflight("k"), 2, "a refusal takes nothing");
    assert.ok(limiter.tryAcquire("other")?.release());
    a.release();
    a.release(); // twice: no effect
    const c = limiter.tryAcquire("k");
    assert.ok(c);
    assert.equal(limiter.tryAcquire("k"), null);
    b.release();
    c.release();
    assert.equal(limiter.inflight("k"), 0);
  });
  await t.step("acquire answers a tagged decision with the refusal response", async () => {
    const limiter = new ConcurrencyLimiter(1, { policy: "conns", retryAfterSeconds: 2 });
    const first = limiter.acquire("k");
    assert.equal(first.kind, "permit");
    const second = limiter.acquire("k");
    assert.equal(second.kind, "respond");
    if (second.kind !== "respond") return;
    const r = second.response;
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("ratelimit-policy"), '"conns";q=1;qu="concurrent-requests"');
    assert.equal(r.headers.get("ratelimit"), '"conns";r=0');
    assert.equal(r.headers.get("retry-after"), "2");
    const body = await r.json();
    assert.equal(
      body.type,
      "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity",
    );
    assert.deepEqual(body["violated-policies"], ["conns"]);
    if (first.kind === "permit") first.permit.release();
  });
  await t.step("status 429 uses the quota-exceeded problem type", async () => {
    const r = new ConcurrencyLimiter(1, { status: 429 }).response();
    assert.equal(r.status, 429);
    assert.match((await r.json()).type, /#quota-exceeded$/);
  });
  await t.step("acquireRequest keys by client IP; keyless requests hold nothing", () => {
    const limiter = new ConcurrencyLimiter(1, { key: byHeader("x-user") });
    const anon = { headers: new Headers() };
    const p1 = limiter.acquireRequest(anon);
    const p2 = limiter.acquireRequest(anon);
    assert.equal(p1.kind, "permit");
    assert.equal(p2.kind, "permit");
    const user = { headers: new Headers({ "x-user": "u1" }) };
    assert.equal(limiter.acquireRequest(user).kind, "permit");
    assert.equal(limiter.acquireRequest(user).kind, "respond");
  });
  await t.step("bad options throw", () => {
    assert.throws(
      () => new ConcurrencyLimiter(-1),
      /^RangeError: Cannot create ConcurrencyLimiter/,
    );
    assert.throws(() => new ConcurrencyLimiter(1, { status: 500 as 503 }), RangeError);
    assert.throws(() => new ConcurrencyLimiter(1, { retryAfterSeconds: -1 }), RangeError);
  });
});

Deno.test("ConcurrencyLimiter under concurrent async handlers never exceeds its limit", async () => {
  const LIMIT = 5;
  const limiter = new ConcurrencyLimiter(LIMIT);
  let running = 0, peak = 0, served = 0, refused = 0;
  async function handler(i: number): Promise<void> {
    const decision = limiter.acquire("client");
    if (decision.kind === "respond") {
      refused++;
      return;
    }
    using _permit = decision.permit;
    running++;
    peak = Math.max(peak, running);
    for (let s = 0; s < (i % 4) + 1; s++) await new Promise<void>((r) => setTimeout(r, 0));
    running--;
    served++;
  }
  // Waves of 20 handlers started together; later waves reuse released permits.
  for (let wave = 0; wave < 10; wave++) {
    await Promise.all(Array.from({ length: 20 }, (_, i) => handler(wave * 20 + i)));
  }
  assert.equal(peak, LIMIT);
  assert.equal(served, 10 * LIMIT);
  assert.equal(refused, 10 * 15);
  assert.equal(limiter.inflight("client"), 0);
});
