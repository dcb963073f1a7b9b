import assert from "node:assert/strict";
import { start } from "./gateway.ts";

Deno.test("gateway: 401 without a token, routing by path with the user passed on", async () => {
  const { server, stop } = start(0);
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const anon = await fetch(`${base}/users/1`);
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get("www-authenticate"), "Bearer");
    await anon.body?.cancel();
    const users = await (await fetch(`${base}/users/1`, {
      headers: { Authorization: "Bearer alice-token" },
    })).json();
    assert.equal(users.origin, "users-service");
    assert.equal(users.headers["x-user"], "alice");
    assert.equal(users.headers["authorization"], undefined);
    const orders = await (await fetch(`${base}/orders/7`, {
      headers: { Authorization: "Bearer bob-token" },
    })).json();
    assert.equal(orders.origin, "orders-service");
    assert.equal(orders.path, "/orders/7");
    const none = await fetch(`${base}/nope`, { headers: { Authorization: "Bearer bob-token" } });
    assert.equal(none.status, 404);
    await none.body?.cancel();
  } finally {
    await stop();
  }
});
