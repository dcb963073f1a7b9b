import assert from "node:assert/strict";
import { HeaderMap } from "./http_header.ts";
import { parseResponseFields } from "./h1_parse.ts";
import { prng } from "./testdata/prng.ts";

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

Deno.test("HeaderMap: fields added to parsed ones stay apart, snapshots share until changed; all as a list of pairs would", () => {
  const NAMES = ["Server", "set-cookie", "X-New", "x-new", "Via", "CONNECTION", "X-L1", "X-Other"];
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  /** What each map must equal: a plain list, changed the obvious way. */
  type Model = [string, string][];
  const rnd = prng(0x5eed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const check = (m: HeaderMap, model: Model, where: string) => {
    assert.equal(m.size, model.length, where);
    for (let i = 0; i < model.length; i++) {
      assert.equal(m.nameAt(i), model[i]![0], where);
      assert.equal(m.valueAt(i), model[i]![1], where);
      assert.equal(m.nameLengthAt(i), model[i]![0].length, where);
      assert.equal(m.nameIs(i, "x-new"), same(model[i]![0], "x-new"), where);
    }
    for (const n of NAMES) {
      const all = model.filter(([k]) => same(k, n)).map(([, v]) => v);
      assert.deepEqual(m.getAll(n), all, where);
      assert.equal(m.get(n), all[0] ?? null, where);
    }
  };
  let kept = 0;
  for (let run = 0; run < 300; run++) {
    // Two live maps over one parse: the original and, after a snapshot, its copy.
    const maps: HeaderMap[] = [rawMap(HEAD)];
    const models: Model[] = [PAIRS.map(([k, v]) => [k!, v!])];
    for (let step = 0; step < 12; step++) {
      const k = Math.floor(rnd() * maps.length);
      const m = maps[k]!;
      const model = models[k]!;
      const op = Math.floor(rnd() * 5);
      const name = pick(NAMES);
      const value = `v${run}.${step}`;
      if (op === 0) {
        m.append(name, value);
        model.push([name, value]);
      } else if (op === 1) {
        m.set(name, value);
        const at = model.findIndex(([n]) => same(n, name));
        const rest = model.filter(([n], i) => i === at || !same(n, name));
        if (at < 0) rest.push([name, value]);
        else rest[rest.findIndex(([n]) => same(n, name))] = [name, value];
        models[k] = rest;
      } else if (op === 2) {
        const removed = model.filter(([n]) => same(n, name)).length;
        assert.equal(m.delete(name), removed);
        models[k] = model.filter(([n]) => !same(n, name));
      } else if (op === 3 && model.length > 0) {
        const i = Math.floor(rnd() * model.length);
        m.deleteAt(i);
        model.splice(i, 1);
      } else if (op === 4 && maps.length < 2) {
        maps.push(m.snapshot());
        models.push(model.map(([a, b]) => [a, b]));
      }
      for (let j = 0; j < maps.length; j++) check(maps[j]!, models[j]!, `run ${run} step ${step}`);
    }
    if (maps.every((m) => m.raw !== null)) kept++;
    for (let j = 0; j < maps.length; j++) assert.deepEqual(maps[j]!.pairs, models[j]);
  }
  // Most runs keep the parsed fields unmade (only `set` of a parsed name makes them).
  assert.ok(kept > 30, `kept ${kept}`);
});

Deno.test("HeaderMap.snapshot of parsed fields shares the parse: releasing the buffer is for both", () => {
  const b = Uint8Array.from(HEAD, (c) => c.charCodeAt(0));
  const a = HeaderMap.fromRaw(parseResponseFields(b, 0, b.length).fields);
  a.append("Via", "1");
  const c = a.snapshot();
  c.append("X-Only-C", "1");
  a.delete("server");
  assert.equal(a.raw!.buf, b);
  assert.equal(c.raw!.buf, b);
  assert.deepEqual(a.tail, [["Via", "1"]]);
  assert.deepEqual(c.tail, [["Via", "1"], ["X-Only-C", "1"]]);
  assert.equal(c.get("server"), "nginx");
  c.releaseBuffer();
  assert.equal(a.raw!.buf, undefined);
  assert.equal(a.get("set-cookie"), "a=1");
  // A pairs map's snapshot has its own list and shares the tuples.
  const p = new HeaderMap([["A", "1"]]);
  const q = p.snapshot();
  q.append("B", "2");
  assert.deepEqual(p.pairs, [["A", "1"]]);
  assert.equal(q.pairs[0], p.pairs[0]);
  assert.deepEqual(q.tail, []);
});
