import assert from "node:assert/strict";
import { CacheControl, DELTA_SECONDS_MAX } from "./cache_control.ts";
import { formatHttpDate, parseHttpDate } from "./http_date.ts";

Deno.test("CacheControl parses leniently (RFC 9111 §5.2, §4.2.1, §1.2.2)", async (t) => {
  await t.step("§5.2: names are case-insensitive, spacing between directives is tolerated", () => {
    const cc = CacheControl.parse("  Max-Age=5 ,, PUBLIC ,no-cache");
    assert.equal(cc.seconds("max-age"), 5);
    assert.ok(cc.has("public"));
    assert.ok(cc.has("no-cache"));
  });
  await t.step("§5.2: quoted-string arguments are accepted", () => {
    const cc = CacheControl.parse('max-age="30", private="Set-Cookie, X-Y", ext="a,b"');
    assert.equal(cc.seconds("max-age"), 30);
    assert.deepEqual(cc.fieldNames("private"), ["set-cookie", "x-y"]);
    assert.equal(cc.directives.get("ext"), "a,b");
  });
  await t.step("§4.2.1: the first of duplicate directives counts", () => {
    assert.equal(CacheControl.parse(["max-age=10", "max-age=20"]).seconds("max-age"), 10);
    assert.equal(CacheControl.parse("max-age=10, max-age=20").seconds("max-age"), 10);
  });
  await t.step("§4.2.1: invalid delta-seconds read as 0 (stale)", () => {
    for (
      const v of [
        "max-age=-1",
        "max-age=abc",
        "max-age",
        "max-age=",
        "max-age='3600'",
        "max-age =3600",
        "max-age= 3600",
      ]
    ) {
      assert.equal(CacheControl.parse(v).seconds("max-age"), 0, v);
    }
  });
  await t.step("§5.2: max-age inside another directive's quoted string is ignored", () => {
    assert.equal(CacheControl.parse('ext="max-age=3600", max-age=1').seconds("max-age"), 1);
    assert.equal(CacheControl.parse('max-age=1, ext="max-age=3600"').seconds("max-age"), 1);
  });
  await t.step("leading digits count: 003600, 3600.5", () => {
    assert.equal(CacheControl.parse("max-age=003600").seconds("max-age"), 3600);
    assert.equal(CacheControl.parse("max-age=3600.5").seconds("max-age"), 3600);
  });
  await t.step("§1.2.2: overflowing delta-seconds are capped at 2^31", () => {
    assert.equal(
      CacheControl.parse("max-age=99999999999999999999").seconds("max-age"),
      DELTA_SECONDS_MAX,
    );
  });
  await t.step("absent directive is undefined; empty input is empty", () => {
    assert.equal(CacheControl.parse("public").seconds("max-age"), undefined);
    assert.ok(CacheControl.parse(null).isEmpty);
    assert.ok(CacheControl.parse([]).isEmpty);
  });
});

Deno.test("HTTP-date parsing (RFC 9110 §5.6.7, RFC 9111 §5.3)", async (t) => {
  await t.step("three formats parse to the same instant", () => {
    const a = parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT");
    assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), a);
    assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), a);
  });
  await t.step("§5.3: invalid dates such as 0 do not parse", () => {
    assert.equal(parseHttpDate("0"), null);
    assert.equal(parseHttpDate("-1"), null);
    assert.equal(parseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT"), null);
  });
  await t.step("format round-trips", () => {
    const t0 = Date.UTC(2026, 10, 28, 12, 0, 0);
    assert.equal(parseHttpDate(formatHttpDate(t0)), t0);
  });
});
