import assert from "node:assert/strict";
import { BufferPool } from "./buffers.ts";

Deno.test("BufferPool: reuses given-back buffers, bounded in bytes and buffer size", async (t) => {
  await t.step("a given-back buffer is handed out again", () => {
    const pool = new BufferPool(1 << 20, 1 << 20);
    const a = pool.take(100);
    assert.ok(a.length >= 100);
    pool.give(a);
    assert.equal(pool.size, 1);
    assert.equal(pool.take(50), a);
    assert.equal(pool.size, 0);
  });
  await t.step("a free buffer too small is replaced by a larger one", () => {
    const pool = new BufferPool(1 << 20, 1 << 20);
    const small = pool.take(10);
    pool.give(small);
    const big = pool.take(small.length + 1);
    assert.notEqual(big, small);
    assert.ok(big.length > small.length);
    assert.equal(pool.size, 0);
  });
  await t.step("at most `maxBytes` in free buffers, none larger than `largest`", () => {
    const pool = new BufferPool(8192, 8192);
    pool.give(new Uint8Array(4096));
    pool.give(new Uint8Array(4096));
    pool.give(new Uint8Array(4096));
    assert.equal(pool.size, 2);
    assert.equal(pool.freeBytes, 8192);
    pool.take(100);
    assert.equal(pool.freeBytes, 4096);
    const huge = new BufferPool(1 << 20, 8192);
    huge.give(new Uint8Array(16384));
    huge.give(new Uint8Array(0));
    assert.equal(huge.size, 0);
  });
});
