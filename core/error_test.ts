import assert from "node:assert/strict";
import { ERROR_CODES, ProxyError, toProxyError } from "./error.ts";

Deno.test("ProxyError carries code, source, retryable, cause and context", () => {
  const cause = new Error("econnrefused");
  const e = new ProxyError("CONNECT_REFUSED", "refused", {
    source: "upstream",
    retryable: true,
    cause,
    context: { peer: "127.0.0.1:1" },
  });
  assert.equal(e.code, "CONNECT_REFUSED");
  assert.equal(e.source, "upstream");
  assert.equal(e.retryable, true);
  assert.equal(e.cause, cause);
  assert.deepEqual(e.context, { peer: "127.0.0.1:1" });
  assert.equal(e.name, "ProxyError");
  assert.ok(e instanceof Error);
});

Deno.test("ProxyError defaults: internal, not retryable, empty context", () => {
  const e = new ProxyError("INTERNAL", "x");
  assert.equal(e.source, "internal");
  assert.equal(e.retryable, false);
  assert.deepEqual(e.context, {});
  assert.equal("cause" in e, false);
});

Deno.test("instanceof ProxyError recognises a copy branded by another package copy", () => {
  const brand = Symbol.for("@cirque/core/ProxyError");
  class OtherCopy extends Error {
    get [brand]() {
      return true;
    }
  }
  assert.ok(new OtherCopy() instanceof ProxyError);
  assert.ok(!(new Error("plain") instanceof ProxyError));
  assert.ok(!((null as unknown) instanceof ProxyError));
});

Deno.test("toProxyError keeps ProxyErrors and wraps the rest", () => {
  const e = new ProxyError("READ_TIMEOUT", "t");
  assert.equal(toProxyError(e), e);
  assert.equal(toProxyError(new Error("boom")).code, "INTERNAL");
  assert.equal(toProxyError("str").message, "str");
  assert.equal(toProxyError(new DOMException("gone", "AbortError"), "downstream").code, "ABORTED");
  assert.equal(
    toProxyError(new DOMException("gone", "AbortError"), "downstream").source,
    "downstream",
  );
});

Deno.test("every required error code exists", () => {
  for (
    const c of [
      "CONNECT_REFUSED",
      "CONNECT_TIMEOUT",
      "CONNECT_ERROR",
      "TLS_HANDSHAKE",
      "READ_TIMEOUT",
      "WRITE_TIMEOUT",
      "CONNECTION_CLOSED",
      "INVALID_RESPONSE",
      "INVALID_REQUEST",
      "RESPONSE_TOO_LARGE",
      "UPSTREAM_STATUS",
      "INTERNAL",
    ]
  ) assert.ok((ERROR_CODES as readonly string[]).includes(c), c);
});
