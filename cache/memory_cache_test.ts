import assert from "node:assert/strict";
import { ManualClock } from "./clock.ts";
import { MemoryCache } from "./memory_cache.ts";

Deno.test("MemoryCache TTL", async (t) => {
  await t.step("hit before the deadline, expired exactly at it", () => {
    const clock = new ManualClock(1000);
    const cache = new MemoryCache<string, number>({ size: 10, clock, seed: 1 });
    cache.put("a", 1, { ttl: 100 });
    clock.advance(99);
    assert.deepEqual(cache.get("a"), { value: 1, status: "hit" });
    clock.advance(1);
    assert.deepEqual(cache.get("a"), { value: undefined, status: "expired" });
    assert.deepEqual(cache.getStale("a"), { value: 1, status: "stale", staleMs: 0 });
    clock.advance(40);
    assert.deepEqual(cache.getStale("a"), { value: 1, status: "stale", staleMs: 40 });
  });

  await t.step("no TTL never expires; a TTL of 0 or less is not stored", () => {
    const clock = new ManualClock();
    const cache = new MemoryCache<string, number>({ size: 10, clock, seed: 1 });
    assert.equal(cache.put("forever", 1), true);
    assert.equal(cache.put("zero", 2, { ttl: 0 }), false);
    assert.equal(cache.put("negative", 3, { ttl: -5 }), false);
    clock.advance(1e12);
    assert.equal(cache.get("forever").status, "hit");
    assert.equal(cache.get("zero").status, "miss");
    assert.equal(cache.get("negative").status, "miss");
    assert.equal(cache.size, 1);
  });

  await t.step("put again refreshes the deadline; fractional milliseconds count", () => {
    const clock = new ManualClock();
    const cache = new MemoryCache<string, number>({ size: 10, clock, seed: 1 });
    cache.put("a", 1, { ttl: 10 });
    clock.advance(9.5);
    cache.put("a", 2, { ttl: 10 });
    clock.advance(9.9);
    assert.deepEqual(cache.get("a"), { value: 2, status: "hit" });
    clock.advance(0.1);
    assert.equal(cache.get("a").status, "expired");
  });

  await t.step("getStale of a fresh entry is a hit, of an absent one a miss", () => {
    const cache = new MemoryCache<string, number>({ size: 10, clock: new ManualClock() });
    cache.put("a", 1, { ttl: 10 });
    assert.deepEqual(cache.getStale("a"), { value: 1, status: "hit" });
    assert.deepEqual(cache.getStale("b"), { value: undefined, status: "miss" });
  });
});

Deno.test("MemoryCache operations", async (t) => {
  await t.step("remove, multiGet and multiGetWithMiss", () => {
    const clock = new ManualClock();
    const cache = new MemoryCache<string, number>({ size: 10, clock, seed: 1 });
    cache.put("a", 1);
    cache.put("b", 2, { ttl: 5 });
    cache.put("c", 3);
    assert.equal(cache.remove("c"), true);
    assert.equal(cache.remove("c"), false);
    clock.advance(5);
    assert.deepEqual(cache.multiGet(["a", "b", "c"]).map((r) => r.status), [
      "hit",
      "expired",
      "miss",
    ]);
    const { results, missed } = cache.multiGetWithMiss(["c", "a", "b"]);
    assert.deepEqual(results.map((r) => r.value), [undefined, 1, undefined]);
    assert.deepEqual(missed, ["c", "b"]);
  });

  await t.step("size bounds the entry count; put may be refused by admission, forcePut not", () => {
    const cache = new MemoryCache<number, number>({ size: 3, seed: 1 });
    for (let round = 0; round < 3; round++) for (let k = 1; k <= 3; k++) cache.put(k, k);
    assert.equal(cache.size, 3);
    assert.equal(cache.put(99, 99), false); // seen once, loses to keys put three times
    assert.equal(cache.get(99).status, "miss");
    assert.equal(cache.forcePut(99, 99), true);
    assert.equal(cache.get(99).status, "hit");
    assert.equal(cache.size, 3);
  });

  await t.step("a bad size throws RangeError", () => {
    assert.throws(() => new MemoryCache({ size: 0 }), RangeError);
  });
});
