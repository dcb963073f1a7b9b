import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import type { HealthCheck } from "./health_check.ts";
import { LoadBalancer } from "./load_balancer.ts";
import { RoundRobin } from "./round_robin.ts";
import { type Discovered, type ServiceDiscovery, StaticDiscovery } from "./service_discovery.ts";
import { FakeClock } from "./_fake_clock_test_util.ts";
import type { BackgroundService } from "@cirque/core/service";

const ADDRESSES = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"];

class ScriptedCheck implements HealthCheck {
  up = new Map<string, boolean>();
  rounds = 0;
  flips: [string, boolean][] = [];
  constructor(public success: number, public failure: number) {}
  check(backend: Backend): Promise<void> {
    if (backend.address === ADDRESSES[0]) this.rounds++;
    return this.up.get(backend.address) === false
      ? Promise.reject(new Error("down"))
      : Promise.resolve();
  }
  healthThreshold(success: boolean): number {
    return success ? this.success : this.failure;
  }
  onHealthChange(backend: Backend, healthy: boolean): void {
    this.flips.push([backend.address, healthy]);
  }
}

function picks(lb: LoadBalancer<RoundRobin>, n: number): Set<string | undefined> {
  return new Set(Array.from({ length: n }, () => lb.select()?.address));
}

Deno.test("LoadBalancer.select()", async (t) => {
  await t.step("skips backends that are not ready and honours accept", async () => {
    const lb = await LoadBalancer.fromAddresses(ADDRESSES, new RoundRobin());
    assert.deepEqual(picks(lb, 6), new Set(ADDRESSES));
    lb.setEnabled(ADDRESSES[1]!, false);
    assert.deepEqual(picks(lb, 6), new Set([ADDRESSES[0], ADDRESSES[2]]));
    const seen: [string, boolean][] = [];
    const b = lb.select("", 256, (backend, healthy) => {
      seen.push([backend.address, healthy]);
      return backend.address === ADDRESSES[2];
    });
    assert.equal(b?.address, ADDRESSES[2]);
    assert.ok(seen.length >= 1);
    for (const [a, healthy] of seen) assert.equal(healthy, a !== ADDRESSES[1]);
    assert.equal(lb.select("", 256, () => false), undefined);
  });

  await t.step("stops after maxIterations steps", async () => {
    const lb = await LoadBalancer.fromAddresses(ADDRESSES, new RoundRobin());
    let calls = 0;
    assert.equal(lb.select("", 2, () => (calls++, false)), undefined);
    assert.equal(calls, 2);
  });

  await t.step("an empty balancer selects nothing", () => {
    const lb = new LoadBalancer(new RoundRobin(), new StaticDiscovery([]));
    assert.equal(lb.select(), undefined);
    assert.deepEqual(lb.states(), []);
  });

  await t.step("states() reports every backend", async () => {
    const lb = await LoadBalancer.fromAddresses(ADDRESSES, new RoundRobin());
    lb.setEnabled(ADDRESSES[0]!, false);
    const s = lb.states();
    assert.equal(s.length, 3);
    assert.deepEqual(
      s.map((x) => [x.address, x.weight, x.healthy, x.enabled, x.ready]),
      [
        [ADDRESSES[0], 1, true, false, false],
        [ADDRESSES[1], 1, true, true, true],
        [ADDRESSES[2], 1, true, true, true],
      ],
    );
  });

  await t.step("a failed build is retried on the next update", async () => {
    const discovery = StaticDiscovery.fromAddresses(ADDRESSES.slice(0, 1));
    let fail = false;
    const rr = new RoundRobin();
    const selection = {
      build(backends: readonly Backend[]) {
        if (fail) throw new Error("cannot build");
        rr.build(backends);
      },
      select: (key: string | Uint8Array) => rr.select(key),
    };
    const lb = new LoadBalancer(selection, discovery);
    await lb.update();
    fail = true;
    discovery.set(ADDRESSES.map((a) => new Backend(a)));
    await assert.rejects(lb.update(), /cannot build/);
    assert.equal(lb.select()?.address, ADDRESSES[0]);
    fail = false;
    await lb.update();
    assert.equal(new Set(Array.from({ length: 6 }, () => lb.select()?.address)).size, 3);
    assert.ok(lb.lastUpdateTimings.buildMs >= 0);
  });

  await t.step("frequencies must be positive", () => {
    assert.throws(
      () => new LoadBalancer(new RoundRobin(), new StaticDiscovery([]), { updateFrequencyMs: 0 }),
      RangeError,
    );
  });
});

Deno.test("LoadBalancer as a background service (injected clock, no sleeps)", async (t) => {
  await t.step("health flips at exactly the thresholds and traffic follows", async () => {
    const clock = new FakeClock();
    const check = new ScriptedCheck(2, 3);
    const lb = new LoadBalancer(new RoundRobin(), StaticDiscovery.fromAddresses(ADDRESSES), {
      healthCheck: check,
      healthCheckFrequencyMs: 100,
      clock,
    });
    const ac = new AbortController();
    const done = lb.start(ac.signal);
    await clock.sleeping(1);
    assert.equal(check.rounds, 1);
    assert.deepEqual(picks(lb, 6), new Set(ADDRESSES));

    const victim = ADDRESSES[1]!;
    check.up.set(victim, false);
    for (let round = 2; round <= 4; round++) {
      clock.advance(100);
      await clock.sleeping(round);
      assert.equal(check.rounds, round);
      const expectDown = round === 4; // 3 failures: rounds 2, 3, 4
      assert.equal(picks(lb, 6).has(victim), !expectDown, `round ${round}`);
    }
    assert.deepEqual(check.flips, [[victim, false]]);
    assert.equal(lb.states()[1]!.lastCheckedAt, 300);

    check.up.set(victim, true);
    clock.advance(100);
    await clock.sleeping(5);
    assert.equal(picks(lb, 6).has(victim), false); // one success of two
    clock.advance(100);
    await clock.sleeping(6);
    assert.equal(picks(lb, 6).has(victim), true);
    assert.deepEqual(check.flips, [[victim, false], [victim, true]]);

    ac.abort();
    await done;
  });

  await t.step("discovery runs on its own frequency; a failure keeps the last set", async () => {
    const clock = new FakeClock();
    let calls = 0;
    let fail = false;
    let set = ADDRESSES.slice(0, 2);
    const discovery: ServiceDiscovery = {
      discover(): Promise<Discovered> {
        calls++;
        if (fail) return Promise.reject(new Error("resolver down"));
        return Promise.resolve({ backends: set.map((a) => new Backend(a)) });
      },
    };
    const errors: unknown[] = [];
    const lb = new LoadBalancer(new RoundRobin(), discovery, {
      updateFrequencyMs: 1000,
      healthCheckFrequencyMs: 250,
      healthCheck: new ScriptedCheck(1, 1),
      clock,
      onError: (e) => errors.push(e),
    });
    const ac = new AbortController();
    const done = lb.start(ac.signal);
    await clock.sleeping(1);
    assert.equal(calls, 1);
    for (let i = 2; i <= 4; i++) {
      clock.advance(250);
      await clock.sleeping(i);
    }
    assert.equal(calls, 1);
    set = ADDRESSES;
    clock.advance(250);
    await clock.sleeping(5);
    assert.equal(calls, 2);
    assert.deepEqual(picks(lb, 6), new Set(ADDRESSES));
    fail = true;
    clock.advance(1000);
    await clock.sleeping(6);
    assert.equal(calls, 3);
    assert.equal(errors.length, 1);
    assert.deepEqual(picks(lb, 6), new Set(ADDRESSES));
    ac.abort();
    await done;
  });

  await t.step("without frequencies it runs once and returns", async () => {
    const clock = new FakeClock();
    const check = new ScriptedCheck(1, 1);
    const lb = new LoadBalancer(new RoundRobin(), StaticDiscovery.fromAddresses(ADDRESSES), {
      healthCheck: check,
      clock,
    });
    await lb.start(new AbortController().signal);
    assert.equal(check.rounds, 1);
    assert.equal(lb.select()?.address, ADDRESSES[0]);
    assert.equal(clock.sleeps, 0);
  });

  await t.step("an aborted signal stops it at once", async () => {
    const ac = new AbortController();
    ac.abort();
    const lb = new LoadBalancer(new RoundRobin(), StaticDiscovery.fromAddresses(ADDRESSES), {
      updateFrequencyMs: 10,
      clock: new FakeClock(),
    });
    await lb.start(ac.signal);
    assert.equal(lb.select(), undefined);
    assert.equal(lb.name, "load balancer");
  });

  await t.step("the real clock stops on abort too", async () => {
    const lb: BackgroundService & LoadBalancer<RoundRobin> = new LoadBalancer(
      new RoundRobin(),
      StaticDiscovery.fromAddresses(ADDRESSES),
      {
        updateFrequencyMs: 60_000,
        name: "origins",
      },
    );
    const ac = new AbortController();
    const done = lb.start(ac.signal);
    await lb.firstUpdate();
    assert.notEqual(lb.select(), undefined);
    ac.abort();
    await done;
    assert.equal(lb.name, "origins");
  });
});
