import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import { TcpHealthCheck } from "./tcp_health_check.ts";
import { makeTestCerts } from "./_test_certs_test_util.ts";

Deno.test("TcpHealthCheck", async (t) => {
  await t.step("passes when the port accepts, fails when refused", async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = (async () => {
      using conn = await listener.accept();
      return conn.remoteAddr;
    })();
    const check = new TcpHealthCheck();
    await check.check(new Backend(`127.0.0.1:${listener.addr.port}`));
    await accepted;
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = closed.addr.port;
    closed.close();
    await assert.rejects(check.check(new Backend(`127.0.0.1:${port}`)));
  });

  await t.step("with tls, a plain TCP server fails the handshake", async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const server = (async () => {
      using conn = await listener.accept();
      await conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
    })();
    const check = new TcpHealthCheck({ tls: { serverName: "localhost" } });
    await assert.rejects(check.check(new Backend(`127.0.0.1:${listener.addr.port}`)));
    await server;
  });

  await t.step("with tls, the handshake must verify against the given CA", async () => {
    const certs = await makeTestCerts();
    using listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: certs.cert,
      key: certs.key,
    });
    const server = (async () => {
      for (let i = 0; i < 3; i++) {
        const conn = await listener.accept();
        await conn.handshake().catch(() => {});
        conn.close();
      }
    })();
    const backend = new Backend(`127.0.0.1:${listener.addr.port}`);
    await new TcpHealthCheck({ tls: { serverName: "localhost", caCerts: [certs.ca] } })
      .check(backend);
    await assert.rejects(new TcpHealthCheck({ tls: { serverName: "localhost" } }).check(backend));
    await assert.rejects(
      new TcpHealthCheck({ tls: { serverName: "other.test", caCerts: [certs.ca] } }).check(backend),
    );
    await server;
  });

  await t.step("an aborted signal fails the check", async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const ac = new AbortController();
    ac.abort();
    const check = new TcpHealthCheck();
    await assert.rejects(check.check(new Backend(`127.0.0.1:${listener.addr.port}`), ac.signal));
  });

  await t.step("thresholds and validation", () => {
    const check = new TcpHealthCheck({ consecutiveSuccess: 2, consecutiveFailure: 3 });
    assert.equal(check.healthThreshold(true), 2);
    assert.equal(check.healthThreshold(false), 3);
    assert.throws(() => new TcpHealthCheck({ consecutiveFailure: 0 }), RangeError);
  });

  await t.step("an address without a port is rejected", async () => {
    await assert.rejects(new TcpHealthCheck().check(new Backend("localhost")), RangeError);
  });
});
