import assert from "node:assert/strict";

Deno.test("examples/cache.ts collapses misses, keeps Vary variants, revalidates and purges", async () => {
  const script = new URL("./cache.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${stdout}\n${stderr}`);
  assert.equal(stdout.trim().split("\n").at(-1), "ok");
  assert.match(stdout, /Cache-Status: cirque; hit/);
  assert.match(stdout, /Cache-Status: cirque; fwd=stale; fwd-status=304/);
  assert.match(stdout, /PURGE \/a → 200/);
});
