import assert from "node:assert/strict";
import { Lru } from "./lru.ts";
import { sfc32 } from "./bench/_workload.ts";

const keysOf = <K>(entries: { key: K }[]) => entries.map((e) => e.key);

Deno.test("Lru evicts least recently used entries to the limits", async (t) => {
  await t.step("admit does not evict; evictToLimit evicts oldest first until it fits", () => {
    const lru = new Lru<number, string>({ weightLimit: 10 });
    for (let k = 1; k <= 5; k++) lru.admit(k, `v${k}`, 3);
    assert.equal(lru.weight, 15);
    assert.equal(lru.size, 5);
    assert.deepEqual(lru.evictToLimit(), [
      { key: 1, value: "v1", weight: 3 },
      { key: 2, value: "v2", weight: 3 },
    ]);
    assert.equal(lru.weight, 9);
    assert.equal(lru.evictedWeight, 6);
    assert.equal(lru.evictedSize, 2);
    assert.deepEqual(lru.evictToLimit(), []);
  });

  await t.step(
    "promote, get and admit of an existing key make it most recent; peek does not",
    () => {
      const lru = new Lru<number, number>({ weightLimit: 3 });
      for (let k = 1; k <= 4; k++) lru.admit(k, k, 1);
      lru.promote(1);
      lru.get(2);
      lru.peek(3);
      lru.admit(4, 40, 1);
      assert.deepEqual(keysOf([...lru]), [4, 2, 1, 3]);
      assert.deepEqual(keysOf(lru.evictToLimit()), [3]);
      assert.equal(lru.peek(4), 40);
    },
  );

  await t.step("the item-count watermark bounds entries whatever their weight", () => {
    const lru = new Lru<string, null>({ weightLimit: 1000, watermark: 2 });
    lru.admit("a", null, 0);
    lru.admit("b", null, 0);
    lru.admit("c", null, 0);
    assert.deepEqual(keysOf(lru.evictToLimit()), ["a"]);
    assert.equal(lru.size, 2);
  });

  await t.step("an entry heavier than the limit evicts everything, itself last", () => {
    const lru = new Lru<string, null>({ weightLimit: 5 });
    lru.admit("a", null, 2);
    lru.admit("huge", null, 9);
    assert.deepEqual(keysOf(lru.evictToLimit()), ["a", "huge"]);
    assert.equal(lru.weight, 0);
  });

  await t.step("incrementWeight, insertTail, peekLru, evictOne, remove", () => {
    const lru = new Lru<string, number>({ weightLimit: 10 });
    lru.admit("a", 1, 1);
    lru.admit("b", 2, 1);
    assert.equal(lru.incrementWeight("a", 5), 6);
    assert.equal(lru.incrementWeight("zz", 5), undefined);
    assert.deepEqual(keysOf([...lru]), ["a", "b"]);
    lru.insertTail("c", 3, 1);
    assert.equal(lru.peekLru()?.key, "c");
    assert.equal(lru.peekWeight("a"), 6);
    assert.equal(lru.evictOne()?.key, "c");
    assert.deepEqual(lru.remove("b"), { key: "b", value: 2, weight: 1 });
    assert.equal(lru.remove("b"), undefined);
    assert.equal(lru.weight, 6);
    assert.equal(lru.evictedSize, 1); // remove is not an eviction
    assert.equal(lru.has("a"), true);
  });

  await t.step("matches a reference model under a random workload", () => {
    const rand = sfc32(11);
    const lru = new Lru<number, number>({ weightLimit: 50, watermark: 20 });
    const model: [number, number][] = []; // [key, weight], most recent first
    const find = (k: number) => model.findIndex(([x]) => x === k);
    for (let i = 0; i < 5000; i++) {
      const k = Math.floor(rand() * 60);
      const op = rand();
      if (op < 0.4) {
        const at = find(k);
        assert.equal(lru.get(k) !== undefined, at >= 0);
        if (at >= 0) model.unshift(model.splice(at, 1)[0]!);
      } else if (op < 0.9) {
        const w = Math.floor(rand() * 8);
        lru.admit(k, i, w);
        const at = find(k);
        if (at >= 0) model.splice(at, 1);
        model.unshift([k, w]);
        const evicted = keysOf(lru.evictToLimit());
        const expected: number[] = [];
        let sum = model.reduce((s, [, w]) => s + w, 0);
        while (model.length > 0 && (sum > 50 || model.length > 20)) {
          const [ek, ew] = model.pop()!;
          expected.push(ek);
          sum -= ew;
        }
        assert.deepEqual(evicted, expected);
      } else {
        const at = find(k);
        assert.equal(lru.remove(k) !== undefined, at >= 0);
        if (at >= 0) model.splice(at, 1);
      }
      assert.equal(lru.size, model.length);
    }
    assert.deepEqual(keysOf([...lru]), model.map(([k]) => k));
  });

  await t.step("bad limits and weights throw RangeError", () => {
    assert.throws(() => new Lru({ weightLimit: -1 }), RangeError);
    assert.throws(() => new Lru({ weightLimit: 1, watermark: NaN }), RangeError);
    const lru = new Lru<string, number>({ weightLimit: 1 });
    assert.throws(() => lru.admit("a", 1, -1), RangeError);
    assert.throws(() => lru.admit("a", 1, Infinity), RangeError);
  });
});
