import assert from "node:assert/strict";
import type {
  AbortLike,
  Connector,
  RequestBody,
  RequestHead,
  RequestOptions,
  UpstreamResponse,
} from "@cirque/core/connector";
import { findHeadEnd, parseRequestHead } from "@cirque/core/h1-parse";
import { AbortLink } from "@cirque/core/connector";
import { HttpPeer } from "@cirque/core/peer";
import { mutate } from "../core/testdata/mutate.ts";
import { prng } from "../core/testdata/prng.ts";
import { chunkedBody, latin1 } from "../core/testdata/strict_body.ts";
import { makeCerts } from "../core/testdata/origins.ts";
import { HttpProxy, type ProxyHttp, serveH1 } from "./mod.ts";

/** Records every request that reaches "upstream" and answers with what it saw. */
class EchoConnector implements Connector {
  requests: { method: string; path: string; headers: [string, string][]; body: string }[] = [];
  async request(
    _peer: HttpPeer,
    head: RequestHead,
    body: RequestBody,
    options: RequestOptions = {},
  ): Promise<UpstreamResponse> {
    await options.beforeSend?.(false);
    const text = body instanceof ReadableStream ? await new Response(body).text() : "";
    this.requests.push({
      method: head.method,
      path: head.path,
      headers: head.headers.map(([k, v]) => [k, v]),
      body: text,
    });
    return textResponse(`${head.method} ${head.path} body=${text}`, [["X-Upstream", "1"]]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A `200 OK` upstream response with `text` as its Content-Length body, plus `extra` fields. */
function textResponse(text: string, extra: [string, string][] = []): UpstreamResponse {
  const bytes = enc.encode(text);
  return {
    status: 200,
    statusText: "OK",
    headers: [["Content-Length", String(bytes.byteLength)], ...extra],
    body: new Response(bytes).body,
    trailers: Promise.resolve([]),
    reused: false,
    timing: { connected: 0, responseHead: 0 },
  };
}

/** Resolves with `signal`'s reason once it aborts (at once if it has). */
function aborted(signal: AbortLike): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

async function withServer(
  fn: (port: number, connector: EchoConnector) => Promise<void>,
  options: Parameters<typeof serveH1>[1] = {},
  phases: Partial<ProxyHttp<null>> = {},
): Promise<void> {
  const connector = new EchoConnector();
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
    ...phases,
  }, { connector, errorLog: () => {} });
  const server = serveH1(proxy, { port: 0, ...options });
  try {
    await fn(server.addr.port, connector);
  } finally {
    server.close();
    await server.finished;
  }
}

/** Sends raw bytes and reads until the server closes (or `until` matches). */
async function raw(
  port: number,
  data: string | Uint8Array | (string | Uint8Array)[],
  until?: (text: string) => boolean,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (const part of Array.isArray(data) ? data : [data]) {
      await conn.write(typeof part === "string" ? enc.encode(part) : part);
    }
    let text = "";
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 10_000; i++) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
      if (until?.(text)) break;
    }
    return text;
  } finally {
    conn.close();
  }
}

const GET = "GET / HTTP/1.1\r\nHost: a.test\r\n";

Deno.test("fast path rejects malformed requests with 400 and closes, forwarding nothing", async (t) => {
  const cases: [string, string, number][] = [
    [
      "conflicting Content-Length",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      400,
    ],
    [
      "duplicate Content-Length",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
      400,
    ],
    ["Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400],
    [
      "non-numeric Content-Length",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello",
      400,
    ],
    [
      "Content-Length with Transfer-Encoding",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
    ],
    [
      "Transfer-Encoding not ending in chunked",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      400,
    ],
    [
      "HTTP/1.0 with Transfer-Encoding",
      "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
    ],
    ["obs-fold", GET + "X-A: 1\r\n  folded\r\n\r\n", 400],
    ["bare CR", GET + "X-A: 1\rX-B: 2\r\n\r\n", 400],
    ["bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400],
    ["NUL in a value", GET + "X-A: a\0b\r\n\r\n", 400],
    ["control character in a value", GET + "X-A: a\x01b\r\n\r\n", 400],
    ["invalid field name", GET + "X(A): 1\r\n\r\n", 400],
    ["whitespace before the colon", GET + "X-A : 1\r\n\r\n", 400],
    ["missing Host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400],
    ["multiple Host", GET + "Host: b.test\r\n\r\n", 400],
    ["Host with a space, slash and query", "GET / HTTP/1.1\r\nHost: a/b?c d\r\n\r\n", 400],
    ["Host with a non-numeric port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400],
    ["Host with an unclosed IP-literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400],
    ["Host with userinfo", "GET / HTTP/1.0\r\nHost: u@a\r\n\r\n", 400],
    [
      "Transfer-Encoding other than chunked alone",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n",
      501,
    ],
    [
      "Transfer-Encoding on two lines",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      501,
    ],
    ["absolute-form target", "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", 400],
    ["asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", 400],
    ["invalid method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["unsupported version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
    ["head over 64 KiB", GET + "X-Big: " + "a".repeat(70_000) + "\r\n\r\n", 431],
    ["more than 200 fields", GET + "X-F: 1\r\n".repeat(201) + "\r\n", 431],
    ["CONNECT", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", 405],
  ];
  await withServer(async (port, connector) => {
    for (const [name, bytes, status] of cases) {
      await t.step(name, async () => {
        const before = connector.requests.length;
        const res = await raw(port, bytes);
        assert.match(
          res,
          new RegExp(`^HTTP/1\\.1 ${status} `),
          `${name}: ${JSON.stringify(res.slice(0, 80))}`,
        );
        assert.match(res, /\r\nConnection: close\r\n/i);
        assert.equal(connector.requests.length, before, `${name} reached the upstream`);
      });
    }
  });
});

Deno.test("fast path rejects invalid chunked request bodies with 400 and closes", async (t) => {
  const cases: [string, string][] = [
    ["invalid chunk size", "zz\r\nhello\r\n0\r\n\r\n"],
    ["over-long chunk size", "1".repeat(20) + "\r\nhello\r\n0\r\n\r\n"],
    ["invalid chunk extension", "5;=bad\r\nhello\r\n0\r\n\r\n"],
    ["missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"],
  ];
  await withServer(async (port, connector) => {
    for (const [name, body] of cases) {
      await t.step(name, async () => {
        const res = await raw(
          port,
          "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
        );
        assert.match(res, /^HTTP\/1\.1 400 /, name);
        assert.match(res, /\r\nConnection: close\r\n/i);
        // The upstream never saw a complete request with that body.
        assert.equal(connector.requests.filter((r) => r.path === "/up").length, 0);
      });
    }
  });
});

Deno.test("fast path: keep-alive, pipelining in order, and strips hop-by-hop fields", async () => {
  await withServer(async (port, connector) => {
    const three = [1, 2, 3].map((i) =>
      `GET /p${i} HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: h\r\n\r\n`
    ).join("");
    const res = await raw(port, three, (t) => (t.match(/body=/g) ?? []).length === 3);
    const bodies = [...res.matchAll(/GET (\/p\d) body=/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ["/p1", "/p2", "/p3"]);
    assert.equal((res.match(/HTTP\/1\.1 200 OK\r\n/g) ?? []).length, 3);
    assert.doesNotMatch(res, /Connection: close/i);
    for (const r of connector.requests) {
      const names = r.headers.map(([k]) => k.toLowerCase());
      assert.ok(!names.includes("connection") && !names.includes("x-hop"), names.join(","));
    }
  });
});

Deno.test("fast path: a head larger than the initial read buffer (40 KiB) is accepted whole, twice on one connection", async () => {
  await withServer(async (port, connector) => {
    const big = "b".repeat(40_000);
    const one = `GET /big HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\nX-After: z\r\n\r\n`;
    const res = await raw(port, [one, one], (t) => (t.match(/body=/g) ?? []).length === 2);
    assert.equal((res.match(/HTTP\/1\.1 200 OK\r\n/g) ?? []).length, 2);
    assert.equal(connector.requests.length, 2);
    for (const r of connector.requests) {
      assert.equal(r.headers.find(([k]) => k === "X-Big")?.[1], big);
      assert.equal(r.headers.find(([k]) => k === "X-After")?.[1], "z");
    }
  });
});

Deno.test("fast path: Content-Length and chunked uploads arrive whole; Expect: 100-continue gets 100 first", async () => {
  await withServer(async (port) => {
    const cl = await raw(
      port,
      [
        "POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello",
        " world",
      ],
    );
    assert.match(cl, /body=hello world$/);
    const chunked = await raw(
      port,
      "POST /ch HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert.match(chunked, /body=hello world$/);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      enc.encode(
        "PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
      ),
    );
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assert.equal(dec.decode(buf.subarray(0, n!)), "HTTP/1.1 100 Continue\r\n\r\n");
    await conn.write(enc.encode("abc"));
    let rest = "";
    for (let m = await conn.read(buf); m !== null; m = await conn.read(buf)) {
      rest += dec.decode(buf.subarray(0, m));
    }
    conn.close();
    assert.match(rest, /^HTTP\/1\.1 200 OK/);
    assert.match(rest, /body=abc$/);
  });
});

Deno.test("fast path with allowAbsoluteForm: the target's authority replaces Host, the path goes on as sent, a bad target gets 400", async () => {
  await withServer(async (port, connector) => {
    const cases: [string, string, string][] = [
      ["http://good.example/p?q=1", "/p?q=1", "good.example"],
      ["http://a/public/%2e%2e/admin", "/public/%2e%2e/admin", "a"],
      ["http://[::1]:8080?x=1", "/?x=1", "[::1]:8080"],
      ["https://b.test", "/", "b.test"],
    ];
    for (const [target, path, host] of cases) {
      const res = await raw(
        port,
        `GET ${target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
      );
      assert.match(res, /^HTTP\/1\.1 200 /, target);
      const seen = connector.requests.at(-1)!;
      assert.equal(seen.path, path, target);
      assert.deepEqual(
        seen.headers.filter(([k]) => k.toLowerCase() === "host").map(([, v]) => v),
        [host],
        target,
      );
    }
    const before = connector.requests.length;
    for (const target of ["http://[::1/", "http://u@a/", "http:///p", "http://a%zz/"]) {
      const res = await raw(port, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.match(res, /^HTTP\/1\.1 400 /, target);
    }
    assert.equal(connector.requests.length, before);
  }, { allowAbsoluteForm: true });
});

Deno.test("fast path: valid Host forms are accepted (IP-literal, port, pct-encoded, empty)", async () => {
  await withServer(async (port, connector) => {
    for (
      const host of ["[::1]:8080", "a.test:443", "xn--bcher-kva.example", "a%41b", "", "1.2.3.4"]
    ) {
      const res = await raw(port, `GET /h HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.match(res, /^HTTP\/1\.1 200 /, `Host "${host}"`);
    }
    assert.equal(connector.requests.length, 6);
  });
});

Deno.test("fast path: an HTTP/1.0 request's Expect: 100-continue is ignored (no 100 Continue)", async () => {
  // The body is sent only once the upstream side waits for it, when an
  // HTTP/1.1 request would get its 100 Continue.
  let waiting!: () => void;
  const reading = new Promise<void>((ok) => waiting = ok);
  await withServer(
    async (port, connector) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(
          enc.encode(
            "POST /e HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
          ),
        );
        await reading;
        await conn.write(enc.encode("abc"));
        let res = "";
        const buf = new Uint8Array(4096);
        for (let i = 0; i < 1000; i++) {
          const n = await conn.read(buf);
          if (n === null) break;
          res += dec.decode(buf.subarray(0, n));
        }
        assert.match(res, /^HTTP\/1\.0 200 OK\r\n/);
        assert.doesNotMatch(res, /100 Continue/);
        assert.match(res, /body=abc$/);
        assert.ok(!connector.requests[0]!.headers.some(([k]) => k.toLowerCase() === "expect"));
      } finally {
        conn.close();
      }
    },
    {},
    {
      earlyRequestFilter: (s) => {
        const read = s.readBody.bind(s);
        s.readBody = () => {
          const p = read(); // decides about 100 Continue before its first await
          waiting();
          return p;
        };
      },
    },
  );
});

Deno.test("fast path: HTTP/1.0 gets Connection: close unless it asked for keep-alive", async () => {
  await withServer(async (port) => {
    const res = await raw(port, "GET /old HTTP/1.0\r\n\r\n");
    assert.match(res, /^HTTP\/1\.0 200 OK\r\n/);
    assert.match(res, /\r\nConnection: close\r\n/);
    const ka = await raw(
      port,
      "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
      (t) => (t.match(/body=/g) ?? []).length === 2,
    );
    assert.match(ka, /Connection: keep-alive[\s\S]*GET \/a body=[\s\S]*GET \/b body=/);
  });
});

Deno.test("fast path: a slow client head is cut by the header timeout (no slowloris)", async () => {
  await withServer(async (port, connector) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: a\r\n"));
    // Never finish the head: the server must close the connection by itself.
    const n = await conn.read(new Uint8Array(1024)).catch(() => null);
    conn.close();
    assert.equal(n, null);
    assert.equal(connector.requests.length, 0);
  }, { headerTimeout: 100 });
});

Deno.test("fast path: a stalled request body times out and aborts the signal the upstream exchange got; a bodiless request's stays quiet", async () => {
  const signals: (AbortLike | undefined)[] = [];
  const connector: Connector = {
    async request(_peer, _head, body, options = {}) {
      signals.push(options.signal);
      await options.beforeSend?.(false);
      if (body instanceof ReadableStream) await new Response(body).arrayBuffer().catch(() => {});
      return textResponse("ok");
    },
    close: () => Promise.resolve(),
  };
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
  }, { connector, errorLog: () => {} });
  const server = serveH1(proxy, { port: 0, ioTimeout: 150 });
  try {
    const port = server.addr.port;
    assert.match(await raw(port, GET + "\r\n", (t) => t.includes("ok")), /200 OK/);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(enc.encode("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"));
    // Never send the other 7 bytes: the server's I/O timeout must end the request.
    const n = await conn.read(new Uint8Array(1024)).catch(() => null);
    conn.close();
    assert.equal(n, null);
  } finally {
    server.close();
    await server.finished;
  }
  assert.equal(signals.length, 2);
  assert.ok(signals[0] instanceof AbortLink, "a bodiless request's exchange can be aborted");
  assert.equal(signals[0].aborted, false, "a request answered normally is not aborted");
  assert.ok(signals[1] instanceof AbortSignal, "a request with a body gets the session's signal");
  assert.equal(signals[1].aborted, true);
});

Deno.test("fast path: an idle keep-alive connection is closed after the keep-alive timeout", async () => {
  await withServer(async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(enc.encode(GET + "\r\n"));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("body=")) text += dec.decode(buf.subarray(0, (await conn.read(buf))!));
    const n = await conn.read(buf).catch(() => null);
    conn.close();
    assert.equal(n, null);
  }, { keepAliveTimeout: 100 });
});

Deno.test("fast path: a filter answer is written with Content-Length and the connection survives", async () => {
  await withServer(
    async (port, connector) => {
      const res = await raw(
        port,
        "GET /deny HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      );
      assert.match(res, /^HTTP\/1\.1 403 Forbidden\r\n/);
      assert.match(res, /\r\nContent-Length: 3\r\n/i);
      assert.match(res, /no\n[\s\S]*HTTP\/1\.1 200 OK[\s\S]*GET \/ok body=$/);
      assert.deepEqual(connector.requests.map((r) => r.path), ["/ok"]);
    },
    {},
    {
      requestFilter: (s) => s.req.path === "/deny" ? s.respond(403, "no\n") : undefined,
    },
  );
});

Deno.test("fast path: large first body chunks (written after the head, not copied) and small ones arrive whole, in order, on one connection", async () => {
  // Bytes that differ at every offset mod 251, so a shifted or repeated piece shows.
  const body = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) % 251);
  const sizes = [100 * 1024, 1000, 32 * 1024 + 1, 32 * 1024];
  await withServer(
    async (port) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      {
        const reqs = sizes.map((n, i) =>
          `GET /${n} HTTP/1.1\r\nHost: a\r\n${
            i === sizes.length - 1 ? "Connection: close\r\n" : ""
          }\r\n`
        );
        await conn.write(enc.encode(reqs.join("")));
        const all = new Uint8Array(await new Response(conn.readable).arrayBuffer());
        let p = 0;
        for (const n of sizes) {
          const headEnd = findHeadEnd(all, p, all.length);
          const head = dec.decode(all.subarray(p, headEnd));
          assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
          assert.match(head, new RegExp(`\\r\\nContent-Length: ${n}\\r\\n`, "i"));
          assert.deepEqual(all.subarray(headEnd, headEnd + n), body(n), `body of ${n} bytes`);
          p = headEnd + n;
        }
        assert.equal(p, all.length, "nothing after the last body");
      }
    },
    {},
    {
      // One chunk per body: `new Response(bytes)` streams the array whole.
      requestFilter: (s) => s.respond(200, body(Number(s.req.path.slice(1)))),
    },
  );
});

Deno.test("fast path: a suppressErrorLog or error log that throws is reported and the connection serves the next request", async (t) => {
  const cases: [string, Partial<ProxyHttp<null>>, () => void][] = [
    ["suppressErrorLog throws", {
      suppressErrorLog: () => {
        throw new Error("bug in suppressErrorLog");
      },
    }, () => {}],
    ["errorLog throws", {}, () => {
      throw new Error("bug in errorLog");
    }],
  ];
  for (const [name, phases, errorLog] of cases) {
    await t.step(name, async () => {
      const connector = new EchoConnector();
      const proxy = new HttpProxy<null>({
        newCtx: () => null,
        upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
        requestFilter: (s) => {
          if (s.req.path === "/fail") throw new Error("filter failed");
        },
        ...phases,
      }, { connector, errorLog });
      const reported: unknown[][] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void reported.push(args);
      const server = serveH1(proxy, { port: 0 });
      let res: string;
      try {
        res = await raw(
          server.addr.port,
          "GET /fail HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
      } finally {
        server.close();
        await server.finished;
        console.error = original;
      }
      assert.match(res, /^HTTP\/1\.1 500 /);
      assert.match(res, /HTTP\/1\.1 200 OK[\s\S]*GET \/ok body=$/);
      assert.deepEqual(connector.requests.map((r) => r.path), ["/ok"]);
      assert.equal(reported.length, 1);
      assert.match(String(reported[0]![0]), /^cirque: finishing a request failed/);
    });
  }
});

Deno.test("fast path: lingering close: a client still sending its body after an early answer writes all of it, reads the whole answer, then EOF", async (t) => {
  // More than loopback's socket buffers hold: without a lingering close the
  // server closes with unread bytes, the client gets a reset and its writes fail.
  const size = 64 << 20;
  const chunk = new Uint8Array(65536).fill(120);
  const cases: [string, string, RegExp][] = [
    [
      "a request filter's 403 before the body",
      `POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`,
      /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*\r\nConnection: close\r\n\r\nno\n$/,
    ],
    [
      "a 501 for a Transfer-Encoding other than chunked",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      /^HTTP\/1\.1 501 Not Implemented\r\n[\s\S]*\r\n\r\n501 unsupported-transfer-encoding\n$/,
    ],
    [
      "a 400 from the parser",
      `POST / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\nContent-Length: ${size}\r\n\r\n`,
      /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\r\n\r\n400 [a-z-]+\n$/,
    ],
  ];
  for (const [name, head, expected] of cases) {
    await t.step(name, () =>
      withServer(
        async (port, connector) => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          try {
            // The head with the first 64 KiB of body in one write (more than the server
            // reads with the head), then the rest in 64 KiB writes, then a half-close.
            const writing = (async () => {
              const first = enc.encode(head);
              const opening = new Uint8Array(first.length + chunk.length);
              opening.set(first);
              opening.set(chunk, first.length);
              let sent = 0;
              while (sent < opening.length) sent += await conn.write(opening.subarray(sent));
              sent -= first.length;
              for (let i = 0; i < size && sent < size; i++) {
                sent += await conn.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
              }
              await conn.closeWrite();
              return sent;
            })();
            const chunks: Uint8Array[] = [];
            const buf = new Uint8Array(65536);
            let eof = false;
            for (let i = 0; i < 10_000; i++) {
              const n = await conn.read(buf);
              if (n === null) {
                eof = true;
                break;
              }
              chunks.push(buf.slice(0, n));
            }
            assert.ok(eof);
            assert.match(latin1(concatBytes(chunks)), expected);
            // The server read and dropped the whole body: no reset, no failed write.
            assert.equal(await writing, size);
            assert.deepEqual(connector.requests, []);
          } finally {
            conn.close();
          }
        },
        {},
        { requestFilter: (s) => s.req.path === "/deny" ? s.respond(403, "no\n") : undefined },
      ));
  }
});

Deno.test("fast path: shutdown() closes a lingering connection instead of waiting out lingeringTime", async () => {
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
    requestFilter: (s) => s.respond(403, "no\n"),
  }, { connector: new EchoConnector(), errorLog: () => {} });
  // Lingering far longer than the test's bound: only shutdown() can end it.
  const server = serveH1(proxy, { port: 0, lingeringTime: 600_000, lingeringTimeout: 600_000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await conn.write(enc.encode("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nxx"));
    // Read the answer up to the server's half-close: the connection now lingers.
    const buf = new Uint8Array(4096);
    let got = "";
    for (let i = 0; i < 100; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += latin1(buf.subarray(0, n));
    }
    assert.match(got, /^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*\r\n\r\nno\n$/);
    assert.equal(server.connections, 1);
    const bound = new Promise<string>((r) =>
      timer = setTimeout(() => r("still lingering"), 20_000)
    );
    const ended = await Promise.race([server.shutdown().then(() => "finished"), bound]);
    assert.equal(ended, "finished");
    assert.equal(server.connections, 0);
  } finally {
    clearTimeout(timer);
    conn.close();
    server.close();
    await server.finished;
  }
});

Deno.test("fast path: a streamed (unknown-length) response goes out chunked", async () => {
  await withServer(
    async (port) => {
      const res = await raw(port, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
      assert.match(res, /\r\nTransfer-Encoding: chunked\r\n/i);
      assert.match(res, /\r\n\r\n[0-9a-f]+\r\nGET \/x body=\r\n0\r\n\r\n$/);
    },
    {},
    {
      responseFilter: (_s, head) => void head.headers.delete("content-length"),
    },
  );
});

Deno.test("fast path: a response head with CR/LF from a filter is refused, not written", async () => {
  await withServer(
    async (port) => {
      const res = await raw(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
      assert.match(res, /^HTTP\/1\.1 500 /);
      assert.doesNotMatch(res, /Injected/);
    },
    {},
    {
      responseFilter: (_s, head) => void head.headers.set("X-A", "1\r\nInjected: yes"),
    },
  );
});

Deno.test("fast path: response field bytes >= 0x80 go out as they came (no double encoding); text beyond U+00FF as UTF-8", async () => {
  await withServer(
    async (port) => {
      const res = await raw(port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
      // Decoded as UTF-8: the upstream's bytes C3 A9 are "é"; re-encoded they would be "Ã©".
      assert.match(res, /\r\nContent-Disposition: attachment; filename="é\.txt"\r\n/);
      assert.match(res, /\r\nX-Price: 5 €\r\n/);
    },
    {},
    {
      upstreamResponseFilter: (_s, head) => {
        // As the parser hands them over: one character per byte (Latin-1).
        head.headers.set("Content-Disposition", 'attachment; filename="\u00c3\u00a9.txt"');
        head.headers.set("X-Price", "5 \u20ac");
      },
    },
  );
});

/** Resolves with `p`, or rejects after `ms` so that a broken case fails instead of hanging. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

Deno.test("fast path: a client that goes away while its bodiless request waits upstream aborts the exchange", async (t) => {
  /** An upstream that answers only when `open()` is called, or fails when the signal aborts. */
  const slowUpstream = () => {
    const seen: (AbortLike | undefined)[] = [];
    let arrived = Promise.withResolvers<AbortLike | undefined>();
    let gate = Promise.withResolvers<void>();
    const connector: Connector = {
      async request(_peer, head, body, options = {}) {
        await options.beforeSend?.(false);
        // The whole request body first: the client is watched once it is in.
        if (body instanceof ReadableStream) await new Response(body).arrayBuffer();
        const signal = options.signal;
        seen.push(signal);
        arrived.resolve(signal);
        const failOnAbort = new Promise<never>((_, reject) => {
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        });
        await Promise.race([gate.promise, failOnAbort]);
        return textResponse(`answer ${head.path}`);
      },
      close: () => Promise.resolve(),
    };
    return {
      connector,
      seen,
      /** The signal of the next request to reach the upstream. */
      next: () => arrived.promise,
      open: () => {
        gate.resolve();
        gate = Promise.withResolvers();
        arrived = Promise.withResolvers();
      },
    };
  };
  const start = (up: ReturnType<typeof slowUpstream>, ignoreClientAbort = false) => {
    const logged: (string | null)[] = [];
    const proxy = new HttpProxy<null>({
      newCtx: () => null,
      upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
      logging: (_s, e) => {
        logged.push(e?.code ?? null);
      },
    }, { connector: up.connector, errorLog: () => {} });
    return { server: serveH1(proxy, { port: 0, ignoreClientAbort }), logged };
  };
  const requests = {
    "GET": GET + "\r\n",
    "POST with Content-Length": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "chunked POST": "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "5\r\nhello\r\n0\r\n\r\n",
  };
  const cases: [keyof typeof requests, "close" | "closeWrite"][] = [
    ["GET", "close"],
    ["GET", "closeWrite"],
    ["POST with Content-Length", "close"],
    ["chunked POST", "closeWrite"],
  ];
  for (const [what, how] of cases) {
    await t.step(
      `${what}, ${how}() before the response: upstream aborted, nothing written`,
      async () => {
        const up = slowUpstream();
        const { server, logged } = start(up);
        try {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
          await conn.write(enc.encode(requests[what]));
          const signal = await within(up.next(), 5000, "request upstream");
          assert.ok(signal !== undefined);
          if (how === "close") conn.close();
          else await conn.closeWrite();
          const reason = await within(aborted(signal), 5000, "abort of the upstream exchange");
          assert.equal((reason as { code?: string }).code, "CONNECTION_CLOSED");
          if (how === "closeWrite") {
            // The server closed its side and wrote nothing.
            const n = await within(conn.read(new Uint8Array(64)).catch(() => null), 5000, "close");
            assert.equal(n, null);
            conn.close();
          }
        } finally {
          server.close();
          await server.finished;
        }
        assert.deepEqual(logged, ["CONNECTION_CLOSED"]);
      },
    );
  }

  await t.step("ignoreClientAbort: a half-closed client still gets its answer", async () => {
    const up = slowUpstream();
    const { server, logged } = start(up, true);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await conn.write(enc.encode(GET + "\r\n"));
      const signal = await within(up.next(), 5000, "request upstream");
      assert.equal(signal, undefined, "no signal: nothing watches the client");
      await conn.closeWrite();
      up.open();
      let text = "";
      const buf = new Uint8Array(4096);
      while (true) {
        const n = await within(conn.read(buf), 5000, "response");
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n));
      }
      conn.close();
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*answer \/$/);
    } finally {
      server.close();
      await server.finished;
    }
    assert.deepEqual(logged, [null]);
  });

  await t.step(
    "a next request that arrives while the first waits is served after it, in two parts",
    async () => {
      const up = slowUpstream();
      const { server, logged } = start(up);
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
        await conn.write(enc.encode("GET /one HTTP/1.1\r\nHost: a\r\n\r\n"));
        const first = await within(up.next(), 5000, "first request upstream");
        // Half of the second request lands in the watching read, the rest later.
        await conn.write(enc.encode("GET /two HTTP/1.1\r\nHo"));
        await new Promise((r) => setTimeout(r, 50));
        up.open();
        let text = "";
        const buf = new Uint8Array(4096);
        while (!text.includes("answer /one")) {
          text += dec.decode(buf.subarray(0, (await within(conn.read(buf), 5000, "first"))!));
        }
        await conn.write(enc.encode("st: a\r\n\r\n"));
        const second = await within(up.next(), 5000, "second request upstream");
        up.open();
        while (!text.includes("answer /two")) {
          text += dec.decode(buf.subarray(0, (await within(conn.read(buf), 5000, "second"))!));
        }
        conn.close();
        assert.equal(first!.aborted, false);
        assert.equal(second!.aborted, false);
        assert.ok(text.indexOf("answer /one") < text.indexOf("answer /two"));
        assert.equal((text.match(/HTTP\/1\.1 200 OK\r\n/g) ?? []).length, 2);
      } finally {
        server.close();
        await server.finished;
      }
      assert.deepEqual(logged, [null, null]);
    },
  );
});

Deno.test("fast path over TLS: keep-alive requests on one connection, and a client that goes away aborts its request", async () => {
  const certs = await makeCerts();
  const signals: AbortLike[] = [];
  const connector: Connector = {
    async request(_peer, head, _body, options = {}) {
      await options.beforeSend?.(false);
      signals.push(options.signal!);
      if (head.path === "/hold") {
        await new Promise((_, reject) =>
          options.signal!.addEventListener("abort", () => reject(options.signal!.reason), {
            once: true,
          })
        );
      }
      return textResponse(`tls ${head.path}`);
    },
    close: () => Promise.resolve(),
  };
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:9"),
  }, { connector, errorLog: () => {} });
  const server = serveH1(proxy, { port: 0, cert: certs.server.cert, key: certs.server.key });
  try {
    const port = server.addr.port;
    const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [certs.ca] });
    const buf = new Uint8Array(4096);
    let text = "";
    for (const path of ["/a", "/b", "/c"]) {
      await conn.write(enc.encode(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`));
      while (!text.includes(`tls ${path}`)) {
        text += dec.decode(buf.subarray(0, (await within(conn.read(buf), 5000, path))!));
      }
    }
    assert.equal((text.match(/HTTP\/1\.1 200 OK\r\n/g) ?? []).length, 3);
    await conn.write(enc.encode("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n"));
    for (let i = 0; i < 1000 && signals.length < 4; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(signals.length, 4, "the held request did not reach the upstream");
    conn.close();
    await within(aborted(signals[3]!), 5000, "abort over TLS");
    assert.deepEqual(signals.map((s) => s.aborted), [false, false, false, true]);
  } finally {
    server.close();
    await server.finished;
  }
});

/**
 * What a strict reader makes of a client's bytes: the requests (target and
 * body) in order, up to the first one it cannot take whole.
 */
function strictRequests(bytes: Uint8Array): { path: string; body: string }[] {
  const out: { path: string; body: string }[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const end = findHeadEnd(bytes, pos, bytes.length);
    if (end < 0) break;
    let h;
    try {
      h = parseRequestHead(bytes, pos, end);
    } catch {
      break;
    }
    pos = end;
    let body = "";
    if (h.chunked) {
      const chunked = chunkedBody(bytes, pos);
      if (chunked === null) break;
      ({ body, end: pos } = chunked);
    } else if (h.contentLength > 0) {
      if (pos + h.contentLength > bytes.length) break;
      body = latin1(bytes, pos, pos + h.contentLength);
      pos += h.contentLength;
    }
    out.push({ path: h.target, body });
    if (h.connectionClose || (h.versionMinor === 0 && !h.connectionKeepAlive)) break;
  }
  return out;
}

Deno.test("fast path: 1 000 hostile first requests never smuggle a request past a strict reader, and the server lives on", async () => {
  // Each case: a mutated head, then its body (a request in disguise), then a
  // valid request on the same connection. What reaches upstream must be what
  // a strict reader of the same bytes sees (or a prefix of it: the server may
  // refuse more, e.g. a missing Host), never a request hidden in a body.
  const SMUGGLE = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const SEEDS: [string, string][] = [
    [`POST /one HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${SMUGGLE.length}\r\n\r\n`, SMUGGLE],
    [
      "POST /two HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n",
      `${SMUGGLE.length.toString(16)}\r\n${SMUGGLE}\r\n0\r\n\r\n`,
    ],
    ["GET /three HTTP/1.1\r\nHost: a.test\r\n\r\n", ""],
  ];
  const NEXT = "GET /second HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
  await withServer(async (port, connector) => {
    const rnd = prng(0x5eed);
    let forwarded = 0;
    for (let n = 0; n < 1000; n++) {
      const [head, body] = SEEDS[n % SEEDS.length]!;
      const first = mutate(head, rnd);
      const bytes = new Uint8Array([...first, ...enc.encode(body + NEXT)]);
      const where = `case ${n}: ${JSON.stringify(String.fromCharCode(...first))}`;
      connector.requests.length = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reply = await Promise.race([
        raw(port, bytes),
        new Promise<null>((r) => (timer = setTimeout(() => r(null), 10_000))),
      ]);
      clearTimeout(timer);
      assert.ok(reply !== null, `${where}: the connection did not end`);
      assert.ok(reply === "" || reply.startsWith("HTTP/1.1 "), `${where}: ${reply}`);
      const seen = connector.requests.map((r) => ({ path: r.path, body: r.body }));
      const strict = strictRequests(bytes);
      assert.deepEqual(seen, strict.slice(0, seen.length), `${where}: ${JSON.stringify(seen)}`);
      assert.equal(reply.match(/HTTP\/1\.1 200 /g)?.length ?? 0, seen.length, where);
      forwarded += seen.length;
    }
    // The mutations let some requests through and stop others.
    assert.ok(forwarded > 150 && forwarded < 1500, `forwarded ${forwarded}`);
    // Still serving.
    assert.match(await raw(port, NEXT), /^HTTP\/1\.1 200 /);
  }, { headerTimeout: 100, ioTimeout: 100, keepAliveTimeout: 100 });
});

function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
