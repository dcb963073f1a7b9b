import assert from "node:assert/strict";
import { CacheMeta } from "./cache_meta.ts";
import { MemoryStorage } from "./memory_storage.ts";
import { storageConformance } from "./storage_conformance.ts";

Deno.test("MemoryStorage passes the storage conformance suite", (t) =>
  storageConformance(t, () => new MemoryStorage({ maxObjectSize: 100_000 }), 100_000));

Deno.test("MemoryStorage is weighted by bytes and evicts through TinyUFO", async () => {
  const s = new MemoryStorage({ maxBytes: 50_000, maxObjectSize: 20_000, meanObjectSize: 10_000 });
  const meta = new CacheMeta({
    status: 200,
    headers: [],
    requestTime: 0,
    responseTime: 0,
    freshnessLifetime: 1,
  });
  for (let i = 0; i < 20; i++) {
    const m = (await s.getMissHandler(`k${i}`, meta))!;
    m.write(new Uint8Array(10_000));
    await m.finish();
  }
  assert.ok(s.weight <= 50_000, `weight ${s.weight}`);
  assert.ok(s.size >= 1 && s.size <= 5, `size ${s.size}`);
});
