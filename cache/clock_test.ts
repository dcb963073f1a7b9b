import assert from "node:assert/strict";
import { ManualClock, systemClock } from "./clock.ts";

Deno.test("ManualClock drives timers by hand", async (t) => {
  await t.step("fires due timers in deadline order, with now() at each deadline", () => {
    const clock = new ManualClock(10);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(["b", clock.now()]), 20);
    clock.setTimeout(() => fired.push(["a", clock.now()]), 5);
    const c = clock.setTimeout(() => fired.push(["c", clock.now()]), 7);
    clock.clearTimeout(c);
    clock.advance(30);
    assert.deepEqual(fired, [["a", 15], ["b", 30]]);
    assert.equal(clock.now(), 40);
    assert.equal(clock.pendingTimers, 0);
  });

  await t.step("a timer scheduled by a firing timer fires in the same advance if due", () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 5);
    }, 5);
    clock.advance(9);
    assert.deepEqual(fired, [5]);
    clock.advance(1);
    assert.deepEqual(fired, [5, 10]);
  });

  await t.step("systemClock is monotonic and its timers can be cleared", () => {
    const a = systemClock.now();
    assert.ok(systemClock.now() >= a);
    const h = systemClock.setTimeout(() => assert.fail("cleared timer fired"), 1);
    systemClock.clearTimeout(h);
  });
});
