import assert from "node:assert/strict";
import { start } from "./modify_response.ts";

Deno.test("modify_response: the JSON body is rewritten and re-framed", async () => {
  const { server, stop } = start(0);
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/thing?x=1`);
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.equal(doc.rewritten_by, "cirque");
    assert.equal(doc.path, "/thing?x=1");
    assert.equal("headers" in doc, false);
  } finally {
    await stop();
  }
});
