import assert from "node:assert/strict";
import type {
  Connector,
  RequestBody,
  RequestHead,
  RequestOptions,
  UpstreamResponse,
} from "@cirque/core/connector";
import { ProxyError } from "@cirque/core/error";
import { H1Connector } from "@cirque/core/h1";
import { HttpPeer } from "@cirque/core/peer";
import { RequestHeader } from "@cirque/core/http-header";
import { HttpProxy, type ProxyHttp, Session } from "./mod.ts";

interface Seen {
  peer: string;
  method: string;
  path: string;
  headers: [string, string][];
  body: string;
}

type Script = (
  peer: HttpPeer,
  head: RequestHead,
  seen: Seen,
) => Partial<UpstreamResponse> & { reused?: boolean } | ProxyError | "error-after-send";

/** A connector that follows a script and records what it was asked to send. */
/** A bodiless 200 as a connector returns it. */
function okResponse(reused: boolean) {
  return {
    status: 200,
    statusText: "OK",
    headers: [] as [string, string][],
    body: null,
    trailers: Promise.resolve([] as [string, string][]),
    reused,
    timing: { connected: 0, responseHead: 0 },
  };
}

/** What H1Connector throws for a reused connection closed before any response byte. */
function closedUnanswered(): ProxyError {
  return new ProxyError("CONNECTION_CLOSED", "upstream closed before responding", {
    source: "upstream",
    retryable: true,
    context: { responseBytes: 0 },
  });
}

class ScriptedConnector implements Connector {
  seen: Seen[] = [];
  constructor(readonly script: Script) {}
  async request(
    peer: HttpPeer,
    head: RequestHead,
    body: RequestBody,
    options: RequestOptions = {},
  ): Promise<UpstreamResponse> {
    const record: Seen = { peer: peer.address, method: "", path: "", headers: [], body: "" };
    const pre = this.script(peer, head, record);
    if (
      pre instanceof ProxyError && (pre.code.startsWith("CONNECT") || pre.code === "TLS_HANDSHAKE")
    ) throw pre;
    const reused = !(pre instanceof ProxyError) && pre !== "error-after-send" &&
      pre.reused === true;
    await options.beforeSend?.(
      pre instanceof ProxyError || pre === "error-after-send" ? true : reused,
    );
    record.method = head.method;
    record.path = head.path;
    record.headers = head.headers.map(([k, v]) => [k, v]);
    if (body instanceof ReadableStream) record.body = await new Response(body).text();
    else if (body instanceof Uint8Array) record.body = new TextDecoder().decode(body);
    this.seen.push(record);
    if (pre instanceof ProxyError) throw pre;
    if (pre === "error-after-send") {
      throw closedUnanswered();
    }
    return { ...okResponse(reused), ...pre };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const quiet = { errorLog: () => {} };
const textBody = (s: string) => new Response(s).body!;

Deno.test("phases run in Pingora's order, each once, and logging last", async () => {
  const calls: string[] = [];
  const connector = new ScriptedConnector(() => ({ body: textBody("hello") }));
  const proxy: ProxyHttp<{ id: number }> = {
    newCtx: () => (calls.push("newCtx"), { id: 1 }),
    earlyRequestFilter: () => void calls.push("earlyRequestFilter"),
    requestFilter: () => void calls.push("requestFilter"),
    upstreamPeer: () => (calls.push("upstreamPeer"), new HttpPeer("127.0.0.1:2")),
    connectedToUpstream: () => void calls.push("connectedToUpstream"),
    upstreamRequestFilter: () => void calls.push("upstreamRequestFilter"),
    upstreamResponseFilter: () => void calls.push("upstreamResponseFilter"),
    responseFilter: () => void calls.push("responseFilter"),
    responseBodyFilter: (_s, _c, eos) => void calls.push(`responseBodyFilter(${eos})`),
    logging: (_s, err) => void calls.push(`logging(${err?.code ?? "ok"})`),
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/x"),
  );
  assert.equal(await res.text(), "hello");
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(calls, [
    "newCtx",
    "earlyRequestFilter",
    "requestFilter",
    "upstreamPeer",
    "connectedToUpstream",
    "upstreamRequestFilter",
    "upstreamResponseFilter",
    "responseFilter",
    "responseBodyFilter(false)",
    "responseBodyFilter(true)",
    "logging(ok)",
  ]);
});

Deno.test("a requestFilter answer skips the upstream but still runs responseFilter and logging", async () => {
  const calls: string[] = [];
  const connector = new ScriptedConnector(() => ({}));
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    requestFilter: (s) => s.respond(403, "no\n", { "X-Why": "test" }),
    upstreamPeer: () => (calls.push("upstreamPeer"), new HttpPeer("127.0.0.1:2")),
    responseFilter: (_s, head) => void head.headers.set("X-Filtered", "1"),
    logging: (s, err) => void calls.push(`logging(${s.status},${err?.code ?? "ok"})`),
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/x"),
  );
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("x-why"), "test");
  assert.equal(res.headers.get("x-filtered"), "1");
  assert.equal(await res.text(), "no\n");
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(calls, ["logging(403,ok)"]);
  assert.equal(connector.seen.length, 0);
});

Deno.test("failover: failToConnect marks the error retryable and upstreamPeer picks the next backend", async () => {
  const peers: string[] = [];
  const logged: (string | null)[] = [];
  const connector = new ScriptedConnector((peer) =>
    peer.address === "127.0.0.1:1"
      ? new ProxyError("CONNECT_REFUSED", "refused", { source: "upstream" })
      : { body: textBody("from b") }
  );
  const proxy: ProxyHttp<{ tries: number }> = {
    newCtx: () => ({ tries: 0 }),
    upstreamPeer: (_s, ctx) => {
      const addr = ctx.tries++ === 0 ? "127.0.0.1:1" : "127.0.0.1:2";
      peers.push(addr);
      return new HttpPeer(addr);
    },
    failToConnect: (_s, _p, _c, e) => {
      e.retryable = true;
      return e;
    },
    logging: (_s, e) => void logged.push(e?.code ?? null),
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/"),
  );
  assert.equal(await res.text(), "from b");
  assert.deepEqual(peers, ["127.0.0.1:1", "127.0.0.1:2"]);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(logged, [null]);
});

Deno.test("connect errors are not retried by default and map to 502; connect timeouts to 504", async () => {
  for (
    const [code, status] of [["CONNECT_REFUSED", 502], ["CONNECT_TIMEOUT", 504], [
      "TLS_HANDSHAKE",
      502,
    ]] as const
  ) {
    let calls = 0;
    const errors: string[] = [];
    const connector = new ScriptedConnector(() =>
      new ProxyError(code, "x", { source: "upstream", retryable: true })
    );
    const proxy: ProxyHttp<null> = {
      newCtx: () => null,
      upstreamPeer: () => (calls++, new HttpPeer("127.0.0.1:1")),
      logging: (_s, e) => void errors.push(e!.code),
    };
    const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
      new Request("http://a.test/"),
    );
    assert.equal(res.status, status, code);
    assert.equal(res.headers.get("cache-control"), "private, no-store");
    assert.match(await res.text(), new RegExp(`^${status} `));
    assert.equal(calls, 1);
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(errors, [code]);
  }
});

Deno.test("upstream read timeout maps to 504, invalid response to 502, phase errors to 500", async () => {
  const cases: [ProxyError | "throw", number][] = [
    [new ProxyError("READ_TIMEOUT", "slow", { source: "upstream" }), 504],
    [new ProxyError("INVALID_RESPONSE", "bad", { source: "upstream" }), 502],
    ["throw", 500],
  ];
  for (const [err, status] of cases) {
    const connector = new ScriptedConnector(() => err === "throw" ? {} : err);
    const proxy: ProxyHttp<null> = {
      newCtx: () => null,
      upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
      upstreamResponseFilter: () => {
        if (err === "throw") throw new Error("bug in filter");
      },
    };
    const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
      new Request("http://a.test/"),
    );
    assert.equal(res.status, status);
    await res.body?.cancel();
  }
});

Deno.test("an idempotent request on a reused connection is retried after an error; a POST is not", async () => {
  for (const [method, expectAttempts] of [["GET", 2], ["POST", 1]] as const) {
    let n = 0;
    const connector = new ScriptedConnector(() =>
      n++ === 0 ? "error-after-send" : { body: textBody("ok") }
    );
    let attempts = 0;
    const proxy: ProxyHttp<null> = {
      newCtx: () => null,
      upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
      logging: (s) => void (attempts = s.attempts),
    };
    const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
      new Request("http://a.test/", { method, body: method === "POST" ? "data" : null }),
    );
    assert.equal(res.status, expectAttempts === 2 ? 200 : 502, method);
    await res.text();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(attempts, expectAttempts, method);
    assert.equal(connector.seen.length, expectAttempts);
  }
});

Deno.test("after connecting, only a reused connection closed before the response is retried: not a timeout, not an invalid response", async () => {
  const cases: [string, () => ProxyError | "error-after-send", number][] = [
    ["closed before responding", () => "error-after-send", 2],
    ["read timeout", () => new ProxyError("READ_TIMEOUT", "slow", { source: "upstream" }), 1],
    [
      "invalid response",
      () => new ProxyError("INVALID_RESPONSE", "bad", { source: "upstream" }),
      1,
    ],
  ];
  for (const [name, fail, expectAttempts] of cases) {
    // The scripted connector reports these errors on a reused connection, after sending.
    let n = 0;
    const connector = new ScriptedConnector(() => n++ === 0 ? fail() : { body: textBody("ok") });
    const proxy: ProxyHttp<null> = {
      newCtx: () => null,
      upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    };
    const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
      new Request("http://a.test/"),
    );
    await res.body?.cancel();
    assert.equal(connector.seen.length, expectAttempts, name);
    assert.equal(
      res.status,
      expectAttempts === 2 ? 200 : name === "read timeout" ? 504 : 502,
      name,
    );
  }
});

Deno.test("retries stop at maxRetries", async () => {
  const connector = new ScriptedConnector(() => "error-after-send");
  let peers = 0;
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    upstreamPeer: () => (peers++, new HttpPeer("127.0.0.1:1")),
  };
  const res = await new HttpProxy(proxy, { connector, maxRetries: 3, ...quiet }).handle(
    new Request("http://a.test/"),
  );
  assert.equal(res.status, 502);
  await res.body?.cancel();
  assert.equal(peers, 3);
});

Deno.test("a retried request replays the request body; beyond the retry buffer it is not retried", async () => {
  for (const [size, expectAttempts] of [[1000, 2], [70_000, 1]] as const) {
    let n = 0;
    const connector = new ScriptedConnector(() =>
      n++ === 0 ? "error-after-send" : { body: textBody("ok") }
    );
    const proxy: ProxyHttp<null> = {
      newCtx: () => null,
      upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    };
    const body = "x".repeat(size);
    const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
      new Request("http://a.test/", { method: "PUT", body }),
    );
    await res.body?.cancel();
    assert.equal(connector.seen.length, expectAttempts, `size ${size}`);
    for (const s of connector.seen) assert.equal(s.body.length, size);
    assert.equal(res.status, expectAttempts === 2 ? 200 : 502);
  }
});

Deno.test("a retry waits for the failed attempt's pending body read: one read at a time, body intact", async () => {
  // The client's body: reads wait until the second attempt has started, and
  // any read that starts while another is in flight is recorded.
  const parts = ["AAAA", "BBBB"];
  let inFlight = 0;
  let overlapping = 0;
  let secondAttempt!: () => void;
  const started = new Promise<void>((ok) => secondAttempt = ok);
  let firstRead!: () => void;
  const reading = new Promise<void>((ok) => firstRead = ok);
  const reader = {
    async read(): Promise<Uint8Array | null> {
      if (inFlight++ > 0) overlapping++;
      firstRead();
      await started;
      inFlight--;
      const p = parts.shift();
      return p === undefined ? null : new TextEncoder().encode(p);
    },
    cancel() {},
  };
  const bodies: string[] = [];
  let attempt = 0;
  const connector: Connector = {
    async request(_peer, _head, body, options = {}) {
      if (!(body instanceof ReadableStream)) throw new Error("expected a streamed body");
      if (attempt++ === 0) {
        // As H1Connector: the pump waits for the body while the reused
        // connection turns out closed before any response byte.
        await options.beforeSend?.(true);
        body.getReader().read().catch(() => {});
        await reading;
        throw closedUnanswered();
      }
      await options.beforeSend?.(false);
      secondAttempt();
      bodies.push(await new Response(body).text());
      return okResponse(false);
    },
    close: () => Promise.resolve(),
  };
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
  }, { connector, ...quiet });
  const session = new Session(
    new RequestHeader("PUT", "/up", [["Host", "a.test"], ["Content-Length", "8"]]),
    reader,
  );
  const outcome = await proxy.process(session);
  assert.equal(outcome.head.status, 200);
  await outcome.finish();
  assert.equal(attempt, 2);
  assert.deepEqual(bodies, ["AAAABBBB"]);
  assert.equal(overlapping, 0, "no read of the session body started while another was in flight");
});

Deno.test("an upstream 101 to a request that asked for no upgrade is answered 502, not relayed", async () => {
  let upgradeAborted = false;
  const connector = new ScriptedConnector(() => ({
    status: 101,
    statusText: "Switching Protocols",
    headers: [["Upgrade", "foo"], ["Connection", "upgrade"]],
    body: textBody("RAWBYTES"),
    upgrade: new WritableStream({ abort: () => void (upgradeAborted = true) }),
  }));
  const errors: string[] = [];
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    logging: (_s, e) => void errors.push(e?.code ?? "ok"),
  }, { connector, ...quiet });
  const session = new Session(new RequestHeader("GET", "/", [["Host", "a.test"]]));
  const outcome = await proxy.process(session);
  assert.equal(outcome.head.status, 502);
  assert.equal(outcome.upgrade, null);
  await outcome.body?.cancel();
  await outcome.finish();
  assert.deepEqual(errors, ["INVALID_RESPONSE"]);
  assert.ok(upgradeAborted);
  const res = await proxy.handle(new Request("http://a.test/"));
  assert.equal(res.status, 502);
  await res.body?.cancel();
});

Deno.test("handle(): a final status outside 200-599 (set by a phase) becomes a logged 502, not a RangeError", async () => {
  for (const status of [101, 103, 600]) {
    const connector = new ScriptedConnector(() => ({ body: textBody("x") }));
    const errors: string[] = [];
    const proxy = new HttpProxy<null>({
      newCtx: () => null,
      upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
      responseFilter: (_s, head) => void (head.status = status),
      logging: (s, e) => void errors.push(`${s.status} ${e?.code ?? "ok"}`),
    }, { connector, ...quiet });
    const res = await proxy.handle(new Request("http://a.test/"));
    assert.equal(res.status, 502, String(status));
    assert.equal(await res.text(), "502 Bad Gateway\n");
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(errors, ["502 INVALID_RESPONSE"], String(status));
  }
});

Deno.test("handle(): a suppressErrorLog or error log that throws is reported, not an unhandled rejection", async (t) => {
  const cases: [string, Partial<ProxyHttp<null>>, { errorLog?: () => void }][] = [
    ["suppressErrorLog throws (error body streamed)", {
      suppressErrorLog: () => {
        throw new Error("bug in suppressErrorLog");
      },
    }, {}],
    ["errorLog throws (bodiless answer)", { failToProxy: () => ({ status: 204 }) }, {
      errorLog: () => {
        throw new Error("bug in errorLog");
      },
    }],
  ];
  for (const [name, phases, options] of cases) {
    await t.step(name, async () => {
      const connector = new ScriptedConnector(() =>
        new ProxyError("INVALID_RESPONSE", "bad", { source: "upstream" })
      );
      const reported: unknown[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void reported.push(args);
      try {
        const proxy = new HttpProxy<null>({
          newCtx: () => null,
          upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
          ...phases,
        }, { connector, ...quiet, ...options });
        const res = await proxy.handle(new Request("http://a.test/"));
        await res.text();
        for (let i = 0; i < 10 && reported.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 0));
        }
      } finally {
        console.error = original;
      }
      assert.equal(reported.length, 1);
      assert.match(String((reported[0] as unknown[])[0]), /^cirque: finishing a request failed/);
    });
  }
});

Deno.test("a requestBodyFilter that drops a chunk (empty replacement) does not stall the upload", async () => {
  const connector = new ScriptedConnector(() => ({ body: textBody("ok") }));
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    requestBodyFilter: (_s, chunk) =>
      chunk !== null && new TextDecoder().decode(chunk) === "drop"
        ? { chunk: new Uint8Array(0) }
        : undefined,
  };
  const parts = ["drop", "keep"];
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const p = parts.shift();
      if (p === undefined) c.close();
      else c.enqueue(new TextEncoder().encode(p));
    },
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const res = await Promise.race([
    new HttpProxy(proxy, { connector, ...quiet }).handle(
      new Request("http://a.test/", { method: "PUT", body }),
    ),
    new Promise<never>((_, no) => timer = setTimeout(() => no(new Error("upload stalled")), 5000)),
  ]).finally(() => clearTimeout(timer));
  assert.equal(await res.text(), "ok");
  assert.equal(connector.seen[0]!.body, "keep");
});

Deno.test("hop-by-hop fields are stripped both ways and forwarding fields are set", async () => {
  const connector = new ScriptedConnector(() => ({
    headers: [
      ["Connection", "close, X-Up-Secret"],
      ["X-Up-Secret", "s"],
      ["Keep-Alive", "timeout=5"],
      ["Transfer-Encoding", "chunked"],
      ["Content-Type", "text/plain"],
    ],
    body: textBody("x"),
  }));
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/p?q=1", {
      headers: {
        "Connection": "X-Secret",
        "X-Secret": "1",
        "Keep-Alive": "5",
        "TE": "trailers",
        "Upgrade": "h2c",
        "Proxy-Connection": "keep-alive",
        "X-Forwarded-For": "6.6.6.6",
        "Accept": "*/*",
        "Host": "a.test",
      },
    }),
    { remoteAddr: { transport: "tcp", hostname: "192.0.2.1", port: 5555 } } as never,
  );
  await res.text();
  const sent = new Map(connector.seen[0]!.headers.map(([k, v]) => [k.toLowerCase(), v]));
  for (const h of ["connection", "x-secret", "keep-alive", "te", "upgrade", "proxy-connection"]) {
    assert.equal(sent.has(h), false, `request ${h}`);
  }
  assert.equal(sent.get("accept"), "*/*");
  assert.equal(sent.get("x-forwarded-for"), "192.0.2.1");
  assert.equal(sent.get("x-forwarded-proto"), "http");
  assert.equal(sent.get("x-forwarded-host"), "a.test");
  assert.equal(sent.get("via"), "1.1 cirque");
  assert.equal(connector.seen[0]!.path, "/p?q=1");
  for (const h of ["connection", "x-up-secret", "keep-alive"]) {
    assert.equal(res.headers.has(h), false, `response ${h}`);
  }
  assert.equal(res.headers.get("content-type"), "text/plain");
});

Deno.test("handle(): the response keeps every upstream field in order, repeated ones apart, and adds none", async (t) => {
  const fields: [string, string][] = [
    ["Set-Cookie", "a=1; Path=/"],
    ["Content-Type", "application/json"],
    ["Set-Cookie", "b=2, c=3"],
    ["X-Multi", "one"],
    ["X-Multi", "two"],
    ["Content-Length", "2"],
  ];
  /** A buffered body as the fast connector offers it (one chunk, then the end). */
  const source = () => {
    const chunks = [new TextEncoder().encode("{}")];
    return { read: () => chunks.shift() ?? null, cancel: () => {} };
  };
  const cases: [string, () => Record<string, unknown>, string][] = [
    ["bytes (a buffered source)", () => ({ source: source() }), "{}"],
    ["a stream", () => ({ body: textBody("{}") }), "{}"],
    ["no body (204)", () => ({ status: 204, statusText: "No Content" }), ""],
  ];
  for (const [name, shape, text] of cases) {
    await t.step(name, async () => {
      const connector = new ScriptedConnector(() => ({
        headers: fields.map(([k, v]) => [k, v] as [string, string]),
        ...shape(),
      }));
      const proxy: ProxyHttp<null> = {
        newCtx: () => null,
        upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
      };
      const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
        new Request("http://a.test/"),
      );
      assert.equal(await res.text(), text);
      assert.deepEqual(res.headers.getSetCookie(), ["a=1; Path=/", "b=2, c=3"]);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.equal(res.headers.get("x-multi"), "one, two");
      const names = [...res.headers.keys()];
      assert.equal(names.filter((n) => n === "content-type").length, 1);
      // Nothing of Response's own: no default Content-Type, no other field.
      assert.deepEqual(
        names.filter((n) => n !== "content-length"),
        ["content-type", "set-cookie", "set-cookie", "x-multi"],
      );
    });
  }
});

Deno.test("upstreamRequestFilter changes what is sent, per attempt on a fresh copy", async () => {
  let n = 0;
  const connector = new ScriptedConnector(() =>
    n++ === 0 ? "error-after-send" : { body: textBody("ok") }
  );
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    upstreamRequestFilter: (_s, up) => {
      up.headers.append("X-Added", "1");
      up.path = "/rewritten";
    },
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/orig"),
  );
  await res.text();
  assert.equal(connector.seen.length, 2);
  for (const s of connector.seen) {
    assert.equal(s.path, "/rewritten");
    assert.equal(s.headers.filter(([k]) => k === "X-Added").length, 1);
  }
});

Deno.test("connectedToUpstream and upstreamRequestFilter: awaited when async, a failure answers 500 and sends nothing", async (t) => {
  const later = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 5));
  const cases: [
    string,
    Pick<ProxyHttp<null>, "connectedToUpstream" | "upstreamRequestFilter">,
    boolean,
  ][] = [
    ["both synchronous", {
      connectedToUpstream: (s) => void s.req.headers.set("X-Seen", "c"),
      upstreamRequestFilter: (_s, up) => void up.headers.set("X-Filter", "sync"),
    }, true],
    ["an async connectedToUpstream, then a sync filter", {
      connectedToUpstream: () => later(undefined),
      upstreamRequestFilter: (_s, up) => void up.headers.set("X-Filter", "after-async"),
    }, true],
    ["an async filter only", {
      upstreamRequestFilter: async (_s, up) => {
        await later(undefined);
        up.headers.set("X-Filter", "async");
      },
    }, true],
    ["connectedToUpstream throws", {
      connectedToUpstream: () => {
        throw new Error("boom");
      },
      upstreamRequestFilter: (_s, up) => void up.headers.set("X-Filter", "never"),
    }, false],
    ["connectedToUpstream rejects", {
      connectedToUpstream: () => Promise.reject(new Error("boom")),
    }, false],
    ["the filter throws", {
      upstreamRequestFilter: () => {
        throw new Error("boom");
      },
    }, false],
    ["the filter rejects", {
      upstreamRequestFilter: async () => {
        await later(undefined);
        throw new Error("boom");
      },
    }, false],
  ];
  for (const [name, phases, ok] of cases) {
    await t.step(name, async () => {
      const connector = new ScriptedConnector(() => ({ body: textBody("ok") }));
      const logged: (string | null)[] = [];
      const proxy: ProxyHttp<null> = {
        newCtx: () => null,
        upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
        ...phases,
        logging: (_s, err) => void logged.push(err?.code ?? null),
      };
      const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
        new Request("http://a.test/x"),
      );
      await res.text();
      await new Promise((r) => setTimeout(r, 0));
      if (ok) {
        assert.equal(res.status, 200);
        assert.equal(connector.seen.length, 1);
        const sent = new Headers(connector.seen[0]!.headers);
        if (phases.upstreamRequestFilter) assert.notEqual(sent.get("x-filter"), null);
        assert.deepEqual(logged, [null]);
      } else {
        assert.equal(res.status, 500);
        assert.equal(connector.seen.length, 0, "nothing was sent");
        assert.equal(logged.length, 1);
        assert.notEqual(logged[0], null);
      }
    });
  }
});

Deno.test("handle() with a cut signal: a streamed body still being sent ends when it aborts, its upstream cancelled", async (t) => {
  const endless = (state: { cancelled: unknown }) => {
    const chunks = [new TextEncoder().encode("part1")];
    return {
      // A source with one chunk buffered, then a read that never completes.
      source: {
        read: () => chunks.shift() ?? new Promise<null>(() => {}),
        cancel: (reason?: unknown) => void (state.cancelled = reason ?? true),
      },
    };
  };
  const streamed = (state: { cancelled: unknown }) => ({
    body: new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(new TextEncoder().encode("part1")),
      pull: () => new Promise<void>(() => {}),
      cancel: (reason) => void (state.cancelled = reason ?? true),
    }),
  });
  /** `handle` with a cut signal in front of an upstream answering `shape()`; what `logging` saw. */
  const handleWithCut = async (shape: () => unknown) => {
    const logged: (string | null)[] = [];
    const connector = new ScriptedConnector(() => shape() as never);
    const proxy: ProxyHttp<null> = {
      newCtx: () => null,
      upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
      logging: (_s, err) => void logged.push(err?.code ?? null),
    };
    const cut = new AbortController();
    const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
      new Request("http://a.test/x"),
      undefined,
      cut.signal,
    );
    return { res, cut, logged };
  };
  for (const [name, shape] of [["a pull source", endless], ["a stream", streamed]] as const) {
    await t.step(name, async () => {
      const state: { cancelled: unknown } = { cancelled: false };
      const { res, cut, logged } = await handleWithCut(() => shape(state));
      const reader = res.body!.getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), "part1");
      const next = reader.read();
      const reason = new DOMException("deadline", "AbortError");
      cut.abort(reason);
      await assert.rejects(next, (e) => e === reason);
      assert.notEqual(state.cancelled, false, "the upstream body is cancelled");
      await new Promise((r) => setTimeout(r, 0));
      assert.deepEqual(logged, ["ABORTED"]);
    });
  }
  await t.step("a body that ended before the cut is not touched by it", async () => {
    const { res, cut, logged } = await handleWithCut(() => ({ body: textBody("whole") }));
    assert.equal(await res.text(), "whole");
    cut.abort();
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(logged, [null]);
  });
});

Deno.test("responseBodyFilter rewrites the body and drops Content-Length", async () => {
  const connector = new ScriptedConnector(() => ({
    headers: [["Content-Length", "5"]],
    body: textBody("hello"),
  }));
  const proxy: ProxyHttp<{ buf: string }> = {
    newCtx: () => ({ buf: "" }),
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    responseBodyFilter: (_s, chunk, eos, ctx) => {
      if (chunk) ctx.buf += new TextDecoder().decode(chunk);
      return { chunk: eos ? new TextEncoder().encode(ctx.buf.toUpperCase() + "!") : null };
    },
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/"),
  );
  assert.equal(res.headers.get("content-length"), null);
  assert.equal(await res.text(), "HELLO!");
});

Deno.test("a client that cancels the response cancels the upstream body and logs a downstream error", async () => {
  let cancelled = false;
  const upstreamBody = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new Uint8Array(1024));
    },
    cancel() {
      cancelled = true;
    },
  });
  const connector = new ScriptedConnector(() => ({ body: upstreamBody }));
  const logged: (string | null)[] = [];
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    logging: (_s, e) => void logged.push(e ? `${e.source}:${e.code}` : null),
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/"),
  );
  const reader = res.body!.getReader();
  await reader.read();
  await reader.cancel("client gone");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(cancelled, true);
  assert.deepEqual(logged, ["downstream:CONNECTION_CLOSED"]);
});

Deno.test("failToProxy can send a custom error page", async () => {
  const connector = new ScriptedConnector(() =>
    new ProxyError("CONNECT_REFUSED", "x", { source: "upstream" })
  );
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
    failToProxy: () => ({ status: 503, response: new Response("maintenance", { status: 503 }) }),
  };
  const res = await new HttpProxy(proxy, { connector, ...quiet }).handle(
    new Request("http://a.test/"),
  );
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "maintenance");
});

Deno.test("HTTP/2-style requests without Host get Host from the authority upstream", async () => {
  const connector = new ScriptedConnector(() => ({}));
  const proxy: ProxyHttp<null> = {
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer("127.0.0.1:1"),
  };
  const h = new HttpProxy(proxy, { connector, ...quiet });
  // A Request built without a Host header looks like Deno.serve's HTTP/2 requests.
  const res = await h.handle(new Request("https://h2.test:8443/x"));
  await res.body?.cancel();
  const sent = connector.seen[0]!.headers;
  assert.deepEqual(sent.find(([k]) => k.toLowerCase() === "host"), ["Host", "h2.test:8443"]);
  assert.equal(new Map(sent.map(([k, v]) => [k.toLowerCase(), v])).get("via"), "2 cirque");
});

Deno.test("Session.timing: start ≤ upstream connected ≤ upstream response ≤ end, at millisecond resolution, with an origin that answers 60 ms late", async () => {
  // An origin that waits 60 ms before its head and 40 ms more before the body.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    await new Promise((r) => setTimeout(r, 60));
    await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"));
    await new Promise((r) => setTimeout(r, 40));
    await conn.write(new TextEncoder().encode("ok"));
    await conn.read(new Uint8Array(1)).catch(() => null);
    conn.close();
  })();
  const connector = new H1Connector();
  let timing: Session["timing"] | null = null;
  const proxy = new HttpProxy<null>({
    newCtx: () => null,
    upstreamPeer: () => new HttpPeer(`127.0.0.1:${(listener.addr as Deno.NetAddr).port}`),
    logging: (s) => void (timing = { ...s.timing }),
  }, { connector, ...quiet });
  const res = await proxy.handle(new Request("http://a.test/"));
  assert.equal(await res.text(), "ok");
  for (let i = 0; i < 100 && timing === null; i++) await new Promise((r) => setTimeout(r, 5));
  await connector.close();
  listener.close();
  await served;
  const t = timing as Session["timing"] | null;
  assert.ok(t !== null, "logging ran");
  assert.ok(t.start > 0);
  assert.ok(t.start <= t.upstreamConnected, JSON.stringify(t));
  assert.ok(t.upstreamConnected <= t.upstreamResponse, JSON.stringify(t));
  assert.ok(t.upstreamResponse <= t.end, JSON.stringify(t));
  // Bounds wider than the clock's resolution (about 1 ms), not a speed check.
  assert.ok(t.upstreamResponse - t.start >= 50, JSON.stringify(t));
  assert.ok(t.end - t.upstreamResponse >= 30, JSON.stringify(t));
});
