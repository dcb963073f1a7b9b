import assert from "node:assert/strict";
import { HeaderMap, ResponseHeader } from "@cirque/core/http-header";
import {
  etagMatches,
  evaluateConditional,
  notModifiedHead,
  refreshHeaders,
  validatorFields,
  validatorsMatch,
} from "./conditional.ts";

const LM = "Sun, 06 Nov 1994 08:49:37 GMT";
const LATER = "Mon, 07 Nov 1994 08:49:37 GMT";
const EARLIER = "Sat, 05 Nov 1994 08:49:37 GMT";
const stored = new HeaderMap([["ETag", '"v1"'], ["Last-Modified", LM]]);
const req = (pairs: [string, string][]) => new HeaderMap(pairs);

Deno.test("conditional requests answered from cache (RFC 9110 §13)", async (t) => {
  await t.step("§8.8.3.2: weak and strong comparison", () => {
    assert.ok(etagMatches('W/"a"', 'W/"a"', "weak"));
    assert.ok(!etagMatches('W/"a"', 'W/"a"', "strong"));
    assert.ok(etagMatches('"a"', '"a"', "strong"));
  });
  await t.step("§13.1.2: If-None-Match (weak compare, lists, *) → 304 for GET/HEAD", () => {
    assert.equal(evaluateConditional("GET", req([["If-None-Match", '"x", W/"v1"']]), stored), 304);
    assert.equal(evaluateConditional("HEAD", req([["If-None-Match", "*"]]), stored), 304);
    assert.equal(evaluateConditional("GET", req([["If-None-Match", '"x"']]), stored), null);
  });
  await t.step("§13.1.1, §13.1.2: * matches a stored response without an ETag", () => {
    const noEtag = new HeaderMap([["Last-Modified", LM]]);
    assert.equal(evaluateConditional("GET", req([["If-Match", "*"]]), noEtag), null);
    assert.equal(evaluateConditional("GET", req([["If-None-Match", "*"]]), noEtag), 304);
    assert.equal(evaluateConditional("POST", req([["If-None-Match", "*"]]), noEtag), 412);
    assert.equal(evaluateConditional("GET", req([["If-Match", '"v1"']]), noEtag), 412);
  });
  await t.step("§13.1.3: If-Modified-Since only without If-None-Match", () => {
    assert.equal(evaluateConditional("GET", req([["If-Modified-Since", LM]]), stored), 304);
    assert.equal(evaluateConditional("GET", req([["If-Modified-Since", LATER]]), stored), 304);
    assert.equal(evaluateConditional("GET", req([["If-Modified-Since", EARLIER]]), stored), null);
    assert.equal(
      evaluateConditional(
        "GET",
        req([["If-None-Match", '"x"'], ["If-Modified-Since", LATER]]),
        stored,
      ),
      null,
    );
    assert.equal(evaluateConditional("GET", req([["If-Modified-Since", "garbage"]]), stored), null);
  });
  await t.step("§13.1.1, §13.1.4: If-Match and If-Unmodified-Since → 412", () => {
    assert.equal(evaluateConditional("GET", req([["If-Match", '"zz"']]), stored), 412);
    assert.equal(evaluateConditional("GET", req([["If-Match", '"v1"']]), stored), null);
    assert.equal(evaluateConditional("GET", req([["If-Unmodified-Since", EARLIER]]), stored), 412);
  });
  await t.step("§15.4.5: a 304 carries no content metadata", () => {
    const h = notModifiedHead(new ResponseHeader(200, [["Content-Type", "a/b"], ["ETag", '"v1"']]));
    assert.equal(h.headers.get("content-type"), null);
    assert.equal(h.headers.get("etag"), '"v1"');
  });
});

Deno.test("freshening stored responses (RFC 9111 §3.2, §4.3)", async (t) => {
  await t.step("§4.3.1: validators become conditional fields", () => {
    assert.deepEqual(validatorFields(stored), [["If-None-Match", '"v1"'], [
      "If-Modified-Since",
      LM,
    ]]);
  });
  await t.step("§3.2: 304 fields replace stored ones; Content-Length and Vary are kept", () => {
    const s = new HeaderMap([["Vary", "Accept"], ["Content-Length", "5"], ["X-Old", "1"], [
      "Cache-Control",
      "max-age=1",
    ]]);
    const u = new HeaderMap([["Vary", "Other"], ["Content-Length", "0"], [
      "Cache-Control",
      "max-age=9",
    ], ["X-New", "2"]]);
    const out = refreshHeaders(s, u);
    assert.equal(out.get("vary"), "Accept");
    assert.equal(out.get("content-length"), "5");
    assert.equal(out.get("cache-control"), "max-age=9");
    assert.equal(out.get("x-old"), "1");
    assert.equal(out.get("x-new"), "2");
    assert.equal(out.getAll("cache-control").length, 1);
  });
  await t.step("§4.3.4: a 304 with another validator does not apply", () => {
    assert.ok(validatorsMatch(stored, new HeaderMap([["ETag", '"v1"']])));
    assert.ok(!validatorsMatch(stored, new HeaderMap([["ETag", '"v2"']])));
    assert.ok(!validatorsMatch(stored, new HeaderMap([["Last-Modified", LATER]])));
    assert.ok(validatorsMatch(stored, new HeaderMap()));
  });
});
