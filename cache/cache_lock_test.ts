import assert from "node:assert/strict";
import { CacheLock } from "./cache_lock.ts";
import { ManualClock } from "./clock.ts";

Deno.test("CacheLock: one writer per key, bounded waits", async (t) => {
  await t.step("the first locker writes, the others read and see the release status", async () => {
    const lock = new CacheLock();
    const w = lock.lock("k");
    const readers = Array.from({ length: 5 }, () => lock.lock("k"));
    assert.equal(w.kind, "write");
    assert.ok(readers.every((r) => r.kind === "read"));
    const waits = readers.map((r) => r.kind === "read" ? r.lock.wait(10_000) : null);
    if (w.kind === "write") w.permit.release("done");
    assert.deepEqual(await Promise.all(waits), Array(5).fill("done"));
    assert.equal(lock.size, 0);
  });
  await t.step(
    "a writer that gives up releases waiters with give-up / transient-error",
    async () => {
      const lock = new CacheLock();
      for (const status of ["give-up", "transient-error"] as const) {
        const w = lock.lock("k");
        const r = lock.lock("k");
        if (w.kind !== "write" || r.kind !== "read") throw new Error("unexpected");
        const p = r.lock.wait(1000);
        w.permit.release(status);
        assert.equal(await p, status);
      }
    },
  );
  await t.step("wait timeout ends a wait without releasing the writer", async () => {
    const clock = new ManualClock();
    const lock = new CacheLock({ clock });
    lock.lock("k");
    const r = lock.lock("k");
    if (r.kind !== "read") throw new Error("unexpected");
    const p = r.lock.wait(50);
    clock.advance(50);
    assert.equal(await p, "wait-timeout");
    assert.equal(lock.lock("k").kind, "read");
  });
  await t.step("lock age timeout frees the key for a new writer", async () => {
    const clock = new ManualClock();
    const lock = new CacheLock({ clock, ageTimeout: 100 });
    const w = lock.lock("k");
    const r = lock.lock("k");
    if (r.kind !== "read" || w.kind !== "write") throw new Error("unexpected");
    const p = r.lock.wait(1000);
    clock.advance(100);
    assert.equal(await p, "age-timeout");
    assert.equal(w.permit.released, true);
    assert.equal(lock.lock("k").kind, "write");
    assert.equal(clock.pendingTimers, 1);
  });
});
