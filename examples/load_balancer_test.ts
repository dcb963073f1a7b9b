import assert from "node:assert/strict";
import { demoOrigin } from "./_origin.ts";
import { start } from "./load_balancer.ts";

Deno.test("load_balancer: round robin over two origins, failover when one refuses", async () => {
  const a = demoOrigin("origin-a");
  const b = demoOrigin("origin-b");
  // A port that refuses connections: bind, note the port, close.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  const { server, stop } = await start(0, [a.address, b.address, dead]);
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) {
      const res = await fetch(`${base}/${i}`);
      assert.equal(res.status, 200, `request ${i}`);
      seen.push((await res.json()).origin);
    }
    assert.equal(seen.filter((o) => o === "origin-a").length >= 3, true, seen.join());
    assert.equal(seen.filter((o) => o === "origin-b").length >= 3, true, seen.join());
    assert.equal(a.hits() + b.hits(), 9);
  } finally {
    await stop();
    await a.close();
    await b.close();
  }
});
