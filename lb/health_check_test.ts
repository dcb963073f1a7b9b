import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import { Backends } from "./backends.ts";
import { Health, type HealthCheck } from "./health_check.ts";
import { StaticDiscovery } from "./service_discovery.ts";

/** A check whose verdicts the test sets per address. */
class ScriptedCheck implements HealthCheck {
  up = new Map<string, boolean>();
  flips: [string, boolean][] = [];
  calls = 0;
  constructor(public success = 1, public failure = 1) {}
  check(backend: Backend): Promise<void> {
    this.calls++;
    return this.up.get(backend.address) === false
      ? Promise.reject(new Error(`${backend.address} is down`))
      : Promise.resolve();
  }
  healthThreshold(success: boolean): number {
    return success ? this.success : this.failure;
  }
  onHealthChange(backend: Backend, healthy: boolean): void {
    this.flips.push([backend.address, healthy]);
  }
}

Deno.test("Health applies Pingora's flip rule", async (t) => {
  await t.step("starts healthy and enabled", () => {
    const h = new Health();
    assert.deepEqual([h.healthy, h.enabled, h.ready, h.consecutive], [true, true, true, 0]);
  });

  for (const threshold of [1, 2, 3, 5]) {
    await t.step(`flips on exactly the ${threshold}th consecutive opposite observation`, () => {
      const h = new Health();
      for (let i = 1; i < threshold; i++) {
        assert.equal(h.observe(false, threshold), false);
        assert.equal(h.healthy, true);
        assert.equal(h.consecutive, i);
      }
      assert.equal(h.observe(false, threshold), true);
      assert.equal(h.healthy, false);
      assert.equal(h.consecutive, 0);
      for (let i = 1; i < threshold; i++) assert.equal(h.observe(true, threshold), false);
      assert.equal(h.observe(true, threshold), true);
      assert.equal(h.healthy, true);
    });
  }

  await t.step("an observation equal to the state resets the streak", () => {
    const h = new Health();
    h.observe(false, 3);
    h.observe(false, 3);
    h.observe(true, 3);
    assert.equal(h.consecutive, 0);
    h.observe(false, 3);
    h.observe(false, 3);
    assert.equal(h.healthy, true);
    assert.equal(h.observe(false, 3), true);
  });

  await t.step("disabled is not ready even when healthy", () => {
    const h = new Health();
    h.enabled = false;
    assert.equal(h.ready, false);
  });
});

Deno.test("Backends runs health checks with thresholds and callbacks", async (t) => {
  const addresses = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"];

  await t.step(
    "flips at exactly consecutiveFailure / consecutiveSuccess, callback once each",
    async () => {
      const check = new ScriptedCheck(2, 3);
      const backends = new Backends(StaticDiscovery.fromAddresses(addresses), {
        healthCheck: check,
      });
      await backends.update();
      const b = backends.items[1]!;
      check.up.set(b.address, false);
      await backends.runHealthCheck();
      await backends.runHealthCheck();
      assert.equal(backends.ready(b), true);
      assert.deepEqual(check.flips, []);
      await backends.runHealthCheck();
      assert.equal(backends.ready(b), false);
      assert.deepEqual(check.flips, [[b.address, false]]);
      assert.match(backends.health(b.address)!.lastError!, /is down/);
      check.up.set(b.address, true);
      await backends.runHealthCheck();
      assert.equal(backends.ready(b), false);
      await backends.runHealthCheck();
      assert.equal(backends.ready(b), true);
      assert.deepEqual(check.flips, [[b.address, false], [b.address, true]]);
      assert.equal(backends.health(b.address)!.lastError, undefined);
      assert.equal(check.calls, 15);
    },
  );

  await t.step("sequential checks one at a time, parallel all at once", async () => {
    for (const parallel of [false, true]) {
      let active = 0;
      let peak = 0;
      const check: HealthCheck = {
        async check() {
          active++;
          peak = Math.max(peak, active);
          await Promise.resolve();
          await Promise.resolve();
          active--;
        },
        healthThreshold: () => 1,
      };
      const backends = new Backends(StaticDiscovery.fromAddresses(addresses), {
        healthCheck: check,
      });
      await backends.update();
      await backends.runHealthCheck({ parallel });
      assert.equal(peak, parallel ? 3 : 1);
    }
  });

  await t.step("a throwing callback does not stop the other checks", async () => {
    const check = new ScriptedCheck();
    check.onHealthChange = () => {
      throw new Error("callback bug");
    };
    for (const a of addresses) check.up.set(a, false);
    const backends = new Backends(StaticDiscovery.fromAddresses(addresses), { healthCheck: check });
    await backends.update();
    await backends.runHealthCheck();
    assert.deepEqual(backends.items.map((b) => backends.ready(b)), [false, false, false]);
  });

  await t.step("new backends start healthy; remaining ones keep their state", async () => {
    const discovery = StaticDiscovery.fromAddresses(addresses.slice(0, 2));
    const check = new ScriptedCheck();
    check.up.set(addresses[0]!, false);
    const backends = new Backends(discovery, { healthCheck: check });
    await backends.update();
    await backends.runHealthCheck();
    discovery.set(addresses.map((a) => new Backend(a)));
    assert.equal(await backends.update(), true);
    assert.equal(await backends.update(), false);
    assert.equal(backends.health(addresses[0]!)!.healthy, false);
    assert.equal(backends.health(addresses[2]!)!.healthy, true);
  });

  await t.step("unknown backends are ready only without a health check", () => {
    const stranger = new Backend("127.0.0.9:9");
    const plain = new Backends(StaticDiscovery.fromAddresses(addresses));
    assert.equal(plain.ready(stranger), true);
    const checked = new Backends(StaticDiscovery.fromAddresses(addresses), {
      healthCheck: new ScriptedCheck(),
    });
    assert.equal(checked.ready(stranger), false);
  });

  await t.step("enablement from discovery and from setEnabled()", async () => {
    const backends = new Backends({
      discover: () =>
        Promise.resolve({
          backends: addresses.map((a) => new Backend(a)),
          enabled: new Map([[addresses[0]!, false]]),
        }),
    });
    await backends.update();
    assert.deepEqual(backends.items.map((b) => backends.ready(b)), [false, true, true]);
    backends.setEnabled(addresses[0]!, true);
    backends.setEnabled(addresses[2]!, false);
    assert.deepEqual(backends.items.map((b) => backends.ready(b)), [true, true, false]);
    assert.throws(() => backends.setEnabled("127.0.0.9:9", true), RangeError);
  });

  await t.step("duplicate addresses keep the first; the set is sorted", async () => {
    const backends = new Backends(
      new StaticDiscovery([
        new Backend("127.0.0.10:1"),
        new Backend("127.0.0.2:1", { weight: 3 }),
        new Backend("127.0.0.2:1", { weight: 2 }),
      ]),
    );
    await backends.update();
    assert.deepEqual(backends.items.map((b) => [b.address, b.weight]), [
      ["127.0.0.2:1", 3],
      ["127.0.0.10:1", 1],
    ]);
  });
});
