import assert from "node:assert/strict";
import { HttpPeer, parseAddress } from "./peer.ts";

Deno.test("parseAddress", async (t) => {
  await t.step("host:port", () => {
    assert.deepEqual(parseAddress("example.com:80"), {
      transport: "tcp",
      hostname: "example.com",
      port: 80,
    });
  });
  await t.step("[v6]:port", () => {
    assert.deepEqual(parseAddress("[2001:db8::1]:443"), {
      transport: "tcp",
      hostname: "2001:db8::1",
      port: 443,
    });
  });
  await t.step("unix paths", () => {
    assert.deepEqual(parseAddress("unix:/tmp/a.sock"), { transport: "unix", path: "/tmp/a.sock" });
    assert.deepEqual(parseAddress("/tmp/a.sock"), { transport: "unix", path: "/tmp/a.sock" });
  });
  await t.step("rejects malformed addresses with a clear message", () => {
    assert.throws(() => parseAddress("example.com"), /not host:port/);
    assert.throws(() => parseAddress("::1:80"), /IPv6/);
    assert.throws(() => parseAddress("[::1]80"), /\[v6\]:port/);
    assert.throws(() => parseAddress("a:0"), RangeError);
    assert.throws(() => parseAddress("a:65536"), RangeError);
    assert.throws(() => parseAddress("a:8x"), RangeError);
  });
});

Deno.test("HttpPeer.reuseKey covers everything that makes a connection unshareable", () => {
  const base = new HttpPeer("127.0.0.1:443", { tls: true, sni: "a.test" });
  const same = new HttpPeer("127.0.0.1:443", {
    tls: true,
    sni: "a.test",
    options: { readTimeout: 5, connectTimeout: 1 },
  });
  assert.equal(base.reuseKey, same.reuseKey);
  const different = [
    new HttpPeer("127.0.0.1:444", { tls: true, sni: "a.test" }),
    new HttpPeer("127.0.0.1:443", { tls: false }),
    new HttpPeer("127.0.0.1:443", { tls: true, sni: "b.test" }),
    new HttpPeer("127.0.0.1:443", { tls: true, sni: "a.test", options: { caCerts: ["X"] } }),
    new HttpPeer("127.0.0.1:443", { tls: true, sni: "a.test", options: { cert: "C", key: "K" } }),
    new HttpPeer("127.0.0.1:443", { tls: true, sni: "a.test", options: { verifyCert: false } }),
  ];
  const keys = new Set([base.reuseKey, ...different.map((p) => p.reuseKey)]);
  assert.equal(keys.size, different.length + 1);
});

Deno.test("HttpPeer defaults SNI to the address host and authority to the address", () => {
  const p = new HttpPeer("[::1]:8443", { tls: true });
  assert.equal(p.sni, "::1");
  assert.equal(p.authority, "[::1]:8443");
  assert.equal(new HttpPeer("/tmp/x.sock").authority, "localhost");
});
