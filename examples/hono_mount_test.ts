import assert from "node:assert/strict";
import { start } from "./hono_mount.ts";

Deno.test("hono_mount: Hono serves its own routes and Cirque proxies /api/*", async () => {
  const { port, stop } = start(0);
  try {
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hello from hono\n");
    const doc = await (await fetch(`http://127.0.0.1:${port}/api/users?id=3`)).json();
    assert.equal(doc.origin, "api-origin");
    assert.equal(doc.path, "/users?id=3");
    assert.equal(doc.headers["x-forwarded-for"], "127.0.0.1");
  } finally {
    await stop();
  }
});
