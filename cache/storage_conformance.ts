/**
 * The conformance suite every {@linkcode Storage} must pass. Call it from the
 * storage's `_test.ts` with a factory of empty storages that accept objects
 * of at least 64 KiB and refuse objects above `maxObjectSize`.
 *
 * @example
 * ```ts ignore
 * import { storageConformance } from "@cirque/cache/storage-conformance";
 * import { MemoryStorage } from "@cirque/cache/memory-storage";
 *
 * Deno.test("MemoryStorage conforms", (t) =>
 *   storageConformance(t, () => new MemoryStorage({ maxObjectSize: 100_000 }), 100_000));
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { CacheMeta } from "./cache_meta.ts";
import type { Storage } from "./storage.ts";

function meta(tag = "a"): CacheMeta {
  return new CacheMeta({
    status: 200,
    headers: [["ETag", `"${tag}"`]],
    requestTime: 0,
    responseTime: 0,
    freshnessLifetime: 1000,
  });
}

async function text(s: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(s).text();
}

const enc = new TextEncoder();

/**
 * Runs the storage conformance steps on storages made by `make`.
 *
 * @example
 * ```ts ignore
 * import { storageConformance } from "@cirque/cache/storage-conformance";
 * import { MemoryStorage } from "@cirque/cache/memory-storage";
 *
 * Deno.test("conforms", (t) => storageConformance(t, () => new MemoryStorage(), 8 << 20));
 * ```
 */
export async function storageConformance(
  t: Deno.TestContext,
  make: () => Storage,
  maxObjectSize: number,
): Promise<void> {
  await t.step("a written entry is found with its meta and body", async () => {
    const s = make();
    assert.equal(await s.lookup("k"), null);
    const m = (await s.getMissHandler("k", meta()))!;
    await m.write(enc.encode("hel"));
    await m.write(enc.encode("lo"));
    assert.equal(await m.finish(), 5);
    const hit = (await s.lookup("k"))!;
    assert.equal(hit.complete, true);
    assert.equal(hit.size, 5);
    assert.equal(hit.meta.etag, '"a"');
    assert.equal(await text(hit.body()), "hello");
    assert.equal(await text(hit.body({ start: 1, end: 4 })), "ell");
  });
  await t.step("readers of an entry being written stream it as it arrives", async () => {
    const s = make();
    const m = (await s.getMissHandler("k", meta()))!;
    await m.write(enc.encode("a"));
    const hit = (await s.lookup("k"))!;
    assert.equal(hit.complete, false);
    const reader = hit.body().getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "a");
    const next = reader.read();
    await m.write(enc.encode("b"));
    assert.equal(new TextDecoder().decode((await next).value), "b");
    await m.finish();
    assert.equal((await reader.read()).done, true);
  });
  await t.step(
    "a reader behind the writer gets the whole body after the entry completes",
    async () => {
      const s = make();
      const m = (await s.getMissHandler("k", meta()))!;
      for (const part of ["ab", "cd", "ef"]) await m.write(enc.encode(part));
      const hit = (await s.lookup("k"))!;
      const reader = hit.body().getReader();
      // Two of the three chunks read, then the rest is written and the entry
      // completes (a storage may reorganise its chunks then).
      let got = new TextDecoder().decode((await reader.read()).value);
      got += new TextDecoder().decode((await reader.read()).value);
      for (const part of ["gh", "ij"]) await m.write(enc.encode(part));
      await m.finish();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        got += new TextDecoder().decode(r.value);
      }
      assert.equal(got, "abcdefghij");
    },
  );
  await t.step("an aborted write errors its readers and leaves nothing", async () => {
    const s = make();
    const m = (await s.getMissHandler("k", meta()))!;
    await m.write(enc.encode("a"));
    const hit = (await s.lookup("k"))!;
    const body = text(hit.body());
    m.abort(new Error("boom"));
    await assert.rejects(body);
    assert.equal(await s.lookup("k"), null);
  });
  await t.step("a new write replaces the old entry when it finishes", async () => {
    const s = make();
    const a = (await s.getMissHandler("k", meta("a")))!;
    await a.write(enc.encode("old"));
    await a.finish();
    const b = (await s.getMissHandler("k", meta("b")))!;
    await b.write(enc.encode("new"));
    await b.finish();
    const hit = (await s.lookup("k"))!;
    assert.equal(hit.meta.etag, '"b"');
    assert.equal(await text(hit.body()), "new");
  });
  await t.step("purge removes complete and in-progress entries", async () => {
    const s = make();
    const a = (await s.getMissHandler("k", meta()))!;
    await a.finish();
    assert.equal(await s.purge("k"), true);
    assert.equal(await s.lookup("k"), null);
    assert.equal(await s.purge("k"), false);
    const b = (await s.getMissHandler("k", meta()))!;
    assert.equal(await s.purge("k"), true);
    await b.finish();
    assert.equal(await s.lookup("k"), null);
  });
  await t.step("updateMeta replaces the head and keeps the body", async () => {
    const s = make();
    assert.equal(await s.updateMeta("k", meta("z")), false);
    const a = (await s.getMissHandler("k", meta("a")))!;
    await a.write(enc.encode("body"));
    await a.finish();
    assert.equal(await s.updateMeta("k", meta("b")), true);
    const hit = (await s.lookup("k"))!;
    assert.equal(hit.meta.etag, '"b"');
    assert.equal(await text(hit.body()), "body");
  });
  await t.step("objects over the maximum size are refused or dropped", async () => {
    const s = make();
    assert.equal(await s.getMissHandler("k", meta(), { sizeHint: maxObjectSize + 1 }), null);
    const m = (await s.getMissHandler("k", meta()))!;
    assert.equal(await m.write(new Uint8Array(maxObjectSize)), true);
    assert.equal(await m.write(new Uint8Array(1)), false);
    await assert.rejects(m.finish());
    assert.equal(await s.lookup("k"), null);
  });
}
