import assert from "node:assert/strict";
import { HeaderMap } from "@cirque/core/http-header";
import { forwardingFilter, HOP_BY_HOP, stripHopByHop } from "./forwarding.ts";

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

Deno.test("an untrusted client's X-Forwarded-Host never passes, even without a Host; a trusted proxy's does", () => {
  const apply = forwardingFilter({ trustedProxies: ["10.0.0.0/8"] });
  const facts = { clientIp: "192.0.2.9", tls: false, version: "1.0" };
  for (const host of ["", "good.example"]) {
    const h = new HeaderMap([["X-Forwarded-Host", "evil.example"]]);
    apply(h, { ...facts, host });
    assert.deepEqual(h.getAll("x-forwarded-host"), host === "" ? [] : [host], `Host "${host}"`);
  }
  const h = new HeaderMap([["X-Forwarded-Host", "origin.example"]]);
  apply(h, { ...facts, clientIp: "10.1.2.3", host: "" });
  assert.deepEqual(h.getAll("x-forwarded-host"), ["origin.example"]);
});
