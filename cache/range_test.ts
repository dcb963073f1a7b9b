import assert from "node:assert/strict";
import { ResponseHeader } from "@cirque/core/http-header";
import { ifRangeMatches, parseRange, rangeAnswer } from "./range.ts";

const r = (s: number, e: number) => ({ start: s, end: e });

Deno.test("Range parsing (RFC 9110 §14.1.2; Pingora's vectors)", async (t) => {
  await t.step("single ranges over 10 bytes", () => {
    const cases: [string, unknown][] = [
      ["bytes=0-1", [r(0, 2)]],
      ["bYTes=0-9", [r(0, 10)]],
      ["bytes=0-12", [r(0, 10)]],
      ["bytes=0-", [r(0, 10)]],
      ["bytes=-2", [r(8, 10)]],
      ["bytes=-12", [r(0, 10)]],
    ];
    for (const [v, want] of cases) {
      assert.deepEqual(parseRange(v, 10), { kind: "ranges", ranges: want }, v);
    }
  });
  await t.step("§14.1.2: unsatisfiable → invalid (416)", () => {
    for (const v of ["bytes=2-1", "bytes=10-11", "bytes=-", "bytes=", "bytes=  "]) {
      assert.deepEqual(parseRange(v, 10), { kind: "invalid" }, v);
    }
  });
  await t.step("§14.1.2: every range of an empty body is unsatisfiable (416)", () => {
    for (const v of ["bytes=-5", "bytes=0-", "bytes=0-0", "bytes=-1,0-"]) {
      assert.deepEqual(parseRange(v, 0), { kind: "invalid" }, v);
    }
    const a = rangeAnswer(new ResponseHeader(200, [["Content-Length", "0"]]), 0, "bytes=-5");
    assert.equal(a?.head.status, 416);
    assert.equal(a?.head.headers.get("content-range"), "bytes */0");
  });
  await t.step("multiple ranges", () => {
    assert.deepEqual(parseRange("bytes=0-1,4-5", 10), {
      kind: "ranges",
      ranges: [r(0, 2), r(4, 6)],
    });
    assert.deepEqual(parseRange("bytEs=0-99,200-299,400-499", 320), {
      kind: "ranges",
      ranges: [r(0, 100), r(200, 300)],
    });
    assert.equal(
      (parseRange("bytEs=0-99,200-299,400-499", 500) as { ranges: unknown[] }).ranges.length,
      3,
    );
    assert.deepEqual(parseRange("bytes=0-,-2", 10), { kind: "none" });
    assert.deepEqual(parseRange("bytes=0-3,2-5", 10), { kind: "none" });
    assert.deepEqual(parseRange("bytes=0-5,10-", 2), { kind: "ranges", ranges: [r(0, 2)] });
    assert.deepEqual(parseRange("bytes=0-5, 10-20, 30-18", 200), {
      kind: "ranges",
      ranges: [r(0, 6), r(10, 21)],
    });
    assert.deepEqual(parseRange("bytes=5-0, 20-15, 30-25", 200), { kind: "invalid" });
    const many = "bytes=" + Array.from({ length: 201 }, (_, i) => `${i * 2}-${i * 2}`).join(",");
    assert.deepEqual(parseRange(many, 1000), { kind: "none" });
  });
  await t.step("other units are ignored", () => {
    assert.deepEqual(parseRange("items=0-1", 10), { kind: "none" });
  });
});

Deno.test("range answers (RFC 9110 §14.2, §15.3.7, §13.1.5)", async (t) => {
  const head = new ResponseHeader(200, [["Content-Type", "text/plain"], ["Content-Length", "10"]]);
  await t.step("§15.3.7.1: single part 206 with Content-Range", () => {
    const a = rangeAnswer(head, 10, "bytes=-3")!;
    assert.equal(a.head.status, 206);
    assert.equal(a.head.headers.get("content-range"), "bytes 7-9/10");
    assert.equal(a.head.headers.get("content-length"), "3");
  });
  await t.step("§15.3.7.2: multipart/byteranges with a correct Content-Length", () => {
    const a = rangeAnswer(head, 10, "bytes=0-1,5-6", "B")!;
    assert.equal(a.head.headers.get("content-type"), "multipart/byteranges; boundary=B");
    let n = 0;
    for (const p of a.parts) n += p instanceof Uint8Array ? p.byteLength : p.end - p.start;
    assert.equal(String(n), a.head.headers.get("content-length"));
  });
  await t.step("§15.5.17: 416 carries Content-Range: bytes */size", () => {
    const a = rangeAnswer(head, 10, "bytes=20-")!;
    assert.equal(a.head.status, 416);
    assert.equal(a.head.headers.get("content-range"), "bytes */10");
  });
  await t.step("§13.1.5: If-Range needs a strong ETag match or the exact date", () => {
    assert.ok(ifRangeMatches('"a"', '"a"', null));
    assert.ok(!ifRangeMatches('"a"', '"b"', null));
    assert.ok(!ifRangeMatches('W/"a"', 'W/"a"', null));
    const d = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert.ok(ifRangeMatches(d, null, d));
    assert.ok(!ifRangeMatches(d, null, "Mon, 07 Nov 1994 08:49:37 GMT"));
  });
});
