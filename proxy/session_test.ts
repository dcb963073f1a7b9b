import assert from "node:assert/strict";
import { RequestHeader } from "@cirque/core/http-header";
import { Session } from "./session.ts";

const head = () => new RequestHeader("GET", "/a", [["Host", "x"], ["X-A", "1"]]);

Deno.test("Session.signal is created on first use and follows abort(), before or after", async (t) => {
  await t.step("created, then aborted: aborts with the reason", () => {
    const s = new Session(head());
    assert.equal(s.hasSignal, false);
    const signal = s.signal;
    assert.equal(s.hasSignal, true);
    assert.equal(signal.aborted, false);
    assert.equal(s.aborted, false);
    const reason = new Error("client went away");
    s.abort(reason);
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, reason);
    assert.equal(s.aborted, true);
  });
  await t.step("aborted, then created: born aborted with the reason", () => {
    const s = new Session(head());
    const reason = new Error("timed out");
    s.abort(reason);
    assert.equal(s.hasSignal, false);
    assert.equal(s.aborted, true);
    assert.equal(s.signal.aborted, true);
    assert.equal(s.signal.reason, reason);
  });
  await t.step("a given signal is the transport's: abort() only sets the flag", () => {
    const ac = new AbortController();
    const s = new Session(head(), null, {}, ac.signal);
    assert.equal(s.hasSignal, true);
    assert.equal(s.signal, ac.signal);
    s.abort(new Error("x"));
    assert.equal(s.aborted, true);
    assert.equal(ac.signal.aborted, false);
    const s2 = new Session(head(), null, {}, ac.signal);
    ac.abort();
    assert.equal(s2.aborted, true);
  });
});

Deno.test("Session.originalReq is the request as it arrived, whatever filters did since", () => {
  const s = new Session(head());
  s.req.method = "POST";
  s.req.path = "/b";
  s.req.headers.set("X-A", "2");
  s.req.headers.append("X-B", "3");
  s.req.headers.delete("host");
  const o = s.originalReq;
  assert.equal(o.method, "GET");
  assert.equal(o.path, "/a");
  assert.deepEqual(o.headers.pairs, [["Host", "x"], ["X-A", "1"]]);
  assert.equal(s.originalReq, o, "built once");
  assert.deepEqual(s.req.headers.pairs, [["X-A", "2"], ["X-B", "3"]]);
});

Deno.test("Session.watch: abort() reaches the upstream exchange through a link, or through signal once it exists", async (t) => {
  await t.step("nothing watches: no abort source", () => {
    const s = new Session(head());
    assert.equal(s.upstreamAbort, null);
  });
  await t.step("watched: a link, aborted with the reason, no signal made", () => {
    const s = new Session(head());
    s.watch();
    const link = s.upstreamAbort!;
    assert.ok(link !== null);
    assert.equal(s.hasSignal, false);
    let got: unknown = null;
    link.addEventListener("abort", () => got = link.reason);
    const reason = new Error("client went away");
    s.abort(reason);
    assert.equal(got, reason);
    assert.equal(link.aborted, true);
    assert.equal(s.hasSignal, false);
  });
  await t.step("watched after abort: born aborted", () => {
    const s = new Session(head());
    const reason = new Error("timed out");
    s.abort(reason);
    s.watch();
    assert.equal(s.upstreamAbort!.aborted, true);
    assert.equal(s.upstreamAbort!.reason, reason);
  });
  await t.step("the signal, once made, is the source; abort() fires both", () => {
    const s = new Session(head());
    s.watch();
    const link = s.upstreamAbort!;
    const signal = s.signal;
    assert.equal(s.upstreamAbort, signal);
    s.abort(new Error("x"));
    assert.equal(link.aborted, true);
    assert.equal(signal.aborted, true);
  });
});
