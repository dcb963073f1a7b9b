import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import type { BackendIter } from "./backend_selection.ts";
import { UniqueIterator } from "./unique_iterator.ts";

function listIter(list: Backend[]): BackendIter {
  let i = 0;
  return { next: () => list[i++] };
}

Deno.test("UniqueIterator reproduces Pingora's vectors", async (t) => {
  const [b1, b2, b3] = ["1.1.1.1:80", "1.0.0.1:80", "1.0.0.255:80"].map((a) => new Backend(a)) as [
    Backend,
    Backend,
    Backend,
  ];

  await t.step("[b1, b2, b3], max 3 → b1, b2, b3, none", () => {
    const it = new UniqueIterator(listIter([b1, b2, b3]), 3);
    assert.deepEqual([it.next(), it.next(), it.next(), it.next()], [b1, b2, b3, undefined]);
  });

  await t.step("[b1, b2, b3], max 1 → b1, none", () => {
    const it = new UniqueIterator(listIter([b1, b2, b3]), 1);
    assert.deepEqual([it.next(), it.next()], [b1, undefined]);
  });

  await t.step("[b1, b1, b2, b2, b2, b3], max 10 → b1, b2, b3", () => {
    const it = new UniqueIterator(listIter([b1, b1, b2, b2, b2, b3]), 10);
    assert.deepEqual([it.next(), it.next(), it.next(), it.next()], [b1, b2, b3, undefined]);
  });

  await t.step("repeats count as steps", () => {
    const it = new UniqueIterator(listIter([b1, b1, b1, b2]), 3);
    assert.deepEqual([it.next(), it.next()], [b1, undefined]);
  });

  await t.step("equal addresses are repeats even as different objects", () => {
    const it = new UniqueIterator(listIter([b1, new Backend(b1.address), b2]), 10);
    assert.deepEqual([it.next(), it.next(), it.next()], [b1, b2, undefined]);
  });

  await t.step("max 0 yields nothing", () => {
    assert.equal(new UniqueIterator(listIter([b1]), 0).next(), undefined);
  });
});
