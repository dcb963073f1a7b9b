import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import { formatIpv6, parseIpv6 } from "./_address.ts";

Deno.test("Backend", async (t) => {
  await t.step("parses IPv4, IPv6, names, unix paths and omitted ports", () => {
    const cases: [string, string, string, number | undefined][] = [
      ["127.0.0.1:80", "ipv4", "127.0.0.1", 80],
      ["[::1]:443", "ipv6", "::1", 443],
      ["[2001:db8::1]", "ipv6", "2001:db8::1", undefined],
      ["localhost", "name", "localhost", undefined],
      ["api.internal:8080", "name", "api.internal", 8080],
      ["unix:/run/app.sock", "unix", "/run/app.sock", undefined],
    ];
    for (const [address, kind, hostname, port] of cases) {
      const b = new Backend(address);
      assert.deepEqual([b.kind, b.hostname, b.port, b.address], [kind, hostname, port, address]);
    }
  });

  await t.step("rejects malformed addresses and weights", () => {
    for (const bad of ["", "127.0.0.1:", "127.0.0.1:99999", "[::1", "[::1]x", "a b:1", ":80"]) {
      assert.throws(() => new Backend(bad), TypeError, bad);
    }
    for (const weight of [0, -1, 1.5, 65536]) {
      assert.throws(() => new Backend("127.0.0.1:1", { weight }), RangeError);
    }
  });

  await t.step("orders as Pingora: IPv4 < IPv6 numerically, then port, then weight", () => {
    const list = [
      "[::1]:80",
      "10.0.0.10:80",
      "localhost:1",
      "10.0.0.2:81",
      "10.0.0.2:80",
      "[::]:80",
    ].map((a) => new Backend(a));
    list.push(new Backend("10.0.0.2:80", { weight: 2 }));
    list.sort(Backend.compare);
    assert.deepEqual(list.map((b) => `${b.address}/${b.weight}`), [
      "10.0.0.2:80/1",
      "10.0.0.2:80/2",
      "10.0.0.2:81/1",
      "10.0.0.10:80/1",
      "[::]:80/1",
      "[::1]:80/1",
      "localhost:1/1",
    ]);
  });

  await t.step("IPv6 canonical form matches Rust's Display", () => {
    const cases: [string, string][] = [
      ["0:0:0:0:0:0:0:1", "::1"],
      ["::", "::"],
      ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
      ["fe80::0:0:1", "fe80::1"],
    ];
    for (const [input, out] of cases) assert.equal(formatIpv6(parseIpv6(input)!), out, input);
    assert.equal(parseIpv6("1::2::3"), undefined);
    assert.equal(parseIpv6("12345::"), undefined);
  });
});
