import assert from "node:assert/strict";
import { runExample } from "./_run.ts";

Deno.test("examples/cache.ts collapses misses, keeps Vary variants, revalidates and purges", async () => {
  const out = await runExample("cache.ts");
  const { stdout, stderr } = out;
  assert.equal(out.code, 0, `${stdout}\n${stderr}`);
  assert.equal(stdout.trim().split("\n").at(-1), "ok");
  assert.match(stdout, /Cache-Status: cirque; hit/);
  assert.match(stdout, /Cache-Status: cirque; fwd=stale; fwd-status=304/);
  assert.match(stdout, /PURGE \/a → 200/);
});
