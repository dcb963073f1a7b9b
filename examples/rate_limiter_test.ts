import assert from "node:assert/strict";
import { startRateLimiterDemo } from "./rate_limiter.ts";

Deno.test("rate_limiter example: N per second per client over real sockets", async (t) => {
  const clock = { now: 0 };
  await using demo = startRateLimiterDemo({ limit: 3, windowSeconds: 1, clock: () => clock.now });

  await t.step("the first N requests reach the origin with RateLimit fields", async () => {
    for (const remaining of [2, 1, 0]) {
      const res = await fetch(new URL("/hello?x=1", demo.url));
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "hello from the origin: GET /hello\n");
      assert.equal(res.headers.get("ratelimit-policy"), '"default";q=3;w=1');
      assert.equal(res.headers.get("ratelimit"), `"default";r=${remaining};t=1`);
    }
  });

  await t.step("request N+1 in the window gets 429 with Retry-After and the fields", async () => {
    clock.now = 400;
    const res = await fetch(demo.url, { method: "POST", body: "ignored" });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal(res.headers.get("ratelimit-policy"), '"default";q=3;w=1');
    assert.equal(res.headers.get("ratelimit"), '"default";r=0;t=1');
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    const body = await res.json();
    assert.deepEqual(body["violated-policies"], ["default"]);
  });

  await t.step("after the window the client is allowed again", async () => {
    clock.now = 1000;
    const res = await fetch(demo.url, { method: "POST", body: "payload" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello from the origin: POST /\n");
    assert.equal(res.headers.get("ratelimit"), '"default";r=2;t=1');
  });
});

Deno.test("rate_limiter example runs from its first-line command and prints its URL", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      new URL("./rate_limiter.ts", import.meta.url).pathname,
    ],
    env: { PORT: "0", LIMIT: "1", WINDOW_SECONDS: "60", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    const deadline = Date.now() + 20_000;
    while (!out.includes("\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    reader.releaseLock();
    const url = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
    assert.ok(url, `no URL in ${JSON.stringify(out)}`);
    const first = await fetch(url);
    await first.body?.cancel();
    assert.equal(first.status, 200);
    const second = await fetch(url);
    await second.body?.cancel();
    assert.equal(second.status, 429);
    assert.ok(Number(second.headers.get("retry-after")) >= 1);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
});
