import assert from "node:assert/strict";
import { Backend } from "./backend.ts";
import { HttpHealthCheck } from "./http_health_check.ts";
import { makeSelfSignedCert, makeTestCerts } from "./_test_certs_test_util.ts";
import { rawOrigin, serveRaw, writeAll } from "../core/testdata/origins.ts";

interface Seen {
  method: string;
  path: string;
  host: string | null;
  connection: string | null;
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
          const field = (name: string) =>
            headers.find((h) => h.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1)
              .trim() ?? null;
          seen.push({
            method: method!,
            path: path!,
            host: field("host"),
            connection: field("connection"),
            connections,
          });
          if (hang) continue;
          const body = "ok";
          await conn.write(
            new TextEncoder().encode(
              `HTTP/1.1 ${status()} X\r\ncontent-length: ${body.length}\r\n\r\n` +
                (method === "HEAD" ? "" : body),
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
    /** Closes the listener (new connections are refused); open connections keep being served. */
    stopAccepting() {
      try {
        listener.close();
      } catch { /* closed */ }
    },
    async [Symbol.asyncDispose]() {
      this.stopAccepting();
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
    // "stall": hold the connection until the client closes it (or the origin is disposed).
    if (end === "stall") await conn.read(new Uint8Array(1));
  });
  return {
    backend: new Backend(`127.0.0.1:${origin.port}`),
    /** Resolves once `n` connections have ended. */
    closed: (n: number) => origin.waitClosed(n),
    [Symbol.asyncDispose]: () => origin[Symbol.asyncDispose](),
  };
}

// A TLS origin (node:tls) with one certificate, recording the SNI name of each ClientHello ("" when
// it has none) and answering 200 "ok" to each request.
async function tlsServer(cert: { cert: string; key: string }) {
  const tls = await import("node:tls");
  const context = tls.createSecureContext(cert);
  const serverNames: string[] = [];
  const hosts: string[] = [];
  const server = tls.createServer({
    ...cert,
    SNICallback: (name, cb) => {
      serverNames.push(name);
      cb(null, context);
    },
  }, (sock) => {
    let seen = "";
    sock.on("data", (d: Uint8Array) => {
      seen += new TextDecoder().decode(d);
      if (seen.includes("\r\n\r\n")) {
        hosts.push(/\r\nhost: *([^\r]*)/i.exec(seen)?.[1] ?? "");
        seen = "";
        sock.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      }
    });
    sock.on("error", () => {});
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    backend: new Backend(`127.0.0.1:${port}`),
    port,
    serverNames,
    /** The Host header of each request. */
    hosts,
    async [Symbol.asyncDispose]() {
      await new Promise((r) => server.close(r));
    },
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
    // Defaults: GET /, Host from the backend's address; a path is encoded as fetch would.
    await new HttpHealthCheck({ method: "get", path: "/a b#frag" }).check(server.backend);
    assert.deepEqual(
      [server.seen[1]?.method, server.seen[1]?.path, server.seen[1]?.host],
      ["GET", "/a%20b", server.backend.address],
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
      const started = performance.now();
      await assert.rejects(
        new HttpHealthCheck({ timeoutMs: 200 }).check(server.backend),
        end === "stall"
          ? /failed: status 200, body not read: timed out after 200 ms$/
          : /failed: status 200, body not read: .*closed the connection/,
        end,
      );
      // The timeout cancels the stalled read: the check ends on time and closes its connection.
      assert.ok(performance.now() - started < 1500, end);
      await server.closed(1);
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
      assert.deepEqual(
        server.seen.map((r) => r.connection),
        Array(3).fill(reuse ? null : "close"),
        `reuse ${reuse}`,
      );
    }
  });

  await t.step(
    "a check never reuses a kept-alive connection: a backend that takes no new connections fails",
    async () => {
      for (const reuse of [false, true]) {
        await using server = rawServer(() => 200);
        using check = new HttpHealthCheck({ reuseConnection: reuse, timeoutMs: 500 });
        await check.check(server.backend);
        // The server keeps its end of the first connection open and serving.
        server.stopAccepting();
        if (reuse) {
          // Only when asked to: the kept connection answers for the backend.
          await check.check(server.backend);
          assert.equal(server.seen.length, 2);
        } else {
          await assert.rejects(check.check(server.backend), /failed: Cannot connect/);
          assert.equal(server.seen.length, 1);
        }
        assert.equal(server.connections, 1);
      }
    },
  );

  await t.step(
    "the body is read up to 1 MiB: more passes by default, a validator reading it all fails",
    async () => {
      const big = new Uint8Array(3 << 20).fill(97);
      const head = `HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n`;
      await using origin = rawOrigin(async (conn) => {
        await conn.read(new Uint8Array(8192));
        await writeAll(conn, head);
        await writeAll(conn, big).catch(() => {}); // the check closes the connection after 1 MiB
      });
      const backend = new Backend(`127.0.0.1:${origin.port}`);
      await new HttpHealthCheck().check(backend);
      await origin.waitClosed(1);
      await assert.rejects(
        new HttpHealthCheck({ validator: async (res) => (await res.text()).length > 0 }).check(
          backend,
        ),
        /body is longer than 1048576 bytes/,
      );
      await origin.waitClosed(2);
    },
  );

  await t.step(
    "the validator gets a Response: status, headers and body; none for 204",
    async () => {
      await using origin = rawOrigin(
        serveRaw((head) =>
          head.startsWith("GET /empty ")
            ? "HTTP/1.1 204 No Content\r\nx-state: idle\r\n\r\n"
            : "HTTP/1.1 299 Fine\r\nx-state: up\r\ntransfer-encoding: chunked\r\n\r\n" +
              "2\r\nup\r\n0\r\n\r\n"
        ),
      );
      const backend = new Backend(`127.0.0.1:${origin.port}`);
      const got: string[] = [];
      const validator = async (res: Response) => {
        got.push(
          `${res.status} ${res.statusText} ${res.headers.get("x-state")} ${await res.text()}`,
        );
      };
      await new HttpHealthCheck({ validator }).check(backend);
      await new HttpHealthCheck({ validator, path: "/empty" }).check(backend);
      assert.deepEqual(got, ["299 Fine up up", "204 No Content idle "]);
    },
  );

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

  await t.step(
    "over TLS the peer's settings apply: sni is sent and verified, verifyCert: false skips the name",
    async () => {
      // Self-signed, valid only for self.test; the backend is 127.0.0.1.
      const self = await makeSelfSignedCert("self.test");
      await using server = await tlsServer(self);
      const trusted = { tls: true, caCerts: [self.cert] };
      // Verification on: the certificate is not for 127.0.0.1.
      await assert.rejects(
        new HttpHealthCheck(trusted).check(server.backend),
        /failed: Cannot connect .*not valid for name "127\.0\.0\.1"/,
      );
      // verifyCert: false skips only the name check: the chain is still verified.
      await new HttpHealthCheck({ ...trusted, verifyCert: false }).check(server.backend);
      await assert.rejects(
        new HttpHealthCheck({ tls: true, verifyCert: false }).check(server.backend),
        /UnknownIssuer/,
      );
      // sni: sent in the handshake and the name the certificate is checked against.
      await new HttpHealthCheck({ ...trusted, sni: "self.test", host: "app.test" }).check(
        server.backend,
      );
      // Without `host`, the Host header is the sni name: the site the backend is asked for.
      await new HttpHealthCheck({ ...trusted, sni: "self.test" }).check(server.backend);
      await assert.rejects(
        new HttpHealthCheck({ ...trusted, sni: "other.test" }).check(server.backend),
        /not valid for name "other\.test"/,
      );
      // Every handshake reached the server; an IP address is never sent as SNI ("": none).
      assert.deepEqual(server.serverNames, ["", "", "", "self.test", "self.test", "other.test"]);
      assert.deepEqual(server.hosts, [`127.0.0.1:${server.port}`, "app.test", "self.test"]);
    },
  );

  await t.step("the timeout bounds the TLS handshake", async () => {
    // Accepts TCP connections and never answers the ClientHello.
    await using origin = rawOrigin(async (conn) => {
      while (await conn.read(new Uint8Array(8192)) !== null);
    });
    const started = performance.now();
    await assert.rejects(
      new HttpHealthCheck({ tls: true, timeoutMs: 200 }).check(
        new Backend(`127.0.0.1:${origin.port}`),
      ),
      /failed: timed out after 200 ms$/,
    );
    assert.ok(performance.now() - started < 1500);
    // The handshake is given up, not closed (Deno's TlsConn.close() during a pending handshake
    // would leave the socket open anyway): it holds the socket until the origin ends it, at most
    // MAX_UNANSWERED_HANDSHAKES per backend (core/h1_connector_test.ts).
  });

  await t.step("thresholds and validation", () => {
    const check = new HttpHealthCheck({ consecutiveSuccess: 4, consecutiveFailure: 2 });
    assert.equal(check.healthThreshold(true), 4);
    assert.equal(check.healthThreshold(false), 2);
    assert.throws(() => new HttpHealthCheck({ path: "healthz" }), TypeError);
    assert.throws(() => new HttpHealthCheck({ consecutiveSuccess: -1 }), RangeError);
    assert.throws(() => new HttpHealthCheck({ timeoutMs: 0 }), RangeError);
    assert.throws(() => new HttpHealthCheck({ method: "GE T" }), TypeError);
    assert.throws(() => new HttpHealthCheck({ headers: { "x y": "1" } }), TypeError);
  });
});
