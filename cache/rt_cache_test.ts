import assert from "node:assert/strict";
import { ManualClock } from "./clock.ts";
import { type LookupResult, RTCache, type RTCacheOptions } from "./rt_cache.ts";

/** A lookup whose calls the test completes by hand. */
class Lookups<K, V> {
  calls: { key: K; done: PromiseWithResolvers<LookupResult<V>> }[] = [];
  lookup = (key: K): Promise<LookupResult<V>> => {
    const done = Promise.withResolvers<LookupResult<V>>();
    this.calls.push({ key, done });
    return done.promise;
  };
  resolve(n: number, value: V, ttl?: number): void {
    this.calls[n]!.done.resolve(ttl === undefined ? { value } : { value, ttl });
  }
  reject(n: number, error: unknown): void {
    this.calls[n]!.done.reject(error);
  }
}

/** Lets queued promise callbacks run; bounded, no timers. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await Promise.resolve();
  assert.ok(cond(), `timed out waiting for ${what}`);
}

function setup<V = number>(options: Partial<RTCacheOptions<string, V>> = {}) {
  const clock = new ManualClock();
  const lookups = new Lookups<string, V>();
  const cache = new RTCache<string, V>({
    size: 100,
    seed: 1,
    clock,
    lookup: lookups.lookup,
    ...options,
  });
  return { clock, lookups, cache };
}

Deno.test("RTCache coalesces concurrent misses", async (t) => {
  await t.step(
    "three concurrent misses of a key: one lookup, everyone gets its value",
    async () => {
      const { lookups, cache } = setup();
      const pending = [cache.get("k"), cache.get("k"), cache.get("k")];
      assert.equal(lookups.calls.length, 1);
      assert.equal(cache.pendingLookups, 1);
      lookups.resolve(0, 1);
      const results = await Promise.all(pending);
      assert.deepEqual(results, [
        { value: 1, status: "miss" },
        { value: 1, status: "lock_hit" },
        { value: 1, status: "lock_hit" },
      ]);
      assert.deepEqual(await cache.get("k"), { value: 1, status: "hit" });
      assert.equal(lookups.calls.length, 1);
      assert.equal(cache.pendingLookups, 0);
    },
  );

  await t.step("different keys are not coalesced", async () => {
    const { lookups, cache } = setup();
    const a = cache.get("a");
    const b = cache.get("b");
    assert.deepEqual(lookups.calls.map((c) => c.key), ["a", "b"]);
    lookups.resolve(1, 2);
    lookups.resolve(0, 1);
    assert.deepEqual([(await a).value, (await b).value], [1, 2]);
  });

  await t.step("an expired entry is looked up again and reported as expired", async () => {
    const { clock, lookups, cache } = setup();
    const first = cache.get("k", { ttl: 100 });
    lookups.resolve(0, 1);
    await first;
    clock.advance(100);
    const again = cache.get("k", { ttl: 100 });
    assert.equal(lookups.calls.length, 2);
    lookups.resolve(1, 2);
    assert.deepEqual(await again, { value: 2, status: "expired" });
    assert.deepEqual(await cache.get("k"), { value: 2, status: "hit" });
  });

  await t.step("the lookup's TTL overrides the caller's", async () => {
    const { clock, lookups, cache } = setup();
    const p = cache.get("k", { ttl: 1000 });
    lookups.resolve(0, 1, 10);
    await p;
    clock.advance(10);
    assert.equal(cache.cache.get("k").status, "expired");
  });

  await t.step("extra reaches the lookup", async () => {
    const seen: unknown[] = [];
    const cache = new RTCache<string, number, { tenant: string }>({
      size: 10,
      lookup: (_key, extra) => {
        seen.push(extra);
        return { value: 1 };
      },
    });
    await cache.get("k", { extra: { tenant: "t1" } });
    assert.deepEqual(seen, [{ tenant: "t1" }]);
  });

  await t.step("a waiter that finds no cached value after the lookup looks up itself", async () => {
    const { lookups, cache } = setup();
    const writer = cache.get("k");
    const waiter = cache.get("k");
    lookups.resolve(0, 1, 0); // TTL 0: not cached
    assert.deepEqual(await writer, { value: 1, status: "miss" });
    await until(() => lookups.calls.length === 2, "the waiter's own lookup");
    lookups.resolve(1, 2);
    assert.deepEqual(await waiter, { value: 2, status: "miss" });
    assert.deepEqual(await cache.get("k"), { value: 2, status: "hit" });
  });
});

Deno.test("RTCache lockAge and lockTimeout", async (t) => {
  await t.step(
    "lockAge: callers finding a lock older than lockAge look up on their own",
    async () => {
      const { clock, lookups, cache } = setup({ lockAge: 1000 });
      const writer = cache.get("k"); // a lookup that takes 2 s
      clock.advance(500);
      const young = cache.get("k"); // lock 500 ms old: waits
      assert.equal(lookups.calls.length, 1);
      clock.advance(1000);
      const late1 = cache.get("k"); // lock 1.5 s old: own lookup
      const late2 = cache.get("k");
      assert.equal(lookups.calls.length, 3);
      lookups.resolve(1, 2);
      lookups.resolve(2, 3);
      assert.deepEqual(await late1, { value: 2, status: "miss" });
      assert.deepEqual(await late2, { value: 3, status: "miss" });
      assert.equal(cache.cache.get("k").status, "miss"); // their results are not cached
      clock.advance(500);
      lookups.resolve(0, 1);
      assert.deepEqual(await writer, { value: 1, status: "miss" });
      assert.deepEqual(await young, { value: 1, status: "lock_hit" });
      assert.deepEqual(await cache.get("k"), { value: 1, status: "hit" });
      assert.equal(lookups.calls.length, 3);
    },
  );

  await t.step(
    "lockAge boundary: a lock exactly lockAge old still makes callers wait",
    async () => {
      const { clock, lookups, cache } = setup({ lockAge: 1000 });
      const writer = cache.get("k");
      clock.advance(1000);
      const waiter = cache.get("k");
      assert.equal(lookups.calls.length, 1);
      lookups.resolve(0, 1);
      await writer;
      assert.equal((await waiter).status, "lock_hit");
    },
  );

  await t.step(
    "lockTimeout: waiters give up after lockTimeout and look up on their own",
    async () => {
      const { clock, lookups, cache } = setup({ lockTimeout: 1000 });
      const writer = cache.get("k"); // takes 2 s
      const w1 = cache.get("k");
      clock.advance(500);
      const w2 = cache.get("k"); // waits from 500 to 1500
      clock.advance(499);
      for (let i = 0; i < 20; i++) await Promise.resolve();
      assert.equal(lookups.calls.length, 1);
      clock.advance(1); // t = 1000: w1 times out
      await until(() => lookups.calls.length === 2, "w1's own lookup");
      clock.advance(500); // t = 1500: w2 times out
      await until(() => lookups.calls.length === 3, "w2's own lookup");
      lookups.resolve(1, 2);
      lookups.resolve(2, 3);
      assert.deepEqual(await w1, { value: 2, status: "miss" });
      assert.deepEqual(await w2, { value: 3, status: "miss" });
      assert.equal(cache.cache.get("k").status, "miss"); // not cached
      clock.advance(500);
      lookups.resolve(0, 1);
      assert.deepEqual(await writer, { value: 1, status: "miss" });
      assert.deepEqual(await cache.get("k"), { value: 1, status: "hit" });
      assert.equal(clock.pendingTimers, 0);
    },
  );

  await t.step("lockTimeout: a lookup finishing in time clears the waiters' timers", async () => {
    const { clock, lookups, cache } = setup({ lockTimeout: 1000 });
    const writer = cache.get("k");
    const waiter = cache.get("k");
    assert.equal(clock.pendingTimers, 1);
    clock.advance(999);
    lookups.resolve(0, 1);
    await writer;
    assert.deepEqual(await waiter, { value: 1, status: "lock_hit" });
    assert.equal(clock.pendingTimers, 0);
    assert.equal(lookups.calls.length, 1);
  });

  await t.step("bad lockAge or lockTimeout throws RangeError", () => {
    const lookup = () => ({ value: 1 });
    assert.throws(() => new RTCache({ size: 1, lookup, lockAge: -1 }), RangeError);
    assert.throws(() => new RTCache({ size: 1, lookup, lockTimeout: NaN }), RangeError);
  });
});

Deno.test("RTCache lookup errors", async (t) => {
  await t.step("reach the caller and every waiter, and are not cached", async () => {
    const { lookups, cache } = setup();
    const all = [cache.get("k"), cache.get("k"), cache.get("k")].map((p) =>
      p.then(() => "resolved", (e: unknown) => e)
    );
    const boom = new Error("origin down");
    lookups.reject(0, boom);
    const outcomes = await Promise.all(all);
    for (const o of outcomes) assert.equal(o, boom);
    assert.equal(lookups.calls.length, 1);
    assert.equal(cache.pendingLookups, 0);
    assert.equal(cache.cache.get("k").status, "miss");
    // The next get tries again.
    const retry = cache.get("k");
    assert.equal(lookups.calls.length, 2);
    lookups.resolve(1, 7);
    assert.deepEqual(await retry, { value: 7, status: "miss" });
  });

  await t.step("a synchronous throw in lookup becomes a rejection", async () => {
    const cache = new RTCache<string, number>({
      size: 10,
      lookup: () => {
        throw new TypeError("bad key");
      },
    });
    await assert.rejects(cache.get("k"), TypeError);
    assert.equal(cache.pendingLookups, 0);
  });
});

Deno.test("RTCache stale serving", async (t) => {
  await t.step("getStale serves within staleTtl, then looks up", async () => {
    const { clock, lookups, cache } = setup();
    const p = cache.get("k", { ttl: 100 });
    lookups.resolve(0, 1);
    await p;
    assert.deepEqual(await cache.getStale("k", { ttl: 100, staleTtl: 50 }), {
      value: 1,
      status: "hit",
    });
    clock.advance(150);
    assert.deepEqual(await cache.getStale("k", { ttl: 100, staleTtl: 50 }), {
      value: 1,
      status: "stale",
      staleMs: 50,
    });
    assert.equal(lookups.calls.length, 1);
    clock.advance(1);
    const fresh = cache.getStale("k", { ttl: 100, staleTtl: 50 });
    assert.equal(lookups.calls.length, 2);
    lookups.resolve(1, 2);
    assert.deepEqual(await fresh, { value: 2, status: "expired" });
  });

  await t.step(
    "getStaleWhileUpdate serves stale and refreshes once in the background",
    async () => {
      const { clock, lookups, cache } = setup();
      const p = cache.get("k", { ttl: 100 });
      lookups.resolve(0, 1);
      await p;
      clock.advance(150);
      const opts = { ttl: 100, staleTtl: 1000 };
      assert.deepEqual(await cache.getStaleWhileUpdate("k", opts), {
        value: 1,
        status: "stale",
        staleMs: 50,
      });
      assert.equal((await cache.getStaleWhileUpdate("k", opts)).status, "stale");
      assert.equal(lookups.calls.length, 2); // the second refresh waits on the first
      lookups.resolve(1, 2);
      await cache.settled();
      assert.deepEqual(await cache.get("k"), { value: 2, status: "hit" });
      assert.equal(lookups.calls.length, 2);
    },
  );

  await t.step("getStaleWhileUpdate on a miss behaves like get", async () => {
    const { lookups, cache } = setup();
    const p = cache.getStaleWhileUpdate("k", { staleTtl: 10 });
    lookups.resolve(0, 5);
    assert.deepEqual(await p, { value: 5, status: "miss" });
  });

  await t.step(
    "a failed background refresh goes to onBackgroundError; stale keeps serving",
    async () => {
      const errors: [unknown, string][] = [];
      const { clock, lookups, cache } = setup({ onBackgroundError: (e, k) => errors.push([e, k]) });
      const p = cache.get("k", { ttl: 100 });
      lookups.resolve(0, 1);
      await p;
      clock.advance(100);
      assert.equal((await cache.getStaleWhileUpdate("k", { staleTtl: 1000 })).value, 1);
      const boom = new Error("refresh failed");
      lookups.reject(1, boom);
      await cache.settled();
      assert.deepEqual(errors, [[boom, "k"]]);
      assert.equal((await cache.getStale("k", { staleTtl: 1000 })).status, "stale");
    },
  );
});

Deno.test("RTCache multiGet", async (t) => {
  await t.step("one batched lookup for the missing keys; hits from the cache", async () => {
    const batches: string[][] = [];
    const { clock, cache } = setup({
      multiLookup: (keys) => {
        batches.push(keys);
        return Promise.resolve(keys.map((k) => ({ value: k.length })));
      },
    });
    cache.cache.put("hit", 42);
    cache.cache.put("old", 1, { ttl: 10 });
    clock.advance(10);
    const r = await cache.multiGet(["hit", "xy", "old", "xy", "abc"], { ttl: 100 });
    assert.deepEqual(r, [
      { value: 42, status: "hit" },
      { value: 2, status: "miss" },
      { value: 3, status: "expired" },
      { value: 2, status: "miss" },
      { value: 3, status: "miss" },
    ]);
    assert.deepEqual(batches, [["xy", "old", "abc"]]);
    assert.deepEqual(cache.cache.get("abc"), { value: 3, status: "hit" });
    clock.advance(100);
    assert.equal(cache.cache.get("abc").status, "expired");
    assert.deepEqual(await cache.multiGet(["hit"]), [{ value: 42, status: "hit" }]);
    assert.equal(batches.length, 1);
  });

  await t.step("a wrong number of results or a lookup error rejects the call", async () => {
    const short = setup({ multiLookup: () => [{ value: 1 }] });
    await assert.rejects(short.cache.multiGet(["a", "b"]), RangeError);
    const failing = setup({ multiLookup: () => Promise.reject(new Error("down")) });
    await assert.rejects(failing.cache.multiGet(["a"]), /down/);
    assert.equal(failing.cache.cache.get("a").status, "miss");
  });

  await t.step("without multiLookup, each missing key goes through get", async () => {
    const { lookups, cache } = setup();
    const p = cache.multiGet(["a", "b", "a"]);
    assert.deepEqual(lookups.calls.map((c) => c.key), ["a", "b"]);
    lookups.resolve(0, 1);
    lookups.resolve(1, 2);
    assert.deepEqual((await p).map((r) => r.value), [1, 2, 1]);
  });
});
