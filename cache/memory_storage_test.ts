import assert from "node:assert/strict";
import { CacheMeta } from "./cache_meta.ts";
import { MemoryStorage } from "./memory_storage.ts";
import { storageConformance } from "./storage_conformance.ts";

/** A fresh, bodiless 200 for entries whose metadata does not matter. */
function freshMeta(): CacheMeta {
  return new CacheMeta({
    status: 200,
    headers: [],
    requestTime: 0,
    responseTime: 0,
    freshnessLifetime: 1,
  });
}

Deno.test("MemoryStorage passes the storage conformance suite", (t) =>
  storageConformance(t, () => new MemoryStorage({ maxObjectSize: 100_000 }), 100_000));

Deno.test("MemoryStorage is weighted by bytes and evicts through TinyUFO", async () => {
  const s = new MemoryStorage({ maxBytes: 50_000, maxObjectSize: 20_000, meanObjectSize: 10_000 });
  const meta = freshMeta();
  for (let i = 0; i < 20; i++) {
    const m = (await s.getMissHandler(`k${i}`, meta))!;
    m.write(new Uint8Array(10_000));
    await m.finish();
  }
  assert.ok(s.weight <= 50_000, `weight ${s.weight}`);
  assert.ok(s.size >= 1 && s.size <= 5, `size ${s.size}`);
});

Deno.test("MemoryStorage counts bodies still being written toward maxBytes", async (t) => {
  const meta = freshMeta();
  const MAX = 50_000;
  const chunk = new Uint8Array(1_000);

  await t.step("finished entries are evicted to make room for a write", async () => {
    const s = new MemoryStorage({ maxBytes: MAX, maxObjectSize: 20_000, meanObjectSize: 10_000 });
    for (let i = 0; i < 4; i++) {
      const m = (await s.getMissHandler(`done${i}`, meta))!;
      m.write(new Uint8Array(10_000));
      await m.finish();
    }
    assert.ok(s.weight > 40_000);
    const m = (await s.getMissHandler("big", meta))!;
    for (let i = 0; i < 20; i++) {
      assert.ok(await m.write(chunk), `chunk ${i}`);
      assert.ok(s.weight + (i + 1) * chunk.byteLength <= MAX, `chunk ${i}: ${s.weight}`);
    }
    assert.equal(await m.finish(), 20_000);
    assert.equal(s.inFlightWeight, 0);
    assert.ok((await s.lookup("big"))?.complete);
    assert.ok(s.weight <= MAX);
  });

  await t.step(
    "a known size is reserved up front: refused if it does not fit, never dropped",
    async () => {
      const s = new MemoryStorage({ maxBytes: MAX, maxObjectSize: 20_000, meanObjectSize: 10_000 });
      const sized = [];
      for (let i = 0; i < 3; i++) {
        sized.push((await s.getMissHandler(`s${i}`, meta, { sizeHint: 15_000 }))!);
      }
      assert.ok(sized.every((m) => m !== null));
      // A fourth 15 kB body would exceed 50 kB in flight: refused before anyone reads it.
      assert.equal(await s.getMissHandler("s3", meta, { sizeHint: 15_000 }), null);
      // A write of unknown size that outgrows the room is the one dropped, not the sized ones.
      const unsized = (await s.getMissHandler("u", meta))!;
      let ok = true;
      for (let i = 0; i < 10 && ok; i++) ok = await unsized.write(chunk);
      assert.equal(ok, false);
      for (const m of sized) {
        for (let i = 0; i < 15; i++) assert.ok(await m.write(chunk));
        assert.equal(await m.finish(), 15_000);
      }
      assert.equal(s.inFlightWeight, 0);
      assert.ok(s.weight <= MAX);
    },
  );

  await t.step("concurrent writes beyond maxBytes: the newest are dropped", async () => {
    const s = new MemoryStorage({ maxBytes: MAX, maxObjectSize: 20_000, meanObjectSize: 10_000 });
    const N = 10; // 10 × 10 kB in progress at once against 50 kB
    const misses = [];
    for (let i = 0; i < N; i++) misses.push((await s.getMissHandler(`k${i}`, meta))!);
    const live = misses.map(() => true);
    const held = misses.map(() => 0);
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < N; i++) {
        if (!live[i]) continue;
        if (await misses[i]!.write(chunk)) held[i]! += chunk.byteLength;
        // Bytes of the writes the storage still holds (a dropped one is gone from lookups).
        let writing = 0;
        for (let j = 0; j < N; j++) {
          if (live[j] && (await s.lookup(`k${j}`)) === null) live[j] = false;
          if (live[j]) writing += held[j]!;
        }
        assert.ok(s.weight + writing <= MAX, `round ${round}: ${s.weight} + ${writing}`);
      }
    }
    // The oldest writes survive; the dropped ones are the newest.
    const kept = live.filter((x) => x).length;
    assert.ok(kept >= 1 && kept < N, `kept ${kept}`);
    assert.deepEqual(live, live.map((_, i) => i < kept));
    for (let i = 0; i < N; i++) {
      if (live[i]) assert.equal(await misses[i]!.finish(), 10_000);
      else {
        await assert.rejects(misses[i]!.finish());
        assert.equal(await s.lookup(`k${i}`), null);
      }
    }
    assert.equal(s.inFlightWeight, 0);
    assert.ok(s.weight <= MAX);
    assert.ok((await s.lookup("k0"))?.complete);
  });
});
