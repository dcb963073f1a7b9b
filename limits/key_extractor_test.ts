import assert from "node:assert/strict";
import { byClientIp, byHeader, type KeyExtractor, type RequestLike } from "./key_extractor.ts";

const req = (clientAddr?: string, headers: Record<string, string> = {}): RequestLike =>
  clientAddr === undefined
    ? { headers: new Headers(headers) }
    : { clientAddr, headers: new Headers(headers) };

Deno.test("byClientIp keys by the IP without the port", async (t) => {
  const key = byClientIp({ ipv6PrefixLength: 128 });
  const cases: [string, string | null][] = [
    ["203.0.113.7", "203.0.113.7"],
    ["203.0.113.7:51000", "203.0.113.7"],
    ["2001:db8::1", "2001:db8::1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["[2001:DB8:0:0:0:0:0:1]:443", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["fe80::1%eth0", "fe80::1"],
    ["::1", "::1"],
    ["::", "::"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["[::ffff:c000:201]:80", "192.0.2.1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["not:an:ip:address", "not:an:ip:address"],
    ["", null],
  ];
  for (const [addr, want] of cases) {
    await t.step(`${JSON.stringify(addr)} → ${want}`, () => assert.equal(key(req(addr)), want));
  }
  await t.step("no address → null", () => assert.equal(key(req()), null));
});

Deno.test("byClientIp groups IPv6 clients by network prefix", async (t) => {
  await t.step("default /64", () => {
    const key = byClientIp();
    assert.equal(key(req("[2001:db8:1:2:aaaa::1]:5")), "2001:db8:1:2::/64");
    assert.equal(key(req("2001:db8:1:2:bbbb:cccc:dddd:eeee")), "2001:db8:1:2::/64");
    assert.notEqual(key(req("2001:db8:1:3::1")), key(req("2001:db8:1:2::1")));
    assert.equal(key(req("198.51.100.4:1")), "198.51.100.4");
  });
  await t.step("a prefix inside a group masks its bits", () => {
    const key = byClientIp({ ipv6PrefixLength: 56 });
    assert.equal(key(req("2001:db8:1:2ff::1")), "2001:db8:1:200::/56");
    assert.equal(byClientIp({ ipv6PrefixLength: 0 })(req("2001:db8::1")), "::/0");
  });
  await t.step("bad prefix lengths throw", () => {
    assert.throws(
      () => byClientIp({ ipv6PrefixLength: 129 }),
      /^RangeError: Cannot create key extractor/,
    );
  });
});

Deno.test("byHeader keys by a header value", async (t) => {
  await t.step("present, missing, empty", () => {
    const key = byHeader("X-Api-Key");
    assert.equal(key(req(undefined, { "x-api-key": "team-a" })), "team-a");
    assert.equal(key(req(undefined, {})), null);
    assert.equal(key(req(undefined, { "x-api-key": "" })), null);
  });
  await t.step("first element of a list", () => {
    const key = byHeader("x-forwarded-for", { first: true });
    assert.equal(
      key(req(undefined, { "x-forwarded-for": " 198.51.100.9 , 10.0.0.1" })),
      "198.51.100.9",
    );
    assert.equal(key(req(undefined, { "x-forwarded-for": "198.51.100.9" })), "198.51.100.9");
    assert.equal(key(req(undefined, { "x-forwarded-for": " , 10.0.0.1" })), null);
  });
  await t.step("bad names throw", () => {
    assert.throws(() => byHeader("bad name"), /^TypeError: Cannot create key extractor/);
  });
});

Deno.test("a custom function is a KeyExtractor", () => {
  const byTenant: KeyExtractor = (input) => input.headers.get("host")?.split(".")[0] ?? null;
  assert.equal(byTenant(req(undefined, { host: "acme.example.com" })), "acme");
});
