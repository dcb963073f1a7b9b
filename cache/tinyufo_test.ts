import assert from "node:assert/strict";
import { type Evicted, TinyUfo } from "./tinyufo.ts";
import { sfc32, zipfSamples } from "./bench/_workload.ts";

/** Pingora's test cache: `TinyUfo::new(5, 5)` (small queue limit 1). */
function cache5(seed = 1): TinyUfo<number, number> {
  return new TinyUfo<number, number>({ weightLimit: 5, estimatedSize: 5, seed });
}

const keys = (evicted: readonly Evicted<number, number>[]) => evicted.map((e) => e.key);

// The Rust tests pin hasher seeds. Ours run under several seeds; with Pingora's tiny
// sketch (3 rows × 16 slots) a seed whose hashes collide in every row could flip an
// admission decision, so these seeds are ones without such collisions (as Pingora's are).
const SEEDS = [1, 2, 3, 42, 0xdeadbeef];

Deno.test("TinyUfo follows Pingora's unit-test scenarios (§8.2)", async (t) => {
  await t.step("new entries go to the small queue; FIFO eviction from small", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      assert.deepEqual(c.put(1, 1, 1), []);
      assert.deepEqual(c.put(2, 2, 2), []);
      assert.deepEqual(c.put(3, 3, 2), []);
      for (const k of [1, 2, 3]) assert.equal(c.queueOf(k), "small");
      const evicted = c.put(4, 4, 3);
      assert.deepEqual(keys(evicted), [1, 2]);
      assert.deepEqual(evicted.map((e) => [e.value, e.weight, e.reason]), [
        [1, 1, "evicted"],
        [2, 2, "evicted"],
      ]);
      assert.equal(c.queueOf(3), "small");
      assert.equal(c.queueOf(4), "small");
      assert.equal(c.weight, 5);
    }
  });

  await t.step("an entry read twice moves to main instead of being evicted", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      c.put(1, 1, 1);
      c.put(2, 2, 2);
      c.put(3, 3, 2);
      c.get(1);
      c.get(1);
      const evicted = c.put(4, 4, 2);
      assert.equal(c.queueOf(1), "main");
      // Pingora: exactly one of {2, 3, 4}, weight 2, leaves (which one depends on the
      // sketch); with no sketch collisions it is 2, the oldest in small.
      assert.equal(evicted.length, 1);
      assert.ok([2, 3, 4].includes(evicted[0]!.key));
      assert.equal(evicted[0]!.weight, 2);
      assert.equal(c.weight, 5);
    }
  });

  await t.step("re-entry: an evicted key put again evicts the next oldest", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      c.put(1, 1, 1);
      c.put(2, 2, 2);
      c.put(3, 3, 2);
      assert.deepEqual(keys(c.put(4, 4, 1)), [1]);
      assert.deepEqual(keys(c.put(1, 1, 1)), [2]);
      assert.equal(c.peek(1), 1);
    }
  });

  await t.step("admission denied: a one-off newcomer loses to a twice-put entry", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      for (let round = 0; round < 2; round++) {
        c.put(1, 1, 1);
        c.put(2, 2, 2);
        c.put(3, 3, 2);
      }
      const evicted = c.put(4, 4, 1);
      assert.deepEqual(evicted, [{ key: 4, value: 4, weight: 1, reason: "rejected" }]);
      for (const k of [1, 2, 3]) assert.equal(c.peek(k), k);
      assert.equal(c.peek(4), undefined);
      assert.equal(c.weight, 5);
    }
  });

  await t.step("forcePut bypasses admission", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      for (let round = 0; round < 2; round++) {
        c.put(1, 1, 1);
        c.put(2, 2, 2);
        c.put(3, 3, 2);
      }
      assert.deepEqual(keys(c.forcePut(4, 4, 1)), [1]);
      assert.equal(c.peek(4), 4);
      assert.equal(c.weight, 5);
    }
  });

  await t.step("evict from main: second chance, then the oldest without uses", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      c.put(1, 1, 1);
      c.put(2, 2, 2);
      c.put(3, 3, 2);
      for (const k of [1, 2, 3]) {
        c.get(k);
        c.get(k);
      }
      assert.deepEqual(keys(c.put(4, 4, 1)), [1]);
      assert.equal(c.queueOf(2), "main");
      assert.equal(c.queueOf(3), "main");
      assert.equal(c.queueOf(4), "small");
      assert.deepEqual(keys(c.put(1, 1, 1)), [4]);
      assert.equal(c.queueOf(1), "small");
    }
  });

  await t.step("remove returns the value, frees the weight; later puts stay bounded", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      c.put(1, 1, 1);
      c.put(2, 2, 2);
      c.put(3, 3, 2);
      assert.equal(c.remove(1), 1);
      assert.equal(c.remove(3), 3);
      assert.equal(c.remove(3), undefined);
      assert.equal(c.get(1), undefined);
      assert.equal(c.get(3), undefined);
      assert.equal(c.weight, 2);
      assert.equal(c.size, 1);
      for (let k = 10; k < 30; k++) {
        c.put(k, k, 1 + (k % 3));
        assert.ok(c.weight <= 5);
      }
    }
  });

  await t.step("uses are capped at 3: ten reads buy no more second chances than three", () => {
    for (const seed of SEEDS) {
      const c = cache5(seed);
      c.put(1, 1, 1);
      c.put(2, 2, 2);
      c.put(3, 3, 2);
      for (let i = 0; i < 10; i++) c.get(1);
      for (let i = 0; i < 3; i++) c.get(2);
      for (let i = 0; i < 3; i++) c.get(3);
      // All three move to main with uses 3; the CLOCK sweep then takes them down evenly
      // and the first in line, 1, goes first despite its extra reads.
      assert.deepEqual(keys(c.put(4, 4, 1)), [1]);
    }
  });
});

Deno.test("TinyUfo respects the weight limit at all times", async (t) => {
  await t.step("under a random workload of mixed weights", () => {
    const rand = sfc32(7);
    const evictedKeys: number[] = [];
    const c = new TinyUfo<number, number>({
      weightLimit: 100,
      estimatedSize: 50,
      seed: 7,
      onEvict: (e) => evictedKeys.push(e.key),
    });
    const model = new Map<number, number>(); // key -> weight, maintained from results
    for (let i = 0; i < 20_000; i++) {
      const k = Math.floor(rand() * 300);
      const op = rand();
      if (op < 0.5) c.get(k);
      else if (op < 0.95) {
        const w = 1 + Math.floor(rand() * 12);
        const out = op < 0.9 ? c.put(k, i, w) : c.forcePut(k, i, w);
        model.set(k, w);
        for (const e of out) model.delete(e.key);
      } else {
        c.remove(k);
        model.delete(k);
      }
      assert.ok(c.weight <= 100, `weight ${c.weight} at op ${i}`);
      if (i % 997 === 0) {
        let sum = 0;
        for (const w of model.values()) sum += w;
        assert.equal(c.weight, sum);
        assert.equal(c.size, model.size);
        for (const key of model.keys()) assert.ok(c.has(key));
      }
    }
    assert.ok(evictedKeys.length > 1000);
  });

  await t.step("an entry heavier than the limit is rejected and evicts nothing", () => {
    const c = new TinyUfo<string, string>({ weightLimit: 10, estimatedSize: 10, seed: 1 });
    c.put("a", "x", 5);
    const out = c.put("big", "y", 11);
    assert.deepEqual(out, [{ key: "big", value: "y", weight: 11, reason: "rejected" }]);
    assert.equal(c.peek("a"), "x");
    assert.equal(c.weight, 5);
  });

  await t.step("growing an entry's weight evicts others (or itself) to fit", () => {
    const c = new TinyUfo<string, number>({ weightLimit: 10, estimatedSize: 10, seed: 1 });
    c.put("a", 1, 4);
    c.put("b", 2, 4);
    const out = c.put("b", 3, 8);
    assert.equal(c.weight <= 10, true);
    assert.deepEqual(out.map((e) => e.key), ["a"]);
    assert.equal(c.peek("b"), 3);
    // Over the limit by itself: the stale old value goes too.
    const out2 = c.put("b", 4, 11);
    assert.deepEqual(out2.map((e) => [e.key, e.reason]), [["b", "rejected"]]);
    assert.equal(c.has("b"), false);
    assert.equal(c.weight, 0);
  });

  await t.step("a full small queue with main empty still makes room", () => {
    const c = new TinyUfo<number, number>({ weightLimit: 20, estimatedSize: 20, seed: 1 });
    c.put(1, 1, 1); // small limit is 3: small holds weight 1 < 3
    const out = c.forcePut(2, 2, 20);
    assert.deepEqual(out.map((e) => e.key), [1]);
    assert.equal(c.weight, 20);
  });

  await t.step("weights must be integers from 1", () => {
    const c = new TinyUfo<number, number>({ weightLimit: 10, estimatedSize: 10 });
    assert.throws(() => c.put(1, 1, 0), RangeError);
    assert.throws(() => c.put(1, 1, 1.5), RangeError);
    assert.throws(() => new TinyUfo({ weightLimit: 0, estimatedSize: 1 }), RangeError);
    assert.throws(() => new TinyUfo({ weightLimit: 1, estimatedSize: 0 }), RangeError);
  });
});

Deno.test("TinyUfo API", async (t) => {
  await t.step("get counts a use, peek does not", () => {
    const c = cache5();
    c.put(1, 1, 1);
    c.put(2, 2, 2);
    c.put(3, 3, 2);
    c.peek(1);
    c.peek(1);
    assert.deepEqual(keys(c.put(4, 4, 3)), [1, 2]); // 1 was not promoted
  });

  await t.step("evictTo evicts in put's order down to a weight, calling onEvict", () => {
    const seen: number[] = [];
    const c = new TinyUfo<number, number>({
      weightLimit: 5,
      estimatedSize: 5,
      seed: 1,
      onEvict: (e) => seen.push(e.key),
    });
    c.put(1, 1, 1);
    c.put(2, 2, 2);
    c.put(3, 3, 2);
    assert.deepEqual(keys(c.evictTo(3)), [1, 2]);
    assert.deepEqual(seen, [1, 2]);
    assert.equal(c.weight, 2);
    assert.deepEqual(c.evictTo(2), []);
    assert.deepEqual(keys(c.evictTo(-1)), [3]);
    assert.equal(c.size, 0);
  });

  await t.step("put of an existing key replaces the value and keeps its place", () => {
    const c = cache5();
    c.put(1, 1, 1);
    assert.deepEqual(c.put(1, 10, 2), []);
    assert.equal(c.get(1), 10);
    assert.equal(c.weight, 2);
    assert.equal(c.size, 1);
  });

  await t.step("onEvict sees every evicted and rejected entry, not removals", () => {
    const seen: [number, string][] = [];
    const c = new TinyUfo<number, number>({
      weightLimit: 5,
      estimatedSize: 5,
      seed: 1,
      onEvict: (e) => seen.push([e.key, e.reason]),
    });
    for (let r = 0; r < 2; r++) {
      c.put(1, 1, 1);
      c.put(2, 2, 2);
      c.put(3, 3, 2);
    }
    c.put(4, 4, 1);
    c.forcePut(5, 5, 1);
    c.remove(2);
    // 1 went back to the small queue's tail when 4 was rejected, so 2 is now the oldest.
    assert.deepEqual(seen, [[4, "rejected"], [2, "evicted"]]);
  });

  await t.step("clear empties the cache and it refills", () => {
    const c = cache5();
    c.put(1, 1, 1);
    c.put(2, 2, 2);
    c.clear();
    assert.equal(c.size, 0);
    assert.equal(c.weight, 0);
    assert.equal(c.get(1), undefined);
    c.put(3, 3, 5);
    assert.equal(c.get(3), 3);
  });

  await t.step("keys of every kind: strings, floats, bigints, bytes, objects", () => {
    const obj = { id: 1 };
    const bytes = new Uint8Array([1, 2, 3]);
    const c = new TinyUfo<unknown, string>({ weightLimit: 100, estimatedSize: 100 });
    const ks: unknown[] = ["", "a", "héllo ☃", 0, -1, 1.5, NaN, 2 ** 40, 12n, -(2n ** 70n), true];
    ks.push(null, undefined, obj, bytes, Symbol("s"));
    for (const k of ks) c.put(k, String(k), 1);
    assert.equal(c.size, ks.length);
    for (const k of ks) assert.equal(c.get(k), String(k));
    assert.equal(c.get(-0), "0"); // SameValueZero, like Map
    assert.equal(c.get({ id: 1 }), undefined); // objects by identity
  });

  await t.step("grows past its initial slot arrays to large sizes", () => {
    const n = 200_000;
    const c = new TinyUfo<number, number>({ weightLimit: n, estimatedSize: 100, seed: 1 });
    for (let i = 0; i < n; i++) c.forcePut(i, i, 1);
    assert.equal(c.size, n);
    assert.equal(c.get(n - 1), n - 1);
    assert.equal(c.get(0), 0);
  });

  await t.step("frequent keys survive a scan of one-off keys (scan resistance)", () => {
    const c = new TinyUfo<number, number>({ weightLimit: 100, estimatedSize: 100, seed: 3 });
    const hot = zipfSamples(50, 1, 5000, 3);
    for (const k of hot) if (c.get(k) === undefined) c.put(k, k, 1);
    for (let k = 1000; k < 11_000; k++) if (c.get(k) === undefined) c.put(k, k, 1);
    let kept = 0;
    for (let k = 1; k <= 10; k++) if (c.peek(k) !== undefined) kept++;
    assert.equal(kept, 10);
  });
});

Deno.test("TinyUfo reproduces the published hit ratio (zipf 1.0, small caches, 300,000 ops)", () => {
  // Published (tinyufo/benches/bench_hit_ratio.rs): 0.5% → 45.15% (LRU 31.08%),
  // 1% → 52.30% (LRU 39.17%). The full 25-cell table is cache/bench/hit_ratio.ts.
  const stream = zipfSamples(10_000, 1.0, 300_000, 1);
  for (const [size, published, lru] of [[50, 45.15, 31.08], [100, 52.30, 39.17]] as const) {
    const c = new TinyUfo<number, boolean>({ weightLimit: size, estimatedSize: size, seed: 1 });
    let hits = 0;
    for (const k of stream) {
      if (c.get(k) !== undefined) hits++;
      else c.put(k, true, 1);
    }
    const ratio = hits / stream.length * 100;
    assert.ok(Math.abs(ratio - published) <= 1.5, `size ${size}: ${ratio}% vs ${published}%`);
    assert.ok(ratio > lru + 10, `size ${size}: ${ratio}% not well ahead of LRU ${lru}%`);
  }
});
