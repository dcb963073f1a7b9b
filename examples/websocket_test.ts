import assert from "node:assert/strict";
import { start } from "./websocket.ts";

Deno.test("websocket: messages cross the fast path's upgrade tunnel both ways", async () => {
  const { server, stop } = start(0);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/echo`);
    const got: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ws.onmessage = (e) => {
        got.push(String(e.data));
        if (got.length === 3) resolve();
      };
      ws.onerror = () => reject(new Error("websocket error"));
    });
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onclose = () => reject(new Error("closed before open"));
    });
    for (const m of ["one", "two", "x".repeat(100_000)]) ws.send(m);
    await done;
    assert.deepEqual(got.slice(0, 2), ["echo: one", "echo: two"]);
    assert.equal(got[2], "echo: " + "x".repeat(100_000));
    const closed = new Promise((r) => (ws.onclose = r));
    ws.close();
    await closed;
  } finally {
    await stop();
  }
});

Deno.test("websocket: a plain request to the websocket origin is proxied normally", async () => {
  const { server, stop } = start(0);
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/echo`);
    assert.equal(res.status, 426);
    assert.equal(await res.text(), "websocket only\n");
  } finally {
    await stop();
  }
});
