import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import { HttpHealthCheck } from "./http_health_check.ts";
import { makeTestCerts } from "./_test_certs_test_util.ts";
import { rawOrigin, writeAll } from "../core/testdata/origins.ts";

interface Seen {
  method: string;
  path: string;
  host: string | null;
  connections: number;
}

// A raw HTTP/1.1 server that counts connections and answers `status` to every request.
function rawServer(status: () => number, hang = false) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: Seen[] = [];
  let connections = 0;
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(8192);
    let pending = "";
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) return;
        pending += decoder.decode(buf.subarray(0, n));
        let end: number;
        while ((end = pending.indexOf("\r\n\r\n")) !== -1) {
          const head = pending.slice(0, end);
          pending = pending.slice(end + 4);
          const [line, ...headers] = head.split("\r\n");
          const [method, path] = line!.split(" ");
          const host = headers.find((h) => h.toLowerCase().startsWith("host:"))?.slice(5).trim();
          seen.push({ method: method!, path: path!, host: host ?? null, connections });
          if (hang) continue;
          const body = "ok";
          await conn.write(
            new TextEncoder().encode(
              `HTTP/1.1 ${status()} X\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
            ),
          );
        }
      }
    } catch {
      // closed
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conns.add(conn);
      serve(conn);
    }
  })();
  return {
    backend: new Backend(`127.0.0.1:${listener.addr.port}`),
    seen,
    get connections() {
      return connections;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting.catch(() => {});
    },
  };
}

// Answers 200 with content-length 100 but sends 7 bytes, then stalls or closes the connection.
function partialBodyServer(end: "stall" | "close") {
  const origin = rawOrigin(async (conn) => {
    await conn.read(new Uint8Array(8192));
    await writeAll(conn, "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
    // "stall": hold the connection until the origin is disposed.
    if (end === "stall") await conn.read(new Uint8Array(1));
  });
  return {
    backend: new Backend(`127.0.0.1:${origin.port}`),
    [Symbol.asyncDispose]: () => origin[Symbol.asyncDispose](),
  };
}

Deno.test("HttpHealthCheck", async (t) => {
  await t.step("status 200 passes; anything else fails by default", async () => {
    let status = 200;
    await using server = rawServer(() => status);
    const check = new HttpHealthCheck();
    await check.check(server.backend);
    status = 503;
    await assert.rejects(check.check(server.backend), /status 503/);
    status = 301;
    await assert.rejects(check.check(server.backend), /status 301/);
  });

  await t.step("sends method, path and Host as configured", async () => {
    await using server = rawServer(() => 200);
    const check = new HttpHealthCheck({
      method: "HEAD",
      path: "/healthz?full=1",
      host: "api.test",
    });
    await check.check(server.backend);
    assert.deepEqual(
      [server.seen[0]?.method, server.seen[0]?.path, server.seen[0]?.host],
      ["HEAD", "/healthz?full=1", "api.test"],
    );
  });

  await t.step("a validator decides", async () => {
    await using server = rawServer(() => 503);
    const check = new HttpHealthCheck({ validator: (res) => res.status === 503 });
    await check.check(server.backend);
    const strict = new HttpHealthCheck({
      validator: () => {
        throw new Error("nope");
      },
    });
    await assert.rejects(strict.check(server.backend), /nope/);
  });

  await t.step("a backend that never answers fails on the timeout", async () => {
    await using server = rawServer(() => 200, true);
    const check = new HttpHealthCheck({ timeoutMs: 200 });
    await assert.rejects(check.check(server.backend));
    assert.equal(server.seen.length, 1);
  });

  await t.step("a 200 whose body stalls past the timeout or breaks off fails", async () => {
    for (const end of ["stall", "close"] as const) {
      await using server = partialBodyServer(end);
      await assert.rejects(
        new HttpHealthCheck({ timeoutMs: 200 }).check(server.backend),
        /failed: status 200, body not read/,
        end,
      );
      // A validator that throws keeps its own error.
      const strict = new HttpHealthCheck({
        timeoutMs: 200,
        validator: () => {
          throw new Error("nope");
        },
      });
      await assert.rejects(strict.check(server.backend), /nope/, end);
    }
  });

  await t.step("reuseConnection keeps one connection; otherwise one per check", async () => {
    for (const reuse of [false, true]) {
      await using server = rawServer(() => 200);
      using check = new HttpHealthCheck({ reuseConnection: reuse });
      for (let i = 0; i < 3; i++) await check.check(server.backend);
      assert.equal(server.connections, reuse ? 1 : 3, `reuse ${reuse}`);
    }
  });

  await t.step("port override and IPv6 addresses", async () => {
    await using server = rawServer(() => 200);
    const check = new HttpHealthCheck({ port: server.backend.port! });
    await check.check(new Backend("127.0.0.1:1"));
    const v6 = Deno.serve({ hostname: "::1", port: 0, onListen() {} }, () => new Response("ok"));
    try {
      await new HttpHealthCheck().check(new Backend(`[::1]:${v6.addr.port}`));
    } finally {
      await v6.shutdown();
    }
  });

  await t.step("https with a private CA", async () => {
    const certs = await makeTestCerts();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: certs.cert, key: certs.key, onListen() {} },
      () => new Response("ok"),
    );
    try {
      const backend = new Backend(`127.0.0.1:${server.addr.port}`);
      await new HttpHealthCheck({ tls: true, caCerts: [certs.ca] }).check(backend);
      await assert.rejects(new HttpHealthCheck({ tls: true }).check(backend));
      await assert.rejects(new HttpHealthCheck({ caCerts: [certs.ca] }).check(backend));
    } finally {
      await server.shutdown();
    }
  });

  await t.step("thresholds and validation", () => {
    const check = new HttpHealthCheck({ consecutiveSuccess: 4, consecutiveFailure: 2 });
    assert.equal(check.healthThreshold(true), 4);
    assert.equal(check.healthThreshold(false), 2);
    assert.throws(() => new HttpHealthCheck({ path: "healthz" }), TypeError);
    assert.throws(() => new HttpHealthCheck({ consecutiveSuccess: -1 }), RangeError);
  });
});
