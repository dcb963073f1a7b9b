// Pingora's selection vectors and one conformance suite run against every
// BackendSelection implementation.
import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import type { BackendSelection } from "./backend_selection.ts";
import { Consistent } from "./consistent.ts";
import { fnv1a64, FnvHash } from "./fnv_hash.ts";
import { LeastRequests } from "./least_requests.ts";
import { Random } from "./random.ts";
import { RoundRobin } from "./round_robin.ts";
import { UniqueIterator } from "./unique_iterator.ts";
import { prng } from "../core/testdata/prng.ts";

const B1 = "1.1.1.1:80";
const B2 = "1.0.0.1:80";
const B3 = "1.0.0.255:80";

function pingoraSet(b2Weight: number): Backend[] {
  return [new Backend(B1), new Backend(B2, { weight: b2Weight }), new Backend(B3)];
}

function seq(selection: BackendSelection, key: string, n: number): (string | undefined)[] {
  const it = selection.select(key);
  return Array.from({ length: n }, () => it.next()?.address);
}

Deno.test("selection algorithms reproduce Pingora's vectors", async (t) => {
  await t.step("FNV-1a 64 known values", () => {
    const hex = (data: string) => {
      const [hi, lo] = fnv1a64(data);
      return ((BigInt(hi) << 32n) | BigInt(lo)).toString(16).padStart(16, "0");
    };
    assert.equal(hex(""), "cbf29ce484222325");
    assert.equal(hex("a"), "af63dc4c8601ec8c");
    assert.equal(hex("foobar"), "85944171f73967e8");
    assert.equal(hex("é"), hex(new TextDecoder().decode(new Uint8Array([0xc3, 0xa9]))));
  });

  await t.step("FnvHash, b2 weight 10", () => {
    const fnv = new FnvHash();
    fnv.build(pingoraSet(10));
    assert.deepEqual(seq(fnv, "test", 11), [B2, B2, B2, B1, B3, B2, B2, B1, B2, B3, B1]);
    const firsts = ["test1", "test2", "test3", "test4", "test5", "test6", "test7"].map((k) =>
      fnv.select(k).next()?.address
    );
    assert.deepEqual(firsts, [B2, B2, B3, B1, B2, B2, B2]);
    // Byte keys hash like the string's UTF-8.
    assert.deepEqual(seq(fnv, "test", 11), [
      ...(() => {
        const it = fnv.select(new TextEncoder().encode("test"));
        return Array.from({ length: 11 }, () => it.next()?.address);
      })(),
    ]);
  });

  await t.step("RoundRobin, b2 weight 8, one shared counter", () => {
    const rr = new RoundRobin();
    rr.build(pingoraSet(8));
    assert.deepEqual(seq(rr, "test", 5), [B2, B3, B1, B2, B3]);
    const firsts = Array.from({ length: 7 }, () => rr.select("test1").next()?.address);
    assert.deepEqual(firsts, [B2, B2, B2, B3, B1, B2, B2]);
  });

  await t.step("Random, b2 weight 8: 10,000 first picks, b2 in 7000..=9000", () => {
    const random = new Random();
    random.build(pingoraSet(8));
    let b2 = 0;
    for (let i = 0; i < 10_000; i++) if (random.select("").next()?.address === B2) b2++;
    assert.ok(b2 >= 7000 && b2 <= 9000, `b2 picked ${b2} times`);
  });

  await t.step("Consistent (ketama), weights 1, then without b3", () => {
    const ketama = new Consistent();
    ketama.build(pingoraSet(1));
    const expected = [B2, B1, B1, B1, B1, B3, B1, B3, B1, B2];
    expected.forEach((address, i) =>
      assert.equal(ketama.select(`test${i}`).next()?.address, address)
    );
    ketama.build([new Backend(B1), new Backend(B2)]);
    expected[5] = B2;
    expected[7] = B1;
    expected.forEach((address, i) =>
      assert.equal(ketama.select(`test${i}`).next()?.address, address)
    );
  });
});

interface Algorithm {
  name: string;
  make: () => BackendSelection;
  keyed: boolean;
  /** Relative tolerance of the 100k-pick weighted distribution. */
  tolerance: number;
}

const ALGORITHMS: Algorithm[] = [
  { name: "RoundRobin", make: () => new RoundRobin(), keyed: false, tolerance: 0.001 },
  {
    name: "Random",
    make: () => new Random({ random: prng(1) }),
    keyed: false,
    tolerance: 0.05,
  },
  { name: "FnvHash", make: () => new FnvHash(), keyed: true, tolerance: 0.05 },
  // 160 ring points per weight unit: each server's arc is only roughly proportional.
  { name: "Consistent", make: () => new Consistent(), keyed: true, tolerance: 0.2 },
  {
    name: "LeastRequests",
    make: () => new LeastRequests({ random: prng(2) }),
    keyed: false,
    tolerance: 0.05,
  },
];

const WEIGHTED = [
  new Backend("127.0.0.1:8001", { weight: 1 }),
  new Backend("127.0.0.1:8002", { weight: 2 }),
  new Backend("127.0.0.1:8003", { weight: 3 }),
  new Backend("127.0.0.1:8004", { weight: 4 }),
];

for (const algo of ALGORITHMS) {
  Deno.test(`${algo.name} passes the BackendSelection conformance suite`, async (t) => {
    await t.step("an empty set selects nothing", () => {
      const s = algo.make();
      assert.equal(s.select("k").next(), undefined);
      s.build([]);
      assert.equal(s.select("k").next(), undefined);
    });

    await t.step("a single backend is always the pick and the fallback", () => {
      const s = algo.make();
      const only = new Backend("127.0.0.1:9000");
      s.build([only]);
      for (let i = 0; i < 20; i++) {
        const it = s.select(`k${i}`);
        assert.equal(it.next()?.address, only.address);
        assert.equal(it.next()?.address, only.address);
      }
    });

    await t.step("failover reaches every backend within 256 steps", () => {
      const s = algo.make();
      const list = Array.from({ length: 12 }, (_, i) => new Backend(`127.0.0.${i + 1}:80`));
      s.build(list);
      for (let k = 0; k < 50; k++) {
        const it = new UniqueIterator(s.select(`key-${k}`), 256);
        const seen = new Set<string>();
        for (let b = it.next(); b !== undefined; b = it.next()) seen.add(b.address);
        assert.equal(seen.size, list.length, `key-${k}`);
      }
    });

    await t.step("build() replaces the set: removed backends are never picked", () => {
      const s = algo.make();
      s.build(WEIGHTED);
      s.build(WEIGHTED.slice(0, 2));
      for (let i = 0; i < 500; i++) {
        const it = new UniqueIterator(s.select(`k${i}`), 256);
        for (let b = it.next(); b !== undefined; b = it.next()) {
          assert.ok(b === WEIGHTED[0] || b === WEIGHTED[1], b.address);
        }
      }
    });

    await t.step("input order does not matter", () => {
      const a = algo.make();
      const b = algo.make();
      a.build(WEIGHTED);
      b.build([...WEIGHTED].reverse());
      if (algo.keyed) {
        for (let i = 0; i < 200; i++) {
          assert.equal(a.select(`k${i}`).next(), b.select(`k${i}`).next());
        }
      } else {
        for (let i = 0; i < 20; i++) {
          assert.equal(a.select("").next()?.address, b.select("").next()?.address);
        }
      }
    });

    await t.step("100k first picks follow weights 1:2:3:4 within tolerance", () => {
      const s = algo.make();
      s.build(WEIGHTED);
      const counts = new Map<string, number>();
      const n = 100_000;
      for (let i = 0; i < n; i++) {
        const b = s.select(algo.keyed ? `user-${i}` : "").next()!;
        counts.set(b.address, (counts.get(b.address) ?? 0) + 1);
      }
      for (const b of WEIGHTED) {
        const expected = n * b.weight / 10;
        const got = counts.get(b.address) ?? 0;
        assert.ok(
          Math.abs(got - expected) <= expected * algo.tolerance,
          `${b.address}: ${got} picks, expected ${expected} ±${algo.tolerance * 100}%`,
        );
      }
    });
  });
}

Deno.test("LeastRequests prefers idle backends", async (t) => {
  const list = Array.from({ length: 4 }, (_, i) => new Backend(`127.0.0.1:${9000 + i}`));

  await t.step("of two backends, the idle one always wins", () => {
    const lr = new LeastRequests({ random: prng(3) });
    lr.build(list.slice(0, 2));
    lr.start(list[0]!);
    for (let i = 0; i < 1000; i++) assert.equal(lr.select("").next(), list[1]);
    lr.end(list[0]!);
    assert.equal(lr.inflight(list[0]!), 0);
  });

  await t.step("one idle of four gets half the picks (vs a quarter when blind)", () => {
    const lr = new LeastRequests({ random: prng(4) });
    lr.build(list);
    for (const b of list.slice(1)) for (let i = 0; i < 5; i++) lr.start(b);
    let idle = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) if (lr.select("").next() === list[0]) idle++;
    // Two distinct candidates: P(idle among them) = 1 - (3/4)(2/3) = 1/2.
    assert.ok(Math.abs(idle / n - 0.5) < 0.02, `idle picked ${idle} of ${n}`);
  });

  await t.step("load is compared per unit of weight", () => {
    const heavy = new Backend("127.0.0.1:9100", { weight: 4 });
    const light = new Backend("127.0.0.1:9101", { weight: 1 });
    const lr = new LeastRequests({ random: prng(5) });
    lr.build([heavy, light]);
    for (let i = 0; i < 3; i++) lr.start(heavy); // 3/4 per weight unit
    lr.start(light); // 1/1
    for (let i = 0; i < 100; i++) assert.equal(lr.select("").next(), heavy);
  });

  await t.step("simulated traffic: requests in flight spread evenly", () => {
    const lr = new LeastRequests({ random: prng(6) });
    lr.build(list);
    const open: Backend[] = [];
    for (let i = 0; i < 10_000; i++) {
      const b = lr.select("").next()!;
      lr.start(b);
      open.push(b);
      if (open.length > 40) lr.end(open.shift()!);
    }
    const loads = list.map((b) => lr.inflight(b));
    assert.equal(loads.reduce((a, b) => a + b, 0), 40);
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 4, `loads ${loads}`);
  });

  await t.step("in-flight counts survive a rebuild; unknown backends are ignored", () => {
    const lr = new LeastRequests();
    lr.build(list);
    lr.start(list[2]!);
    lr.build([list[2]!, list[3]!]);
    assert.equal(lr.inflight(list[2]!), 1);
    lr.start(list[0]!);
    assert.equal(lr.inflight(list[0]!), 0);
    lr.end(list[3]!);
    assert.equal(lr.inflight(list[3]!), 0);
  });

  await t.step("choices must be at least 1", () => {
    assert.throws(() => new LeastRequests({ choices: 0 }), RangeError);
  });
});
