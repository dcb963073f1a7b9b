import assert from "node:assert/strict";
import { AbortLink } from "./connector.ts";

Deno.test("AbortLink fires once, in order, only listeners still registered", () => {
  const link = new AbortLink();
  const calls: string[] = [];
  const a = () => calls.push("a");
  const b = () => calls.push("b");
  const c = () => calls.push("c");
  link.addEventListener("abort", a);
  link.addEventListener("abort", b, { once: true });
  link.addEventListener("abort", c);
  link.removeEventListener("abort", b);
  link.removeEventListener("abort", () => {}); // unknown: no effect
  assert.equal(link.aborted, false);
  link.abort("gone");
  link.abort("again");
  assert.deepEqual(calls, ["a", "c"]);
  assert.equal(link.reason, "gone");
  // After firing: a new listener is not called (as with an aborted AbortSignal).
  link.addEventListener("abort", a);
  link.abort("third");
  assert.deepEqual(calls, ["a", "c"]);
});

Deno.test("AbortLink keeps the order of registration when the first listener goes", () => {
  const calls: string[] = [];
  const f = (name: string) => () => calls.push(name);
  const [a, b, c, d] = [f("a"), f("b"), f("c"), f("d")];
  const link = new AbortLink();
  link.addEventListener("abort", a);
  link.addEventListener("abort", b);
  link.removeEventListener("abort", a);
  link.addEventListener("abort", c);
  link.abort();
  assert.deepEqual(calls, ["b", "c"]);
  // One listener, removed, then another: only the second fires.
  calls.length = 0;
  const one = new AbortLink();
  one.addEventListener("abort", a);
  one.removeEventListener("abort", a);
  one.addEventListener("abort", d);
  one.abort();
  assert.deepEqual(calls, ["d"]);
});
