import assert from "node:assert/strict";
import { Inflight } from "./inflight.ts";

Deno.test("Inflight counts like Pingora's Inflight test", () => {
  const inflight = new Inflight();
  const g1 = inflight.incr("a", 1);
  assert.equal(g1.count, 1);
  const g2 = inflight.incr("a", 2);
  assert.equal(g2.count, 3);
  g1.release();
  assert.equal(g2.get(), 2);
  g2.release();
  const g3 = inflight.incr("a", 1);
  assert.equal(g3.count, 1);
  g3.release();
  assert.equal(inflight.get("a"), 0);
});

Deno.test("InflightGuard releases exactly once", async (t) => {
  await t.step("a double release never goes below what others hold", () => {
    const inflight = new Inflight();
    const a = inflight.incr("k");
    const b = inflight.incr("k");
    assert.equal(a.release(), true);
    assert.equal(a.release(), false);
    a[Symbol.dispose]();
    assert.equal(inflight.get("k"), 1);
    assert.equal(b.release(), true);
    assert.equal(inflight.get("k"), 0);
    assert.equal(b.units, 0);
  });
  await t.step("using releases at scope end, also on throw", () => {
    const inflight = new Inflight();
    assert.throws(() => {
      using _g = inflight.incr("k", 3);
      assert.equal(inflight.get("k"), 3);
      throw new Error("handler failed");
    }, /handler failed/);
    assert.equal(inflight.get("k"), 0);
  });
  await t.step("guard.incr adds units that are released with the guard", () => {
    const inflight = new Inflight();
    const g = inflight.incr("k");
    assert.equal(g.incr(4), 5);
    assert.equal(g.units, 5);
    g.release();
    assert.equal(inflight.get("k"), 0);
    assert.throws(() => g.incr(), /^TypeError: Cannot add to an in-flight guard: it is released$/);
  });
  await t.step("bad unit counts throw", () => {
    const inflight = new Inflight();
    assert.throws(() => inflight.incr("k", -1), RangeError);
    assert.throws(() => inflight.incr("k", 0.5), RangeError);
    assert.equal(inflight.get("k"), 0);
  });
  await t.step("memory is fixed: 4 × 8192 × 4 bytes by default", () => {
    assert.equal(new Inflight().memoryBytes, 128 * 1024);
    assert.equal(new Inflight({ slots: 16, hashes: 2 }).memoryBytes, 128);
  });
});

Deno.test("Inflight guards under concurrency: the count follows the tasks in flight and ends at zero", async () => {
  const inflight = new Inflight();
  const keys = ["a", "b", "c", "d"];
  const live = new Map<string, number>(keys.map((k) => [k, 0]));
  let mismatches = 0;
  let peak = 0;
  async function task(i: number): Promise<void> {
    const key = keys[i % keys.length]!;
    using guard = inflight.incr(key);
    live.set(key, live.get(key)! + 1);
    peak = Math.max(peak, guard.count);
    if (guard.count !== live.get(key)) mismatches++;
    for (let step = 0; step < (i % 5) + 1; step++) {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      if (inflight.get(key) !== live.get(key)) mismatches++;
    }
    live.set(key, live.get(key)! - 1);
    if (i % 3 === 0) guard.release(); // an explicit release before `using` runs: still once
  }
  await Promise.all(Array.from({ length: 400 }, (_, i) => task(i)));
  assert.equal(mismatches, 0);
  assert.equal(peak, 100);
  for (const k of keys) assert.equal(inflight.get(k), 0);
});
