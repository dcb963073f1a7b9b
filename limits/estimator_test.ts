import assert from "node:assert/strict";
import { Estimator, MAX_SLOTS } from "./estimator.ts";

Deno.test("Estimator counts like Pingora's 8 × 8 sketch tests", async (t) => {
  await t.step("incr answers the new estimate per key", () => {
    const est = new Estimator({ hashes: 8, slots: 8 });
    assert.equal(est.incr("a", 1), 1);
    assert.equal(est.incr("b", 1), 1);
    assert.equal(est.incr("a", 2), 3);
    assert.equal(est.incr("b", 2), 3);
  });
  await t.step("decr subtracts", () => {
    const est = new Estimator({ hashes: 8, slots: 8 });
    est.incr("a", 3);
    est.decr("a", 1);
    assert.equal(est.get("a"), 2);
  });
  await t.step("reset clears every counter", () => {
    const est = new Estimator({ hashes: 8, slots: 8 });
    est.incr("a", 3);
    est.incr("b", 4);
    est.reset();
    assert.equal(est.get("a"), 0);
    assert.equal(est.get("b"), 0);
  });
});

Deno.test("Estimator counts a small key set exactly", async (t) => {
  await t.step("200 string keys with distinct counts", () => {
    const est = new Estimator();
    for (let k = 0; k < 200; k++) {
      for (let i = 0; i <= k; i++) est.incr(`client-${k}`);
    }
    for (let k = 0; k < 200; k++) assert.equal(est.get(`client-${k}`), k + 1, `client-${k}`);
    assert.equal(est.get("client-200"), 0);
  });
  await t.step("byte keys, and strings equal bytes only by content", () => {
    const est = new Estimator();
    const a = new TextEncoder().encode("alpha");
    est.incr(a, 5);
    est.incr(Uint8Array.from(a), 2);
    assert.equal(est.get(new TextEncoder().encode("alpha")), 7);
    assert.equal(est.get(new Uint8Array(0)), 0);
  });
  await t.step("hash once, use on several sketches with the same seed", () => {
    const a = new Estimator({ seed: 7 }), b = new Estimator({ seed: 7 });
    const h = a.hash("k");
    assert.equal(h, b.hash("k"));
    a.incrHashed(h, 2);
    b.incrHashed(h, 3);
    assert.equal(a.get("k"), 2);
    assert.equal(b.getHashed(h), 3);
    b.decrHashed(h, 3);
    assert.equal(b.get("k"), 0);
  });
  await t.step("the seed changes the layout but not exact counts", () => {
    const a = new Estimator({ seed: 1 }), b = new Estimator({ seed: 2 });
    assert.notEqual(a.hash("k"), b.hash("k"));
    a.incr("k", 4);
    b.incr("k", 4);
    assert.equal(a.get("k"), b.get("k"));
  });
});

Deno.test("Estimator documents and validates its size", async (t) => {
  await t.step("memory is hashes × slots × 4 bytes", () => {
    assert.equal(new Estimator().memoryBytes, 16 * 1024);
    assert.equal(new Estimator({ hashes: 4, slots: 8192 }).memoryBytes, 128 * 1024);
    const est = new Estimator({ hashes: 3, slots: 64 });
    assert.equal(est.hashes, 3);
    assert.equal(est.slots, 64);
    assert.equal(est.memoryBytes, 3 * 64 * 4);
  });
  await t.step("epsilon = e/slots, delta = e^-hashes", () => {
    const est = new Estimator();
    assert.equal(est.epsilon, Math.E / 1024);
    assert.equal(est.delta, Math.exp(-4));
  });
  await t.step("forAccuracy rounds slots up to a power of two", () => {
    const est = Estimator.forAccuracy(0.01, 0.001);
    assert.equal(est.slots, 512); // e/0.01 = 272 → 512
    assert.equal(est.hashes, 7); // ln(1000) = 6.9
    assert.ok(est.epsilon <= 0.01 && est.delta <= 0.001);
    assert.throws(() => Estimator.forAccuracy(0, 0.1), RangeError);
  });
  await t.step("bad sizes throw RangeError naming the action", () => {
    for (
      const opts of [{ slots: 1000 }, { slots: 0 }, { slots: MAX_SLOTS * 2 }, { hashes: 0 }, {
        hashes: 1.5,
      }]
    ) {
      assert.throws(() => new Estimator(opts), (e) => {
        assert.ok(e instanceof RangeError);
        assert.match(e.message, /^Cannot create Estimator: /);
        return true;
      });
    }
  });
  await t.step("one slot per row counts everything together", () => {
    const est = new Estimator({ hashes: 2, slots: 1 });
    est.incr("a", 2);
    est.incr("b", 3);
    assert.equal(est.get("a"), 5);
  });
});

/** A seeded PRNG (mulberry32) so the stream is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `events` draws from Zipf(s) over `keys` ranks, as counts per rank. */
function zipfStream(keys: number, events: number, s: number, seed: number): Int32Array {
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let r = 0; r < keys; r++) cdf[r] = sum += 1 / Math.pow(r + 1, s);
  const random = mulberry32(seed);
  const ranks = new Int32Array(events);
  for (let i = 0; i < events; i++) {
    const u = random() * sum;
    let lo = 0, hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    ranks[i] = lo;
  }
  return ranks;
}

interface Accuracy {
  underCounts: number;
  overBound: number;
  maxOver: number;
  meanOver: number;
}

function measure(est: Estimator, names: string[], ranks: Int32Array): Accuracy {
  const truth = new Int32Array(names.length);
  for (let i = 0; i < ranks.length; i++) {
    const r = ranks[i]!;
    truth[r]!++;
    est.incr(names[r]!);
  }
  const bound = est.epsilon * ranks.length;
  let underCounts = 0, overBound = 0, maxOver = 0, sumOver = 0;
  for (let r = 0; r < names.length; r++) {
    const over = est.get(names[r]!) - truth[r]!;
    if (over < 0) underCounts++;
    if (over > bound) overBound++;
    if (over > maxOver) maxOver = over;
    sumOver += over;
  }
  return { underCounts, overBound, maxOver, meanOver: sumOver / names.length };
}

Deno.test("Estimator stays within ε·N with probability 1−δ on a Zipf stream of 1M events over 100k keys", async (t) => {
  const KEYS = 100_000, EVENTS = 1_000_000;
  const names = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
  const ranks = zipfStream(KEYS, EVENTS, 1.0, 42);

  await t.step("default 4 × 1024 (16 KiB): ε·N ≈ 2655", () => {
    const est = new Estimator();
    const acc = measure(est, names, ranks);
    assert.equal(acc.underCounts, 0, "a count-min sketch never under-counts");
    // The bound allows δ·KEYS = 1832 keys above ε·N; measured: 1 (max over 3269, mean 358).
    assert.ok(acc.overBound <= est.delta * KEYS, JSON.stringify(acc));
    assert.ok(acc.meanOver < est.epsilon * EVENTS / 4, JSON.stringify(acc));
  });

  await t.step("small 4 × 256 (4 KiB): ε·N ≈ 10618, still within the bound", () => {
    const est = new Estimator({ slots: 256 });
    const acc = measure(est, names, ranks);
    assert.equal(acc.underCounts, 0);
    // Measured: 4 keys above ε·N (allowed 1832), max over 43871, mean 1888.
    assert.ok(acc.overBound <= est.delta * KEYS, JSON.stringify(acc));
  });

  await t.step("tiny 2 × 16: the bound is a bound, not a guarantee of exactness", () => {
    const est = new Estimator({ hashes: 2, slots: 16 });
    const acc = measure(est, names, ranks);
    assert.equal(acc.underCounts, 0);
    assert.ok(acc.meanOver > 1000, "a tiny sketch over-counts a lot");
    // Measured: mean over 49783, max 134004, none above ε·N ≈ 169893.
    assert.ok(acc.overBound <= est.delta * KEYS, JSON.stringify(acc));
  });
});
