import assert from "node:assert/strict";
import { HeaderMap } from "./http_header.ts";
import { parseResponseFields } from "./h1_parse.ts";

function rawMap(head: string): HeaderMap {
  const b = Uint8Array.from(head, (c) => c.charCodeAt(0));
  return HeaderMap.fromRaw(parseResponseFields(b, 0, b.length).fields);
}

const HEAD = "HTTP/1.1 200 OK\r\nServer: nginx\r\nSet-Cookie: a=1\r\nConnection: keep-alive\r\n" +
  "set-cookie: b=2\r\nX-L1: caf\xe9\r\n\r\n";
const PAIRS = [
  ["Server", "nginx"],
  ["Set-Cookie", "a=1"],
  ["Connection", "keep-alive"],
  ["set-cookie", "b=2"],
  ["X-L1", "caf\xe9"],
];

Deno.test("HeaderMap.fromRaw answers like a map of the same pairs", async (t) => {
  await t.step("reads keep the fields raw", () => {
    const h = rawMap(HEAD);
    const p = new HeaderMap(PAIRS.map(([k, v]) => [k!, v!]));
    for (const m of [h, p]) {
      assert.equal(m.size, 5);
      assert.equal(m.get("SET-COOKIE"), "a=1");
      assert.deepEqual(m.getAll("set-cookie"), ["a=1", "b=2"]);
      assert.equal(m.has("connection"), true);
      assert.equal(m.get("x-l1"), "caf\xe9");
      assert.equal(m.get("missing"), null);
      assert.equal(m.nameAt(3), "set-cookie");
      assert.equal(m.valueAt(2), "keep-alive");
      assert.equal(m.nameLengthAt(2), 10);
      assert.equal(m.nameIs(2, "connection"), true);
      assert.equal(m.nameIs(0, "connection"), false);
    }
    assert.notEqual(h.raw, null);
    assert.equal(p.raw, null);
  });
  await t.step(
    "delete and deleteAt do not make strings, and do not change the parser's offsets",
    () => {
      const b = Uint8Array.from(HEAD, (c) => c.charCodeAt(0));
      const fields = parseResponseFields(b, 0, b.length).fields;
      const before = fields.offsets.slice();
      const h = HeaderMap.fromRaw(fields);
      assert.equal(h.delete("Set-Cookie"), 2);
      h.deleteAt(0);
      assert.notEqual(h.raw, null);
      assert.deepEqual(fields.offsets, before);
      assert.deepEqual(h.pairs, [["Connection", "keep-alive"], ["X-L1", "caf\xe9"]]);
      assert.equal(h.raw, null);
      // A second map over the same fields still sees all of them.
      assert.deepEqual(HeaderMap.fromRaw(fields).pairs, PAIRS);
    },
  );
  await t.step("the parsed buffer comes along until released or materialized", () => {
    const b = Uint8Array.from("xx" + HEAD, (c) => c.charCodeAt(0));
    const h = HeaderMap.fromRaw(parseResponseFields(b, 2, b.length).fields);
    const raw = h.raw!;
    assert.equal(raw.buf, b);
    assert.equal(raw.base, 2);
    // Offset k of the text is byte base + k of the buffer.
    for (let k = 0; k < raw.text.length; k++) {
      assert.equal(b[raw.base! + k], raw.text.charCodeAt(k));
    }
    h.releaseBuffer();
    assert.equal(h.raw!.buf, undefined);
    assert.deepEqual(h.pairs, PAIRS);
    const m = HeaderMap.fromRaw(parseResponseFields(b, 2, b.length).fields);
    assert.deepEqual(m.pairs, PAIRS);
    assert.equal(m.raw, null);
    m.pairs = m.pairs.slice();
    assert.equal(m.raw, null);
  });
  await t.step("writes make the pairs once, in order", () => {
    const h = rawMap(HEAD);
    h.set("server", "cirque");
    h.append("Via", "1.1 cirque");
    assert.equal(h.raw, null);
    assert.deepEqual(h.pairs, [["server", "cirque"], ...PAIRS.slice(1), ["Via", "1.1 cirque"]]);
    const c = rawMap(HEAD).clone();
    assert.deepEqual(c.pairs, PAIRS);
    assert.deepEqual([...rawMap(HEAD)], PAIRS);
    assert.deepEqual([...rawMap(HEAD).toHeaders()].length, 5);
  });
  await t.step("assigning pairs replaces the raw fields", () => {
    const h = rawMap(HEAD);
    h.pairs = [["A", "1"]];
    assert.equal(h.raw, null);
    assert.equal(h.size, 1);
    assert.equal(h.get("server"), null);
  });
});
