import assert from "node:assert/strict";
import { proportionalRateEstimate, Rate, type RateComponents } from "./rate.ts";

function fakeClock(start = 0): { now: number; clock: () => number } {
  const c = {
    now: start,
    clock: () => c.now,
  };
  return c;
}

const close = (actual: number, expected: number, eps = 0.15) =>
  assert.ok(Math.abs(actual - expected) < eps, `${actual} is not within ${eps} of ${expected}`);

Deno.test("Rate rolls its windows like Pingora's Rate (interval 1 s)", async (t) => {
  await t.step("observe and rate over four intervals", () => {
    const c = fakeClock();
    const r = new Rate(1000, { clock: c.clock });
    assert.equal(r.observe("1", 3), 3);
    assert.equal(r.observe("1", 2), 5);
    assert.equal(r.rate("1"), 0);
    c.now = 1000;
    assert.equal(r.observe("1", 4), 4);
    assert.equal(r.rate("1"), 5);
    c.now = 2000;
    assert.equal(r.rate("1"), 4);
    c.now = 3000;
    assert.equal(r.rate("1"), 0);
  });

  await t.step("a custom 90/10 function over the components", () => {
    const c = fakeClock();
    const r = new Rate(1000, { clock: c.clock });
    const fn = (x: Readonly<RateComponents>) => x.prevSamples * 0.1 + x.currSamples * 0.9;
    r.observe("1", 3);
    r.observe("1", 2);
    close(r.rateWith("1", fn), 4.5);
    c.now = 1000;
    r.observe("1", 4);
    close(r.rateWith("1", fn), 5 * 0.1 + 4 * 0.9);
    c.now = 2000;
    close(r.rateWith("1", fn), 0.4);
    c.now = 3000;
    close(r.rateWith("1", fn), 0);
  });

  await t.step("the proportional estimate through the intervals", () => {
    const c = fakeClock();
    const r = new Rate(1000, { clock: c.clock });
    r.observe("1", 3);
    r.observe("1", 2);
    close(r.estimate("1"), 5);
    c.now = 500;
    close(r.estimate("1"), 5);
    assert.equal(r.rate("1"), 0);
    c.now = 1000;
    r.observe("1", 4);
    close(r.estimate("1"), 9);
    c.now = 1750;
    close(r.estimate("1"), 5 * 0.25 + 4);
    c.now = 2000;
    close(r.estimate("1"), 4);
    assert.equal(r.rate("1"), 4);
    c.now = 2500;
    close(r.estimate("1"), 2);
    assert.equal(r.rate("1"), 4);
    c.now = 3000;
    close(r.estimate("1"), 0);
  });

  await t.step("a 500 ms interval reports events per second", () => {
    const c = fakeClock();
    const r = new Rate(500, { clock: c.clock });
    r.observe("k", 3);
    c.now = 500;
    assert.equal(r.rate("k"), 6);
    c.now = 750;
    close(r.estimate("k"), (3 * 0.5) * 2);
  });
});

Deno.test("Rate resets lazily on the interval grid", async (t) => {
  await t.step("after long silence both windows are empty", () => {
    const c = fakeClock(10_000);
    const r = new Rate(1000, { clock: c.clock });
    r.observe("k", 7);
    c.now = 10_000 + 60_000;
    assert.equal(r.observe("k"), 1);
    assert.equal(r.rate("k"), 0);
  });
  await t.step("boundaries stay at start + k·interval, not at the first late call", () => {
    const c = fakeClock(0);
    const r = new Rate(1000, { clock: c.clock });
    c.now = 2300;
    r.observe("k", 2);
    assert.equal(r.timeToNextInterval(), 700);
    c.now = 2999;
    assert.equal(r.observe("k"), 3);
    c.now = 3000;
    assert.equal(r.observe("k"), 1);
    assert.equal(r.rate("k"), 3);
    assert.equal(r.timeToNextInterval(), 1000);
  });
  await t.step("one roll keeps the previous window exactly one interval back", () => {
    const c = fakeClock(0);
    const r = new Rate(1000, { clock: c.clock });
    r.observe("a", 5);
    c.now = 1999; // still one interval ended
    assert.equal(r.rate("a"), 5);
    c.now = 2000; // two ended: the previous window (1000–2000) had nothing
    assert.equal(r.rate("a"), 0);
  });
  await t.step("a clock that steps back does not roll or go negative", () => {
    const c = fakeClock(5000);
    const r = new Rate(1000, { clock: c.clock });
    r.observe("k", 2);
    c.now = 4000;
    assert.equal(r.observe("k"), 3);
    const fraction = r.rateWith("k", (x) => x.currentIntervalFraction);
    assert.equal(fraction, 0);
  });
  await t.step("keys are independent; byte keys work", () => {
    const c = fakeClock(0);
    const r = new Rate(1000, { clock: c.clock });
    const bytes = new TextEncoder().encode("k");
    r.observe("a", 2);
    r.observe(bytes, 3);
    r.observe("b");
    assert.equal(r.rateWith("a", (x) => x.currSamples), 2);
    assert.equal(r.rateWith(bytes, (x) => x.currSamples), 3);
    assert.equal(r.rateWith("b", (x) => x.currSamples), 1);
  });
});

Deno.test("Rate validates and reports its size", () => {
  assert.throws(() => new Rate(0), /^RangeError: Cannot create Rate: /);
  assert.throws(() => new Rate(Number.NaN), RangeError);
  assert.equal(new Rate(1000).memoryBytes, 2 * 16 * 1024);
  assert.equal(new Rate(1000, { slots: 64, hashes: 2 }).memoryBytes, 2 * 2 * 64 * 4);
  assert.equal(new Rate(250).interval, 250);
});

Deno.test("proportionalRateEstimate weights the previous window by the part still in view", () => {
  const c = { prevSamples: 10, currSamples: 2, interval: 2000, currentIntervalFraction: 0.5 };
  assert.equal(proportionalRateEstimate(c), (10 * 0.5 + 2) / 2);
});

Deno.test("Rate.observeWith reads, decides and counts in one step", async (t) => {
  await t.step("records what fn answers, nothing for 0", () => {
    const c = fakeClock();
    const r = new Rate(1000, { clock: c.clock });
    assert.equal(r.observeWith("k", () => 2), 2);
    assert.equal(r.observeWith("k", () => 0), 2);
    c.now = 1250;
    const seen: number[] = [];
    assert.equal(
      r.observeWith("k", (x) => {
        seen.push(x.prevSamples, x.currSamples, x.currentIntervalFraction, x.interval);
        return 1;
      }),
      1,
    );
    assert.deepEqual(seen, [2, 0, 0.25, 1000]);
  });
  await t.step("the clock is read once per call", () => {
    let reads = 0;
    const r = new Rate(1000, { clock: () => (reads++, 0) });
    reads = 0;
    r.observeWith("k", () => 1);
    assert.equal(reads, 1);
  });
});

Deno.test("Rate takes a clock function or an object with now()", () => {
  const manual = {
    t: 0,
    now() {
      return this.t;
    },
  };
  const r = new Rate(1000, { clock: manual });
  r.observe("k", 2);
  manual.t = 1000;
  assert.equal(r.rate("k"), 2);
});
