import assert from "node:assert/strict";
import { runExample } from "./_run.ts";

Deno.test("examples/load_balancer_health.ts moves traffic away from a dead origin and back", async (t) => {
  const out = await runExample("load_balancer_health.ts");
  const { stdout, stderr } = out;
  const counts = (phase: string) => {
    const line = stdout.split("\n").find((l) => l.startsWith(`phase ${phase}:`));
    assert.ok(line, `no "${phase}" line in:\n${stdout}\n${stderr}`);
    return Object.fromEntries([...line.matchAll(/([\w-]+)=(\d+)/g)].map((m) => [m[1], +m[2]!]));
  };

  await t.step("exits 0 and says ok", () => {
    assert.equal(out.code, 0, `${stdout}\n${stderr}`);
    assert.equal(stdout.trim().split("\n").at(-1), "ok");
  });

  await t.step("all three origins serve while healthy", () => {
    const c = counts("all-up");
    assert.ok(c["origin-a"]! > 0 && c["origin-b"]! > 0 && c["origin-c"]! > 0);
    assert.equal(c.errors, 0);
  });

  await t.step("the dead origin is marked unhealthy and gets no traffic", () => {
    const lines = stdout.split("\n");
    const stopped = lines.indexOf("origin-b stopped");
    const unhealthy = lines.indexOf("health: origin-b unhealthy");
    assert.ok(stopped !== -1 && unhealthy > stopped);
    assert.match(stdout, /while going down: \d+ requests, \d+ attempts .* client errors=0/);
    const c = counts("b-down");
    assert.equal(c["origin-b"], 0);
    assert.equal(c.errors, 0);
  });

  await t.step("the restarted origin comes back", () => {
    const lines = stdout.split("\n");
    assert.ok(lines.indexOf("health: origin-b healthy") > lines.indexOf("origin-b restarted"));
    assert.ok(counts("recovered")["origin-b"]! > 0);
  });
});
