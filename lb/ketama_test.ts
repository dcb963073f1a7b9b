import assert from "node:assert/strict";
import { Continuum, type ContinuumBucket } from "./ketama.ts";

const HERE = new URL("./testdata/", import.meta.url);

function ring(addresses: string[], compat?: "nginx" | "pingora"): Continuum {
  return new Continuum(
    addresses.map((address) => ({ address, weight: 1 })),
    compat ? { compat } : {},
  );
}

function take(it: Iterator<string>, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

interface Recording {
  description: string;
  servers: ContinuumBucket[];
  records: [string, string][];
}

async function recording(name: string): Promise<Recording> {
  return JSON.parse(await Deno.readTextFile(new URL(`nginx_${name}.json`, HERE)));
}

Deno.test("Continuum reproduces pingora-ketama's published vectors", async (t) => {
  for (const compat of ["nginx", "pingora"] as const) {
    await t.step(`matches_nginx_sample (${compat})`, () => {
      const r = ring(["127.0.0.1:7777", "127.0.0.1:7778"], compat);
      const expected: [string, string][] = [
        ["/some/path", "127.0.0.1:7778"],
        ["/some/longer/path", "127.0.0.1:7777"],
        ["/sad/zaidoon", "127.0.0.1:7778"],
        ["/g", "127.0.0.1:7777"],
        ["/pingora/team/is/cool/and/this/is/a/long/uri", "127.0.0.1:7778"],
        ["/i/am/not/confident/in/this/code", "127.0.0.1:7777"],
      ];
      for (const [key, address] of expected) assert.equal(r.node(key), address, key);
    });
  }

  await t.step("consistency_after_adding_host", () => {
    const hosts = Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 1}:6443`);
    for (const list of [hosts, [...hosts, "127.0.0.11:6443"]]) {
      const r = ring(list, "pingora");
      assert.equal(r.node("a"), "127.0.0.10:6443");
      assert.equal(r.node("b"), "127.0.0.5:6443");
    }
  });

  await t.step("node_iter", () => {
    const p = (port: number) => `127.0.0.1:${port}`;
    const r3 = ring([p(7777), p(7778), p(7779)], "pingora");
    assert.deepEqual(
      take(r3.nodeIter("doghash"), 8),
      [7778, 7779, 7779, 7777, 7777, 7778, 7778, 7779].map(p),
    );
    const r2 = ring([p(7777), p(7779)], "pingora");
    assert.deepEqual(take(r2.nodeIter("doghash"), 5), [7779, 7779, 7777, 7777, 7779].map(p));
    // Byte keys hash the same as their string.
    assert.deepEqual(
      take(r2.nodeIter(new TextEncoder().encode("doghash")), 5),
      take(r2.nodeIter("doghash"), 5),
    );
  });

  await t.step("the walk wraps: it repeats itself every size points", () => {
    const single = ring(["127.0.0.1:7777"], "pingora");
    assert.equal(single.size, 160);
    assert.deepEqual(new Set(take(single.nodeIter("doghash"), 161)), new Set(["127.0.0.1:7777"]));
    const r = ring(["127.0.0.1:7777", "127.0.0.1:7778"], "pingora");
    assert.equal(r.size, 320);
    const walk = take(r.nodeIter("doghash"), 2 * r.size);
    for (let i = 0; i < r.size; i++) assert.equal(walk[i], walk[i + r.size]);
    const start = r.pointIndex("doghash");
    assert.equal(r.bucketAt(start + r.size), r.bucketAt(start));
  });

  await t.step("test_empty", () => {
    const r = new Continuum([]);
    assert.equal(r.node("doghash"), undefined);
    assert.equal(r.pointIndex("doghash"), -1);
    assert.deepEqual(take(r.nodeIter("doghash"), 3), []);
  });

  await t.step("test_ipv6_ring (pingora compat: no brackets)", () => {
    const p = (port: number) => `[::1]:${port}`;
    const r = ring([p(7777), p(7778), p(7779)], "pingora");
    assert.deepEqual(
      take(r.nodeIter("doghash"), 7),
      [7777, 7778, 7777, 7778, 7778, 7777, 7779].map(p),
    );
    // The same servers written differently hash identically: the IP is canonicalised.
    const written: Record<number, string> = {
      7777: "[0:0::1]:7777",
      7778: "[::1]:7778",
      7779: "[0::0:1]:7779",
    };
    const r2 = ring(Object.values(written), "pingora");
    assert.deepEqual(
      take(r2.nodeIter("doghash"), 7),
      [7777, 7778, 7777, 7778, 7778, 7777, 7779].map((port) => written[port]),
    );
    assert.equal(r2.node("doghash"), "[0:0::1]:7777");
  });

  await t.step("crate example (weights 1, 2, 3)", () => {
    const r = new Continuum([
      { address: "127.0.0.1:12345", weight: 1 },
      { address: "127.0.0.2:12345", weight: 2 },
      { address: "127.0.0.3:12345", weight: 3 },
    ]);
    assert.equal(r.node("some_key"), "127.0.0.3:12345");
    assert.equal(r.node("another_key"), "127.0.0.3:12345");
    assert.equal(r.node("last_key"), "127.0.0.2:12345");
  });

  await t.step("matches_nginx_sample_data (first ten rows of the CSV)", () => {
    const r = new Continuum(
      Array.from({ length: 9 }, (_, i) => ({ address: `10.0.0.${i + 1}:443`, weight: 100 })),
    );
    const rows: [string, number][] = [
      ["/81fa1d251d605775d647b5b55565e71526d4cef6", 7],
      ["/2fec328e6ccdda6a7edf329f9f780e546ea183b4", 5],
      ["/19fb835d90883a6263ec4279c6da184e3f1a79b2", 4],
      ["/da7a88e542f7aaddc074f988164b9df7e5f7fea6", 4],
      ["/8f87cfd8005306643b6528b3d4125cf005139a7e", 5],
      ["/26d2769eab098458bc3e4e641a4b7d8abffd0aea", 6],
      ["/aa5b5323980f2d3e21246212ebd820c3949c1e88", 7],
      ["/d9c4bc3cc4517c629e8f4c911c2fd8baf260ae65", 1],
      ["/28c1c069a2904bb3b3e0f9731b1ff8de9ab7a76d", 4],
      ["/fe5199bdfeee5cd431ae7e9f77f178164f9995a0", 9],
    ];
    for (const [uri, host] of rows) assert.equal(r.node(uri), `10.0.0.${host}:443`, uri);
  });
});

Deno.test("Continuum.node() matches nginx's ring on recorded data", async (t) => {
  for (const name of ["ipv4", "ipv6", "no_port", "hostname", "tie_ab", "tie_ba", "weight100"]) {
    await t.step(name, async () => {
      const data = await recording(name);
      assert.ok(data.records.length >= 1000);
      const r = new Continuum(data.servers);
      let mismatches = 0;
      for (const [key, address] of data.records) if (r.node(key) !== address) mismatches++;
      assert.equal(mismatches, 0);
    });
  }

  await t.step("on a ring-point tie the first-configured server wins", async () => {
    const ab = await recording("tie_ab");
    const ba = await recording("tie_ba");
    const [a, b] = [ab.servers[0]!.address, ab.servers[1]!.address];
    assert.equal(ba.servers[0]!.address, b);
    // The first 50 keys of both recordings land on the shared point.
    for (let i = 0; i < 50; i++) {
      assert.equal(ab.records[i]![1], a);
      assert.equal(ba.records[i]![1], b);
      assert.equal(new Continuum(ab.servers).node(ab.records[i]![0]), a);
      assert.equal(new Continuum(ba.servers).node(ba.records[i]![0]), b);
    }
  });

  await t.step("pingora compat differs from nginx for bracketed IPv6", async () => {
    const data = await recording("ipv6");
    const v6 = data.servers.filter((s) => s.address.startsWith("["));
    const nginx = new Continuum(v6);
    const pingora = new Continuum(v6, { compat: "pingora" });
    const differ = data.records.filter(([k]) => nginx.node(k) !== pingora.node(k)).length;
    assert.ok(differ > 100, `only ${differ} keys differ`);
  });
});

Deno.test("Continuum validates its input", async (t) => {
  await t.step("weights must be positive integers", () => {
    assert.throws(() => new Continuum([{ address: "127.0.0.1:1", weight: 0 }]), RangeError);
    assert.throws(() => new Continuum([{ address: "127.0.0.1:1", weight: 1.5 }]), RangeError);
  });
  await t.step("pingora compat needs IP:port", () => {
    assert.throws(() => ring(["localhost:80"], "pingora"), TypeError);
    assert.throws(() => ring(["127.0.0.1"], "pingora"), TypeError);
  });
  await t.step("nginx mode hashes an omitted port as empty, not as 80", () => {
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    const a = ring(["127.0.0.2", "127.0.0.3"]);
    const b = ring(["127.0.0.2:80", "127.0.0.3:80"]);
    assert.ok(keys.some((k) => a.node(k)!.replace(/$/, ":80") !== b.node(k)));
  });
  await t.step("pointsPerWeight must be a positive integer", () => {
    assert.throws(
      () =>
        new Continuum([{ address: "127.0.0.1:1", weight: 1 }], {
          pointsPerWeight: 0,
        }),
      RangeError,
    );
  });
});
