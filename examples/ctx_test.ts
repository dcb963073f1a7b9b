import assert from "node:assert/strict";
import { type AccessRecord, start } from "./ctx.ts";

Deno.test("ctx: per-request ids reach the origin and the client; logging runs once per request", async () => {
  const log: AccessRecord[] = [];
  const { server, stop } = start(0, (r) => log.push(r));
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const a = await fetch(`${base}/a`);
    const seen = await a.json();
    assert.equal(a.headers.get("x-request-id"), seen.headers["x-request-id"]);
    const b = await fetch(`${base}/forbidden`);
    assert.equal(b.status, 403);
    await b.body?.cancel();
    for (let i = 0; i < 50 && log.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(log.map((r) => [r.id, r.path, r.status, r.error]), [
      ["req-1", "/a", 200, null],
      ["req-2", "/forbidden", 403, null],
    ]);
    assert.equal(log[0]!.upstream !== null, true);
  } finally {
    await stop();
  }
});
