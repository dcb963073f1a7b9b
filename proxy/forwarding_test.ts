import assert from "node:assert/strict";
import { HeaderMap } from "@cirque/core/http-header";
import { HOP_BY_HOP, stripHopByHop } from "./forwarding.ts";

Deno.test("stripHopByHop drops every field of HOP_BY_HOP in any case, and keeps Upgrade only when asked", () => {
  for (const name of HOP_BY_HOP) {
    for (const spelled of [name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1)]) {
      const h = new HeaderMap([[spelled, "v"], ["Accept", "*"]]);
      stripHopByHop(h);
      assert.deepEqual(h.pairs, [["Accept", "*"]], spelled);
    }
  }
  const h = new HeaderMap([["Upgrade", "websocket"], ["Connection", "Upgrade, X-Hop"], [
    "X-Hop",
    "1",
  ]]);
  stripHopByHop(h, true);
  assert.deepEqual(h.pairs, [["Upgrade", "websocket"], ["Connection", "upgrade"]]);
});
