import assert from "node:assert/strict";
import { HeaderMap, RequestHeader } from "@cirque/core/http-header";
import { normalizeAcceptEncoding, primaryKey, varianceKey, varyNames } from "./cache_key.ts";

Deno.test("cache keys (RFC 9111 §2, §4.1)", async (t) => {
  await t.step("§2: the primary key is the target URI; GET and HEAD share it", () => {
    const get = new RequestHeader("GET", "/p?q=1", [["Host", "A.example"]]);
    const head = new RequestHeader("HEAD", "/p?q=1", [["Host", "a.example"]]);
    assert.equal(primaryKey(get), primaryKey(head));
    assert.notEqual(
      primaryKey(get),
      primaryKey(new RequestHeader("GET", "/p?q=2", [["Host", "a.example"]])),
    );
  });
  await t.step("§4.1: Vary names are case-insensitive and order-insensitive", () => {
    assert.deepEqual(varyNames(["Accept-Language, ACCEPT"]), ["accept", "accept-language"]);
    const h = new HeaderMap([["Accept", "a"], ["Accept-Language", "en"]]);
    assert.equal(
      varianceKey(["accept-language, accept"], h),
      varianceKey(["Accept", "Accept-Language"], h),
    );
  });
  await t.step("§4.1: Vary: * never matches", () => {
    assert.equal(varianceKey(["*"], new HeaderMap()), "*");
  });
  await t.step("§4.1: an absent field differs from an empty one", () => {
    assert.notEqual(
      varianceKey(["X-A"], new HeaderMap()),
      varianceKey(["X-A"], new HeaderMap([["X-A", ""]])),
    );
  });
  await t.step("§4.1: values are normalised (whitespace, combined lines)", () => {
    const a = varianceKey(["Accept"], new HeaderMap([["Accept", "a,  b"]]));
    const b = varianceKey(["Accept"], new HeaderMap([["Accept", "a"], ["Accept", "b"]]));
    assert.equal(a, b);
  });
  await t.step("Accept-Encoding is normalised to its acceptable codings", () => {
    assert.equal(
      normalizeAcceptEncoding("gzip, deflate, br"),
      normalizeAcceptEncoding("br,gzip,deflate"),
    );
    assert.equal(normalizeAcceptEncoding("gzip;q=0"), "");
    assert.equal(normalizeAcceptEncoding("GZip ; q=0.5, identity"), "gzip,identity");
  });
});
