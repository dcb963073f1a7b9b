import assert from "node:assert/strict";
import { ConfigError } from "@cirque/core/config";
import type {
  Connector,
  RequestHead,
  RequestOptions,
  UpstreamResponse,
} from "@cirque/core/connector";
import { ProxyError } from "@cirque/core/error";
import type { HttpPeer } from "@cirque/core/peer";
import { Backend, type LeastRequests } from "@cirque/lb";
import { makeSelfSignedCert, makeTestCerts } from "./lb/_test_certs_test_util.ts";
import { rawOrigin, readRequest, writeAll } from "./core/testdata/origins.ts";
import { prng } from "./core/testdata/prng.ts";
import { buildCirque, loadCirqueConf, parseCirqueConf, proxyListeners } from "./main.ts";

const GOOD = `
listeners:
  - address: 127.0.0.1:0
upstreams:
  api:
    backends:
      - address: 127.0.0.1:1
      - address: 127.0.0.1:2
  web:
    backends: [{ address: 127.0.0.1:3 }]
routes:
  - host: "*.example.com"
    path_prefix: /v2
    upstream: web
  - path_prefix: /api
    upstream: api
    strip_prefix: true
    request_headers: { set: { X-Route: api }, remove: [Cookie] }
    response_headers: { add: { X-Served-By: cirque } }
  - path_prefix: /static
    upstream: web
retries: 2
`;

Deno.test("config: the example file is valid", async () => {
  const text = await Deno.readTextFile(new URL("./examples/cirque.yaml", import.meta.url));
  const conf = parseCirqueConf(text, "examples/cirque.yaml");
  assert.equal(conf.listeners[0]!.address, "127.0.0.1:8080");
  assert.equal(conf.upstreams.demo!.backends.length, 2);
});

Deno.test("config: 2 000 seeded mutations of the example file are each valid or a ConfigError naming file, line and column", async () => {
  const text = await Deno.readTextFile(new URL("./examples/cirque.yaml", import.meta.url));
  // YAML's own syntax characters, scalars that change type, and bytes that do not belong.
  const EDGE = [":", "-", " ", "\n", "#", "[", "]", "{", "}", '"', "'", "&", "*", "!", "|", ">"]
    .concat(["\t", ",", "0", "-1", "1e9", "null", "~", "<<", "%", "@", "`", "\0", "\ufeff", "ä"]);
  const rnd = prng(0xc0f);
  let valid = 0;
  for (let n = 0; n < 2000; n++) {
    let s = text;
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
      const at = Math.floor(rnd() * s.length);
      const e = EDGE[Math.floor(rnd() * EDGE.length)]!;
      const op = Math.floor(rnd() * 4);
      if (op === 0) s = s.slice(0, at) + e + s.slice(at + 1);
      else if (op === 1) s = s.slice(0, at) + e + s.slice(at);
      else if (op === 2) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 8));
      else {
        const lines = s.split("\n");
        lines.splice(Math.floor(rnd() * lines.length), 0, lines[Math.floor(rnd() * lines.length)]!);
        s = lines.join("\n");
      }
    }
    try {
      parseCirqueConf(s, "c.yaml");
      valid++;
    } catch (e) {
      assert.ok(e instanceof ConfigError, `case ${n}: ${JSON.stringify(s)}: ${e}`);
      for (const line of e.message.split("\n")) {
        assert.match(line, /^c\.yaml:\d+:\d+: /, `case ${n}: ${JSON.stringify(s)}`);
      }
    }
  }
  assert.ok(valid > 200 && valid < 1800, `valid ${valid}`);
});

Deno.test("config: errors name the file, line, key path, what was expected and found — all at once", () => {
  const bad = GOOD
    .replace("retries: 2", "retries: lots\nretrys: 3")
    .replace("- address: 127.0.0.1:2", "- address: 127.0.0.1:2\n        weight: heavy");
  try {
    parseCirqueConf(bad, "cirque.yaml");
    assert.fail("must throw");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    const msg = e.message;
    assert.match(
      msg,
      /cirque\.yaml:\d+:\d+: upstreams\.api\.backends\[1\]\.weight: expected integer.*found "heavy"/,
    );
    assert.match(msg, /cirque\.yaml:\d+:\d+: retries: expected integer.*found "lots"/);
    assert.match(msg, /retrys: unknown key \(did you mean "retries"\?\)/);
    assert.equal(e.issues.length, 3);
  }
});

Deno.test("config: a route naming an unknown upstream is an error with its line", () => {
  const bad = GOOD.replace("upstream: api\n", "upstream: apii\n");
  assert.throws(
    () => parseCirqueConf(bad, "c.yaml"),
    /c\.yaml:\d+:\d+: routes\[1\]\.upstream: expected one of the upstreams \(api, web\), found "apii"/,
  );
});

Deno.test("config: ignore_client_abort is an h1 listener key; on an h2 listener it is an error with its line", () => {
  const h1 = parseCirqueConf(
    GOOD.replace(
      "  - address: 127.0.0.1:0\n",
      "  - address: 127.0.0.1:0\n    ignore_client_abort: true\n",
    ),
    "c.yaml",
  );
  assert.equal(h1.listeners[0]!.ignoreClientAbort, true);
  assert.equal(parseCirqueConf(GOOD, "c.yaml").listeners[0]!.ignoreClientAbort, false);
  assert.throws(
    () =>
      parseCirqueConf(
        GOOD.replace(
          "  - address: 127.0.0.1:0\n",
          "  - address: 127.0.0.1:0\n    protocol: h2\n    ignore_client_abort: true\n",
        ),
        "c.yaml",
      ),
    /c\.yaml:\d+:\d+: listeners\[0\]: ignore_client_abort applies to h1 listeners only/,
  );
});

Deno.test("config: the fast path's timeouts are h1 listener keys; max_connections an upstream key", () => {
  const conf = parseCirqueConf(
    GOOD
      .replace(
        "  - address: 127.0.0.1:0\n",
        "  - address: 127.0.0.1:0\n    header_timeout_ms: 1000\n    keepalive_timeout_ms: 2000\n" +
          "    io_timeout_ms: 3000\n    max_head_bytes: 8192\n    max_fields: 50\n" +
          "    lingering_time_ms: 0\n    lingering_timeout_ms: 700\n" +
          "  - address: 127.0.0.1:0\n    protocol: h2\n",
      )
      .replace("  web:\n", "  web:\n    max_connections: 32\n"),
    "c.yaml",
  );
  assert.deepEqual(proxyListeners(conf), [
    {
      address: "127.0.0.1:0",
      protocol: "h1",
      headerTimeout: 1000,
      keepAliveTimeout: 2000,
      ioTimeout: 3000,
      maxHeadBytes: 8192,
      maxFields: 50,
      lingeringTime: 0,
      lingeringTimeout: 700,
    },
    { address: "127.0.0.1:0", protocol: "h2" },
  ]);
  assert.equal(conf.upstreams.web!.maxConnections, 32);
  assert.equal(conf.upstreams.api!.maxConnections, undefined);
  try {
    parseCirqueConf(
      GOOD
        .replace(
          "  - address: 127.0.0.1:0\n",
          "  - address: 127.0.0.1:0\n    protocol: h2\n    keepalive_timeout_ms: 5\n" +
            "    io_timeout_ms: 5\n    max_fields: 9\n  - address: 127.0.0.1:0\n" +
            "    max_head_bytes: 100\n",
        )
        .replace("  web:\n", "  web:\n    max_connections: 0\n"),
      "c.yaml",
    );
    assert.fail("must throw");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(
      e.message,
      /c\.yaml:\d+:\d+: listeners\[0\]: keepalive_timeout_ms, io_timeout_ms, max_fields apply to h1 listeners only \(Deno\.serve takes no such setting\)/,
    );
    assert.match(
      e.message,
      /c\.yaml:\d+:\d+: listeners\[1\]\.max_head_bytes: expected integer from 1024 to 1048576/,
    );
    assert.match(e.message, /c\.yaml:\d+:\d+: upstreams\.web\.max_connections: expected integer/);
    assert.equal(e.issues.length, 3);
  }
});

Deno.test("config: every *_ms key stops at 2147483647 (a longer timer fires at once): one error per key, with its line", () => {
  // A health check's timeout_ms must stay under its interval_ms: one less at the maximum.
  const conf = (v: number) => `
listeners:
  - address: 127.0.0.1:0
    header_timeout_ms: ${v}
    keepalive_timeout_ms: ${v}
    io_timeout_ms: ${v}
upstreams:
  u:
    connect_timeout_ms: ${v}
    read_timeout_ms: ${v}
    write_timeout_ms: ${v}
    idle_timeout_ms: ${v}
    health_check: { interval_ms: ${v}, timeout_ms: ${v === 2147483647 ? v - 1 : v} }
    backends: [{ address: 127.0.0.1:1 }]
routes:
  - upstream: u
    cache: { lock_timeout_ms: ${v}, lock_age_timeout_ms: ${v} }
grace_period_seconds: ${v > 2147483647 ? 2147484 : 2147483}
`;
  const max = parseCirqueConf(conf(2147483647), "c.yaml");
  assert.equal(max.upstreams.u!.readTimeoutMs, 2147483647);
  assert.equal(max.gracePeriodSeconds, 2147483);
  try {
    parseCirqueConf(conf(2147483648), "c.yaml");
    assert.fail("must throw");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    const keys = e.issues.map((i) => `${i.line} ${i.path}`);
    assert.deepEqual(keys, [
      "4 listeners[0].header_timeout_ms",
      "5 listeners[0].keepalive_timeout_ms",
      "6 listeners[0].io_timeout_ms",
      "9 upstreams.u.connect_timeout_ms",
      "10 upstreams.u.read_timeout_ms",
      "11 upstreams.u.write_timeout_ms",
      "12 upstreams.u.idle_timeout_ms",
      "13 upstreams.u.health_check.interval_ms",
      "13 upstreams.u.health_check.timeout_ms",
      "17 routes[0].cache.lock_timeout_ms",
      "17 routes[0].cache.lock_age_timeout_ms",
      "18 grace_period_seconds",
    ]);
    for (const i of e.issues) assert.match(i.message, /to 214748(3647|3), found 214748(3648|4)$/);
  }
});

Deno.test("health_check: kind http over tls trusts the upstream's ca_file", async () => {
  const certs = await makeTestCerts();
  const dir = await Deno.makeTempDir();
  await using origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: certs.cert, key: certs.key, onListen() {} },
    () => new Response("ok"),
  );
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, certs.ca);
    const { proxy, balancers } = await buildCirque(parseCirqueConf(`
listeners: [{ address: 127.0.0.1:0 }]
upstreams:
  u:
    tls: true
    ca_file: ${dir}/ca.pem
    backends: [{ address: 127.0.0.1:${origin.addr.port} }]
    health_check: { kind: http, path: /, interval_ms: 10000, timeout_ms: 5000 }
routes: [{ upstream: u }]
`));
    const lb = balancers.get("u")!;
    await lb.runHealthCheck();
    const [state] = lb.states();
    assert.equal(state?.lastError, undefined);
    assert.equal(state?.healthy, true);
    await proxy.connector.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("health_check: kind http over tls uses the upstream's sni and verify_cert", async () => {
  // Self-signed, valid only for self.test; the backend is 127.0.0.1.
  const self = await makeSelfSignedCert("self.test");
  const dir = await Deno.makeTempDir();
  await using origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: self.cert, key: self.key, onListen() {} },
    () => new Response("ok"),
  );
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, self.cert);
    const health = async (tls: string) => {
      const { proxy, balancers } = await buildCirque(parseCirqueConf(`
listeners: [{ address: 127.0.0.1:0 }]
upstreams:
  u:
    tls: true
    ca_file: ${dir}/ca.pem
${tls}    backends: [{ address: 127.0.0.1:${origin.addr.port} }]
    health_check: { kind: http, interval_ms: 10000, timeout_ms: 5000 }
routes: [{ upstream: u }]
`));
      const lb = balancers.get("u")!;
      await lb.runHealthCheck();
      await proxy.connector.close();
      const [state] = lb.states();
      return state?.healthy ? "healthy" : String(state?.lastError);
    };
    assert.equal(await health("    sni: self.test\n"), "healthy");
    assert.equal(await health("    verify_cert: false\n"), "healthy");
    // Neither: the certificate is checked against 127.0.0.1 and fails.
    assert.match(await health(""), /failed: .*not valid for name "127\.0\.0\.1"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: health_check and tls keys that would be ignored are errors with their line", () => {
  const up = (keys: string, hc: string) =>
    GOOD.replace("  web:\n", `  web:\n${keys}    health_check: ${hc}\n`);
  const cases: [string, RegExp][] = [
    [
      up("", "{ kind: tcp, path: /health, host: x }"),
      /^c\.yaml:10:19: upstreams\.web\.health_check: path and host apply to kind: http only/,
    ],
    [
      up("    sni: web.internal\n", "{ kind: tcp }"),
      /^c\.yaml:10:5: upstreams\.web: sni applies only with tls: true$/,
    ],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseCirqueConf(text, "c.yaml"),
      (e) => e instanceof ConfigError && e.issues.length === 1 && pattern.test(e.message),
      text,
    );
  }
  // Valid: sni and verify_cert: false with either kind of check (an http check makes its
  // connection with them, see below), or with no check.
  for (const hc of ["{ kind: tcp }", "{ kind: http }", "{ path: /health }"]) {
    const conf = parseCirqueConf(up("    tls: true\n    sni: a\n    verify_cert: false\n", hc));
    assert.deepEqual(
      [
        conf.upstreams.web?.sni,
        conf.upstreams.web?.verifyCert,
        conf.upstreams.web?.healthCheck?.kind,
      ],
      ["a", false, hc === "{ kind: tcp }" ? "tcp" : "http"],
    );
  }
  parseCirqueConf(GOOD.replace("  web:\n", "  web:\n    tls: true\n    sni: a\n"));
});

Deno.test("config: addresses are checked by the parsers that take them at build time; ports 1–65535 (0 for listeners)", () => {
  const issues = (text: string) => {
    try {
      parseCirqueConf(text, "c.yaml");
      return [];
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
    }
  };
  const lines = issues(
    GOOD
      .replace(
        "  - address: 127.0.0.1:0\n",
        "  - address: 127.0.0.1:99999\n  - address: '[:::::]:80'\n",
      )
      .replace("      - address: 127.0.0.1:1\n", "      - address: 127.0.0.1:70000\n")
      .replace("      - address: 127.0.0.1:2\n", "      - address: a/b:80\n")
      .replace("{ address: 127.0.0.1:3 }", "{ address: 127.0.0.1:0 }"),
  );
  assert.deepEqual(lines.map((l) => l.replace(/: expected host:port.*/, "")), [
    "3 listeners[0].address",
    "4 listeners[1].address",
    "8 upstreams.api.backends[0].address",
    "9 upstreams.api.backends[1].address",
    "11 upstreams.web.backends[0].address",
  ]);
  assert.match(lines[0]!, /port "99999" of "127\.0\.0\.1:99999" is not 1-65535/);
  assert.match(lines[1]!, /invalid IPv6 literal/);
  assert.match(lines[2]!, /port "70000" of "127\.0\.0\.1:70000" is not 1-65535/);
  assert.match(lines[3]!, /invalid host "a\/b"/);
  // Listeners may ask for port 0, even twice; two on one real port cannot both bind.
  assert.deepEqual(
    issues(GOOD.replace("  - address: 127.0.0.1:0\n", "  - address: 127.0.0.1:0\n".repeat(2))),
    [],
  );
  assert.deepEqual(
    issues(
      GOOD.replace(
        "  - address: 127.0.0.1:0\n",
        "  - address: 127.0.0.1:8443\n  - address: '[::1]:8443'\n  - address: 127.0.0.1:8443\n",
      ),
    ),
    ["3 listeners: listeners[2] has the address of listeners[0] (127.0.0.1:8443); two listeners cannot bind one address"],
  );
});

Deno.test("config: a backend listed twice, an empty route host, a hash_key without a hashing selection and a health check timeout not under its interval are errors with their line", () => {
  const cases: [string, RegExp][] = [
    [
      GOOD.replace(
        "      - address: 127.0.0.1:2\n",
        "      - address: 127.0.0.1:2\n      - address: 127.0.0.1:1\n",
      ),
      /^c\.yaml:7:7: upstreams\.api\.backends: backends\[2\] has the address of backends\[0\] \(127\.0\.0\.1:1\); list each backend once/,
    ],
    [
      GOOD.replace(
        "{ address: 127.0.0.1:3 }",
        "{ address: '[::1]:80' }, { address: '[0:0::1]:80' }",
      ),
      /^c\.yaml:10:15: upstreams\.web\.backends: backends\[1\] has the address of backends\[0\] \(\[0:0::1\]:80\)/,
    ],
    [
      GOOD.replace("{ address: 127.0.0.1:3 }", "{ address: A.test:80 }, { address: a.TEST:80 }"),
      /^c\.yaml:10:15: upstreams\.web\.backends: backends\[1\] has the address of backends\[0\]/,
    ],
    [
      GOOD.replace('  - host: "*.example.com"', '  - host: ""'),
      /^c\.yaml:12:11: routes\[0\]\.host: expected a host or "\*\.domain" pattern, found ""/,
    ],
    [
      GOOD.replace("  web:\n", "  web:\n    hash_key: host\n"),
      /^c\.yaml:10:5: upstreams\.web: hash_key applies only to selection: fnv or consistent, found selection: round_robin/,
    ],
    [
      GOOD.replace("  web:\n", "  web:\n    selection: least_requests\n    hash_key: path\n"),
      /^c\.yaml:10:5: upstreams\.web: hash_key applies only to .*found selection: least_requests/,
    ],
    [
      GOOD.replace("  web:\n", "  web:\n    health_check: { interval_ms: 1000 }\n"),
      /^c\.yaml:10:19: upstreams\.web\.health_check: timeout_ms \(1000\) must be less than interval_ms \(1000\)/,
    ],
    [
      GOOD.replace("  web:\n", "  web:\n    health_check: { interval_ms: 100, timeout_ms: 200 }\n"),
      /^c\.yaml:10:19: upstreams\.web\.health_check: timeout_ms \(200\) must be less than interval_ms \(100\)/,
    ],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseCirqueConf(text, "c.yaml"),
      (e) => e instanceof ConfigError && e.issues.length === 1 && pattern.test(e.message),
      text,
    );
  }
  // What stays valid: the same host on two ports, hash_key with fnv or consistent (and its
  // absence, which hashes the path), a timeout under the interval.
  parseCirqueConf(GOOD.replace("{ address: 127.0.0.1:3 }", "{ address: a:80 }, { address: a:81 }"));
  for (const sel of ["fnv", "consistent"]) {
    const conf = parseCirqueConf(GOOD.replace("  web:\n", `  web:\n    selection: ${sel}\n`));
    assert.equal(conf.upstreams.web!.hashKey, undefined);
    const keyed = parseCirqueConf(
      GOOD.replace("  web:\n", `  web:\n    selection: ${sel}\n    hash_key: client_ip\n`),
    );
    assert.equal(keyed.upstreams.web!.hashKey, "client_ip");
  }
  parseCirqueConf(
    GOOD.replace("  web:\n", "  web:\n    health_check: { interval_ms: 1000, timeout_ms: 999 }\n"),
  );
});

Deno.test("config: header edits take HTTP token names and values without CR, LF or NUL", () => {
  const edit = (e: string) =>
    GOOD.replace(
      "request_headers: { set: { X-Route: api }, remove: [Cookie] }",
      `request_headers: ${e}`,
    );
  const cases: [string, RegExp][] = [
    [
      '{ set: { "bad name": v } }',
      /request_headers\.set: expected a field name \(an HTTP token\), found "bad name"/,
    ],
    ['{ add: { "X:Y": v } }', /request_headers\.add: expected a field name .*found "X:Y"/],
    ['{ remove: ["a b"] }', /request_headers\.remove\[0\]: expected a field name .*found "a b"/],
    [
      '{ set: { X-A: "a\\r\\nX-Injected: 1" } }',
      /request_headers\.set\.X-A: expected a field value without CR, LF or NUL/,
    ],
    ['{ add: { X-A: "a\\nb" } }', /request_headers\.add\.X-A: expected a field value without/],
    ['{ set: { X-A: "a\\0b" } }', /request_headers\.set\.X-A: expected a field value without/],
  ];
  for (const [e, pattern] of cases) {
    assert.throws(
      () => parseCirqueConf(edit(e), "c.yaml"),
      (err) =>
        err instanceof ConfigError && err.issues.length === 1 &&
        /^c\.yaml:\d+:\d+: /.test(err.message) && pattern.test(err.message),
      e,
    );
  }
  parseCirqueConf(edit('{ set: { "X-Odd_!#$%&\'*+.^`|~1": "tab\\tand spaces ok" } }'));
});

Deno.test("config: loadCirqueConf reports ca_file and tls files it cannot read with their line; parseCirqueConf reads no file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/c.yaml`;
    await Deno.writeTextFile(`${dir}/cert.pem`, "-----BEGIN CERTIFICATE-----\n");
    const text = GOOD
      .replace(
        "  - address: 127.0.0.1:0\n",
        `  - address: 127.0.0.1:0\n    tls: { cert_file: ${dir}/cert.pem, key_file: ${dir}/nokey.pem }\n`,
      )
      .replace("  web:\n", `  web:\n    tls: true\n    ca_file: ${dir}/noca.pem\n`);
    await Deno.writeTextFile(path, text);
    await assert.rejects(loadCirqueConf(path), (e) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.deepEqual(e.issues.map((i) => `${i.file}:${i.line} ${i.path}`), [
        `${path}:4 listeners[0].tls.key_file`,
        `${path}:12 upstreams.web.ca_file`,
      ]);
      assert.match(e.issues[0]!.message, /^cannot read the file ".*nokey\.pem": /);
      return true;
    });
    assert.equal(parseCirqueConf(text).upstreams.web!.caFile, `${dir}/noca.pem`);
    // -t reports them too.
    const r = await run(["-t", "-c", path]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(`c\\.yaml:12:\\d+: upstreams\\.web\\.ca_file: cannot read the file`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: max_connections bounds the connections to a backend; requests over it wait for one", async () => {
  // A keep-alive origin that answers each request 200 ms late; it counts its connections.
  await using origin = rawOrigin(async (conn) => {
    const st = { buf: new Uint8Array(8192), len: 0 };
    while ((await readRequest(conn, st)) !== null) {
      await new Promise((r) => setTimeout(r, 200));
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  const conf = parseCirqueConf(`
listeners: [{ address: 127.0.0.1:0 }]
upstreams:
  one:
    max_connections: 1
    backends: [{ address: 127.0.0.1:${origin.port} }]
routes: [{ upstream: one }]
`);
  const { proxy } = await buildCirque(conf);
  try {
    const get = () =>
      proxy.handle(new Request("http://a.test/", { headers: { Host: "a.test" } }))
        .then(async (r) => [r.status, await r.text()]);
    // Three at once: the second and third wait for the first's connection, none opens another.
    assert.deepEqual(await Promise.all([get(), get(), get()]), [
      [200, "ok"],
      [200, "ok"],
      [200, "ok"],
    ]);
    assert.equal(origin.accepted(), 1);
  } finally {
    await proxy.connector.close();
  }
});

class RecordingConnector implements Connector {
  seen: { peer: string; head: { method: string; path: string; headers: [string, string][] } }[] =
    [];
  down = new Set<string>();
  extraHeaders: [string, string][] = [];
  async request(
    peer: HttpPeer,
    head: RequestHead,
    _body: unknown,
    options: RequestOptions = {},
  ): Promise<UpstreamResponse> {
    if (this.down.has(peer.address)) {
      throw new ProxyError("CONNECT_REFUSED", "refused", { source: "upstream" });
    }
    await options.beforeSend?.(false);
    this.seen.push({
      peer: peer.address,
      head: { method: head.method, path: head.path, headers: head.headers.map(([k, v]) => [k, v]) },
    });
    return {
      status: 200,
      statusText: "OK",
      headers: [["Content-Type", "text/plain"], ...this.extraHeaders],
      body: new Response(peer.address).body,
      trailers: Promise.resolve([]),
      reused: false,
      timing: { connected: 0, responseHead: 0 },
    };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("routing: host routes first, longest prefix, strip_prefix, header edits, 404 otherwise", async () => {
  const connector = new RecordingConnector();
  const { proxy } = await buildCirque(parseCirqueConf(GOOD), { connector });
  const get = (url: string, headers: HeadersInit = {}) =>
    proxy.handle(new Request(url, { headers: { Host: new URL(url).host, ...headers } }));

  const api = await get("http://a.test/api/users?x=1", { Cookie: "secret=1" });
  assert.equal(api.headers.get("x-served-by"), "cirque");
  assert.match(await api.text(), /^127\.0\.0\.1:[12]$/);
  const sent = connector.seen.at(-1)!;
  assert.equal(sent.head.path, "/users?x=1");
  const h = new Map(sent.head.headers.map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(h.get("x-route"), "api");
  assert.equal(h.has("cookie"), false);

  const v2 = await get("http://shop.example.com/v2/x");
  assert.equal(await v2.text(), "127.0.0.1:3");
  const noRoute = await get("http://a.test/elsewhere");
  assert.equal(noRoute.status, 404);
  await noRoute.body?.cancel();
});

Deno.test("routing: round robin across backends and failover when one refuses", async () => {
  const connector = new RecordingConnector();
  const { proxy } = await buildCirque(parseCirqueConf(GOOD), { connector });
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) {
    seen.push(
      await (await proxy.handle(new Request("http://a.test/api/", { headers: { Host: "a.test" } })))
        .text(),
    );
  }
  assert.deepEqual(seen.toSorted(), ["127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:2"]);
  connector.down.add("127.0.0.1:1");
  for (let i = 0; i < 3; i++) {
    const res = await proxy.handle(
      new Request("http://a.test/api/", { headers: { Host: "a.test" } }),
    );
    assert.equal(await res.text(), "127.0.0.1:2");
  }
  connector.down.add("127.0.0.1:2");
  const res = await proxy.handle(
    new Request("http://a.test/api/", { headers: { Host: "a.test" } }),
  );
  assert.equal(res.status, 502);
  await res.body?.cancel();
});

/** Answers at once, except for the `slow` backends, whose answers wait for `release()`; `down` ones refuse. */
class HoldingConnector implements Connector {
  picks: string[] = [];
  slow = new Set<string>();
  down = new Set<string>();
  #gate = Promise.withResolvers<void>();
  async request(
    peer: HttpPeer,
    _head: RequestHead,
    _body: unknown,
    options: RequestOptions = {},
  ): Promise<UpstreamResponse> {
    this.picks.push(peer.address);
    if (this.down.has(peer.address)) {
      throw new ProxyError("CONNECT_REFUSED", "refused", { source: "upstream" });
    }
    await options.beforeSend?.(false);
    if (this.slow.has(peer.address)) await this.#gate.promise;
    return {
      status: 200,
      statusText: "OK",
      headers: [],
      body: new Response(peer.address).body,
      trailers: Promise.resolve([]),
      reused: false,
      timing: { connected: 0, responseHead: 0 },
    };
  }
  release(): void {
    this.#gate.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const LEAST_REQUESTS = `
listeners: [{ address: 127.0.0.1:0 }]
upstreams:
  u:
    selection: least_requests
    backends: [{ address: 127.0.0.1:1 }, { address: 127.0.0.1:2 }]
routes: [{ upstream: u }]
`;

async function leastRequestsProxy() {
  const connector = new HoldingConnector();
  const { proxy, balancers } = await buildCirque(parseCirqueConf(LEAST_REQUESTS), { connector });
  const lr = balancers.get("u")!.selection as LeastRequests;
  return {
    connector,
    get: () => proxy.handle(new Request("http://a.test/", { headers: { Host: "a.test" } })),
    /** In-flight counts of :1 and :2. */
    inflight: () => ["127.0.0.1:1", "127.0.0.1:2"].map((a) => lr.inflight(new Backend(a))),
    /** The backend of the n-th attempt (1-based), once the connector has seen it. */
    picked: async (n: number) => {
      for (let i = 0; i < 100 && connector.picks.length < n; i++) {
        await new Promise((r) => setTimeout(r, 0));
      }
      return connector.picks[n - 1];
    },
  };
}

Deno.test("least_requests: the idle backend gets the requests while the other holds some", async () => {
  const { connector, get, inflight, picked } = await leastRequestsProxy();
  // :1 is slow (its answers wait for release()), :2 fast. 20 requests one after the other:
  // once one is held at :1, the idle :2 has fewer in flight and wins every choice of two.
  connector.slow.add("127.0.0.1:1");
  const held: Promise<string>[] = [];
  for (let n = 1; n <= 20; n++) {
    const res = get();
    if ((await picked(n)) === "127.0.0.1:1") {
      held.push(res.then((r) => r.text()));
      assert.deepEqual(inflight(), [held.length, 0], `request ${n}`);
    } else {
      assert.equal(await (await res).text(), "127.0.0.1:2");
      assert.deepEqual(inflight(), [held.length, 0], `request ${n}`);
    }
  }
  assert.ok(held.length <= 1, `the slow backend got ${held.length} of 20`);
  connector.release();
  assert.deepEqual(await Promise.all(held), held.map(() => "127.0.0.1:1"));
  assert.deepEqual(inflight(), [0, 0]);
});

Deno.test("least_requests: a retry ends the refused attempt; a failed request ends its last one", async () => {
  const { connector, get, inflight, picked } = await leastRequestsProxy();
  // :2 holds its answers, :1 refuses: the idle :1 is tried first, refused, and the request
  // retried on :2. Only the attempts at :2 stay in flight.
  connector.slow.add("127.0.0.1:2");
  connector.down.add("127.0.0.1:1");
  const pending: Promise<string>[] = [];
  for (let n = 1; n <= 3; n++) {
    pending.push(get().then((r) => r.text()));
    for (let i = 0; i < 100 && connector.picks.filter((a) => a.endsWith(":2")).length < n; i++) {
      await picked(connector.picks.length + 1);
    }
    assert.deepEqual(inflight(), [0, n], `request ${n}`);
  }
  assert.ok(connector.picks.filter((a) => a.endsWith(":1")).length >= 2, String(connector.picks));
  connector.release();
  assert.deepEqual(await Promise.all(pending), ["127.0.0.1:2", "127.0.0.1:2", "127.0.0.1:2"]);
  assert.deepEqual(inflight(), [0, 0]);
  // Both refuse: 502, and nothing is left in flight.
  connector.down.add("127.0.0.1:2");
  const res = await get();
  assert.equal(res.status, 502);
  await res.text();
  assert.deepEqual(inflight(), [0, 0]);
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

Deno.test("cli: -t validates a file and exits 0, or 1 naming file and line", async () => {
  const ok = await run(["-t", "-c", new URL("./examples/cirque.yaml", import.meta.url).pathname]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /configuration is valid/);
  const bad = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    // An http health check with sni and verify_cert: false (once an error) is valid.
    await Deno.writeTextFile(
      bad,
      GOOD.replace(
        "  web:\n",
        "  web:\n    tls: true\n    sni: web.internal\n    verify_cert: false\n" +
          "    health_check: { kind: http, path: /health }\n",
      ),
    );
    const tlsCheck = await run(["-t", "-c", bad]);
    assert.equal(tlsCheck.code, 0, tlsCheck.err);
    assert.match(tlsCheck.out, /configuration is valid/);
    await Deno.writeTextFile(bad, GOOD.replace("retries: 2", "retries: 99"));
    const r = await run(["-t", "-c", bad]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(`${bad.replaceAll("/", "\\/")}:\\d+:\\d+: retries: expected integer`),
    );
  } finally {
    await Deno.remove(bad);
  }
});

Deno.test("SIGTERM: the proxy stops accepting, drains an in-flight slow request, exits 0", async () => {
  let release!: () => void;
  const slowStarted = Promise.withResolvers<void>();
  const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    slowStarted.resolve();
    await new Promise<void>((r) => (release = r));
    return new Response("x".repeat(100_000));
  });
  const conf = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    conf,
    `grace_period_seconds: 20
listeners: [{ address: 127.0.0.1:0 }]
upstreams:
  slow: { backends: [{ address: 127.0.0.1:${origin.addr.port} }] }
routes: [{ upstream: slow }]
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, "-c", conf],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    let port = 0;
    for (let i = 0; i < 100 && port === 0; i++) {
      const r = await reader.read();
      if (r.done) break;
      out += r.value;
      port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1] ?? 0);
    }
    assert.ok(port > 0, out);
    const slow = fetch(`http://127.0.0.1:${port}/`).then(async (
      r,
    ) => [r.status, (await r.text()).length]);
    await slowStarted.promise;
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    release();
    assert.deepEqual(await slow, [200, 100_000]);
    const status = await child.status;
    assert.equal(status.code, 0, await stderr);
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await stderr.catch(() => "");
    await origin.shutdown();
    await Deno.remove(conf);
  }
});

Deno.test("error log: client-side failures stay out unless log_client_errors; upstream failures are logged", async () => {
  for (const logClient of [false, true]) {
    const connector = new RecordingConnector();
    const lines: string[] = [];
    const conf = parseCirqueConf(GOOD + (logClient ? "log_client_errors: true\n" : ""));
    assert.equal(conf.logClientErrors, logClient);
    const { proxy } = await buildCirque(conf, {
      connector,
      errorLog: (line) => lines.push(line),
    });
    const get = () =>
      proxy.handle(new Request("http://a.test/api/", { headers: { Host: "a.test" } }));
    // The client goes away before reading the body: a downstream failure, logged (or
    // not) by the time the cancel settles.
    await (await get()).body!.cancel();
    assert.equal(lines.length, logClient ? 1 : 0, lines.join("\n"));
    // Every backend refuses: an upstream failure.
    connector.down.add("127.0.0.1:1");
    connector.down.add("127.0.0.1:2");
    const res = await get();
    assert.equal(res.status, 502);
    await res.text();
    const client = lines.filter((l) => l.includes("(downstream)"));
    const upstream = lines.filter((l) => l.includes("CONNECT_REFUSED (upstream)"));
    assert.equal(client.length, logClient ? 1 : 0, lines.join("\n"));
    assert.equal(upstream.length, 1, lines.join("\n"));
  }
});

Deno.test("cache: a route's cache: block caches with its default TTLs; other routes do not", async () => {
  const conf = parseCirqueConf(
    GOOD.replace(
      "  - path_prefix: /static\n    upstream: web\n",
      `  - path_prefix: /static
    upstream: web
    cache:
      max_bytes: 1048576
      max_object_bytes: 65536
      default_ttl_seconds: { "200": 60 }
      lock_timeout_ms: 1000
      purge_allowed_from: [10.0.0.1]
`,
    ),
  );
  assert.equal(conf.routes[2]!.cache?.defaultTtlSeconds?.["200"], 60);
  const connector = new RecordingConnector();
  const { proxy } = await buildCirque(conf, { connector });
  const get = (url: string, method = "GET") =>
    proxy.handle(new Request(url, { method, headers: { Host: new URL(url).host } }));
  for (let i = 0; i < 3; i++) {
    const r = await get("http://a.test/static/app.js");
    assert.equal(await r.text(), "127.0.0.1:3");
    if (i > 0) assert.match(r.headers.get("cache-status")!, /^cirque; hit/);
  }
  assert.equal(connector.seen.length, 1);
  for (let i = 0; i < 2; i++) await (await get("http://a.test/api/x")).text();
  assert.equal(connector.seen.length, 3);
  // PURGE from a client not in purge_allowed_from is proxied, not a purge.
  await (await get("http://a.test/static/app.js", "PURGE")).text();
  assert.equal(connector.seen.at(-1)!.head.method, "PURGE");
});

Deno.test("cache: default_ttl_seconds keys are status codes 100–599; purge_allowed_from entries IP addresses, any spelling", async () => {
  const withCache = (block: string) =>
    GOOD.replace(
      "  - path_prefix: /static\n    upstream: web\n",
      `  - path_prefix: /static\n    upstream: web\n    cache: ${block}\n`,
    );
  try {
    parseCirqueConf(
      withCache(
        '{ default_ttl_seconds: { 2xx: 60, "099": 1 }, purge_allowed_from: [localhost, "not an ip", 10.0.0.1] }',
      ),
      "c.yaml",
    );
    assert.fail("must throw");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.deepEqual(e.issues.map((i) => `${i.path}: ${i.message}`), [
      'routes[2].cache.default_ttl_seconds: expected status codes 100–599 as keys, found "2xx"',
      'routes[2].cache.purge_allowed_from[0]: expected an IP address, found "localhost"',
      'routes[2].cache.purge_allowed_from[1]: expected an IP address, found "not an ip"',
    ]);
    for (const i of e.issues) assert.equal(i.line, 22);
  }
  for (const bad of ["600", "99", "1000", "ok"]) {
    assert.throws(
      () => parseCirqueConf(withCache(`{ default_ttl_seconds: { "${bad}": 1 } }`)),
      new RegExp(`found "${bad}"`),
    );
  }
  const conf = parseCirqueConf(
    withCache('{ default_ttl_seconds: { 100: 1, "599": 2 }, purge_allowed_from: ["0:0::1"] }'),
  );
  assert.deepEqual(conf.routes[2]!.cache?.defaultTtlSeconds, { "100": 1, "599": 2 });
  // "0:0::1" allows the client ::1 to PURGE: the purge is answered here, not proxied.
  const connector = new RecordingConnector();
  const { proxy } = await buildCirque(conf, { connector });
  const info = {
    remoteAddr: { transport: "tcp", hostname: "::1", port: 1 },
    completed: Promise.resolve(),
  } as Deno.ServeHandlerInfo<Deno.NetAddr>;
  const purge = await proxy.handle(
    new Request("http://a.test/static/x", { method: "PURGE", headers: { Host: "a.test" } }),
    info,
  );
  await purge.body?.cancel();
  assert.equal(connector.seen.length, 0);
});

Deno.test("cache: stale-while-revalidate refreshes in the background through the route", async () => {
  const conf = parseCirqueConf(
    GOOD.replace(
      "  - path_prefix: /static\n    upstream: web\n",
      "  - path_prefix: /static\n    upstream: web\n    cache: {}\n",
    ),
  );
  const connector = new RecordingConnector();
  connector.extraHeaders = [["Cache-Control", "max-age=0, stale-while-revalidate=600"]];
  const { proxy } = await buildCirque(conf, { connector });
  const get = () =>
    proxy.handle(new Request("http://a.test/static/x", { headers: { Host: "a.test" } }));
  await (await get()).text();
  const stale = await get();
  assert.match(stale.headers.get("cache-status")!, /stale-while-revalidate/);
  assert.equal(await stale.text(), "127.0.0.1:3");
  for (let i = 0; i < 100 && connector.seen.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(connector.seen.length, 2);
  assert.equal(connector.seen[1]!.head.path, "/static/x");
});
