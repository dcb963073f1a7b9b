import assert from "node:assert/strict";
import {
  anything,
  arrayOf,
  boolean,
  ConfigError,
  type ConfigIssue,
  describeSchema,
  type Infer,
  integer,
  loadConfig,
  mapOf,
  MAX_TIMER_MS,
  number,
  object,
  oneOf,
  optional,
  orEmpty,
  parseConfig,
  type ParseConfigOptions,
  type Schema,
  snakeCase,
  string,
  union,
  withDefault,
} from "./config.ts";
import {
  DEFAULT_SERVER_CONF,
  loadServerConf,
  parseServerConf,
  SERVER_CONF_FIELDS,
} from "./server_conf.ts";
import { Alias, parseDocument } from "yaml";

/** The issues `parseConfig` reports (fails if it does not throw a ConfigError). */
function issuesOf(
  text: string,
  schema: Schema,
  file = "t.yaml",
  options: ParseConfigOptions = {},
): readonly ConfigIssue[] {
  try {
    parseConfig(text, schema, { ...options, file });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${err}`);
    return err.issues;
  }
  assert.fail("expected a ConfigError");
}

/** The one-line message of a document with exactly one problem. */
function oneError(text: string, schema: Schema, file = "t.yaml"): string {
  const issues = issuesOf(text, schema, file);
  assert.equal(issues.length, 1, issues.map((i) => i.message).join("; "));
  try {
    parseConfig(text, schema, { file });
  } catch (err) {
    return (err as Error).message;
  }
  return "";
}

Deno.test("config: string accepts strings only, with pattern and minLength", async (t) => {
  await t.step("plain and quoted strings", () => {
    assert.equal(parseConfig("hello", string()), "hello");
    assert.equal(parseConfig('"8080"', string()), "8080");
    assert.equal(parseConfig("0.0.0.0:8080", string()), "0.0.0.0:8080");
  });
  await t.step("numbers, booleans, nulls, lists and maps are not strings", () => {
    assert.equal(oneError("8080", string()), "t.yaml:1:1: expected string, found 8080");
    assert.equal(oneError("1.10", string()), "t.yaml:1:1: expected string, found 1.10");
    assert.equal(oneError("true", string()), "t.yaml:1:1: expected string, found true");
    assert.equal(oneError("~", string()), "t.yaml:1:1: expected string, found an empty value");
    assert.equal(oneError("[a]", string()), "t.yaml:1:1: expected string, found a list");
    assert.equal(oneError("{a: 1}", string()), "t.yaml:1:1: expected string, found a map");
  });
  await t.step("pattern and minLength", () => {
    const hostPort = string({ pattern: /^[^:]+:\d+$/, description: "host:port" });
    assert.equal(parseConfig("a:1", hostPort), "a:1");
    assert.equal(oneError('"a"', hostPort), 't.yaml:1:1: expected host:port, found "a"');
    assert.equal(
      oneError('""', string({ minLength: 1 })),
      't.yaml:1:1: expected non-empty string, found ""',
    );
    assert.match(oneError('"x"', string({ pattern: /^y/ })), /expected string matching \/\^y\//);
  });
});

Deno.test("config: number and integer check type and bounds", () => {
  assert.equal(parseConfig("0.25", number()), 0.25);
  assert.equal(parseConfig("-3", integer()), -3);
  assert.equal(parseConfig("0x10", integer()), 16);
  assert.equal(oneError("1.5", integer()), "t.yaml:1:1: expected integer, found 1.5");
  assert.equal(oneError('"5"', number()), 't.yaml:1:1: expected number, found "5"');
  assert.equal(oneError(".nan", number()), "t.yaml:1:1: expected number, found .nan");
  assert.equal(oneError(".inf", number()), "t.yaml:1:1: expected number, found .inf");
  assert.equal(oneError("0", integer({ min: 1 })), "t.yaml:1:1: expected integer ≥ 1, found 0");
  assert.equal(oneError("11", number({ max: 10 })), "t.yaml:1:1: expected number ≤ 10, found 11");
  assert.equal(
    oneError("70000", integer({ min: 1, max: 65535 })),
    "t.yaml:1:1: expected integer from 1 to 65535, found 70000",
  );
  assert.equal(parseConfig("65535", integer({ min: 1, max: 65535 })), 65535);
  assert.equal(parseConfig("1", integer({ min: 1, max: 65535 })), 1);
  assert.equal(
    oneError("2", integer({ min: 1, max: 1 })),
    "t.yaml:1:1: expected integer 1, found 2",
  );
  assert.equal(
    oneError("9007199254740993", integer()),
    "t.yaml:1:1: expected integer, found 9007199254740993",
  );
});

Deno.test("config: boolean takes YAML 1.2 true/false only", () => {
  assert.equal(parseConfig("true", boolean()), true);
  assert.equal(parseConfig("false", boolean()), false);
  assert.equal(oneError("yes", boolean()), 't.yaml:1:1: expected true or false, found "yes"');
  assert.equal(oneError("1", boolean()), "t.yaml:1:1: expected true or false, found 1");
});

Deno.test("config: oneOf accepts listed strings", () => {
  const s = oneOf(["round_robin", "random", "ketama"]);
  const v: "round_robin" | "random" | "ketama" = parseConfig("ketama", s);
  assert.equal(v, "ketama");
  assert.equal(
    oneError("fnv", s),
    't.yaml:1:1: expected one of "round_robin", "random", "ketama", found "fnv"',
  );
});

Deno.test("config: arrayOf validates each item and reports its index", () => {
  assert.deepEqual(parseConfig("- 1\n- 2\n", arrayOf(integer())), [1, 2]);
  assert.deepEqual(parseConfig("[]", arrayOf(integer())), []);
  const issues = issuesOf("- 1\n- x\n- 3\n- y\n", arrayOf(integer()));
  assert.deepEqual(issues.map((i) => [i.path, i.line, i.column]), [["[1]", 2, 3], ["[3]", 4, 3]]);
  assert.equal(
    oneError("[]", arrayOf(string(), { minItems: 1 })),
    "t.yaml:1:1: expected a list of ≥ 1 items, found a list",
  );
  assert.equal(oneError("a: 1", arrayOf(string())), "t.yaml:1:1: expected a list, found a map");
});

Deno.test("config: mapOf keeps keys as written and quotes odd ones in paths", () => {
  const s = mapOf(integer());
  assert.deepEqual(parseConfig("api-v1: 1\nAPI_v2: 2\n", s), { "api-v1": 1, API_v2: 2 });
  assert.deepEqual(
    issuesOf("ok: 1\nsome key: x\n", s).map((i) => [i.path, i.line, i.column]),
    [['["some key"]', 2, 11]],
  );
  // a "__proto__" key is data, not a prototype
  const m = parseConfig("__proto__: 1\n", s);
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
  assert.equal(Object.keys(m).length, 1);
  assert.equal(oneError("- 1", s), "t.yaml:1:1: expected a map, found a list");
});

Deno.test("config: object maps camelCase fields to snake_case keys, applies defaults, leaves optionals absent", () => {
  const s = object({
    gracePeriodSeconds: withDefault(number({ min: 0 }), 30),
    pidFile: optional(string()),
    name: string(),
    tags: withDefault(arrayOf(string()), []),
  });
  const conf: Infer<typeof s> = parseConfig("name: edge\n", s);
  assert.deepEqual(conf, { gracePeriodSeconds: 30, name: "edge", tags: [] });
  assert.equal("pidFile" in conf, false);
  const conf2 = parseConfig("name: a\npid_file: /run/x.pid\ngrace_period_seconds: 0\n", s);
  assert.deepEqual(conf2, { gracePeriodSeconds: 0, pidFile: "/run/x.pid", name: "a", tags: [] });
  // defaults are copied, not shared between results
  const first = parseConfig("name: b", s);
  first.tags.push("x");
  assert.deepEqual(parseConfig("name: b", s).tags, []);
  // the camelCase spelling is an unknown key in YAML
  assert.match(oneError("name: a\ngracePeriodSeconds: 1\n", s), /gracePeriodSeconds: unknown key/);
});

Deno.test("config: object with keys 'as-is' uses the field names verbatim", () => {
  const s = object({ maxConns: integer() }, { keys: "as-is" });
  assert.deepEqual(parseConfig("maxConns: 3", s), { maxConns: 3 });
  assert.match(
    oneError("maxConns: 3\nmax_conns: 3", s),
    /max_conns: unknown key \(did you mean "maxConns"\?\)/,
  );
});

Deno.test("config: a missing required key is reported at its parent map", () => {
  const s = object({ upstreams: arrayOf(object({ address: string(), weight: integer() })) });
  const text = "upstreams:\n  - address: a\n    weight: 1\n  - weight: 2\n";
  assert.equal(
    oneError(text, s, "cirque.yaml"),
    'cirque.yaml:4:5: upstreams[1]: missing required key "address" (string)',
  );
  assert.equal(oneError("", s), 't.yaml:1:1: missing required key "upstreams" (a list)');
});

Deno.test("config: unknown keys are errors, with the nearest key suggested or the known keys listed", () => {
  const s = object({
    gracePeriodSeconds: withDefault(number(), 30),
    workers: withDefault(integer(), 1),
  });
  assert.equal(
    oneError("grace_period_secs: 3\n", s, "cirque.yaml"),
    'cirque.yaml:1:1: grace_period_secs: unknown key (did you mean "grace_period_seconds"?)',
  );
  assert.equal(
    oneError("wrokers: 2\n", s),
    't.yaml:1:1: wrokers: unknown key (did you mean "workers"?)',
  );
  assert.equal(
    oneError("listen: x\n", s),
    "t.yaml:1:1: listen: unknown key (expected one of: grace_period_seconds, workers)",
  );
});

Deno.test("config: every problem is reported, in document order, each with file, line, column and path", () => {
  const s = object({
    listen: string(),
    upstreams: arrayOf(object({ address: string(), weight: withDefault(integer({ min: 1 }), 1) })),
    algorithm: withDefault(oneOf(["round_robin", "random"]), "round_robin"),
  });
  const text = [
    "listen: 8080", // 1
    "algorithm: rr", // 2
    "upstreams:", // 3
    "  - address: 10.0.0.1:80", // 4
    "  - address: 10.0.0.2:80", // 5
    "    weight: 0", // 6
    "  - address: 10.0.0.3:80", // 7
    "    weight: heavy", // 8
    "  - adress: 10.0.0.4:80", // 9
    "extra: 1", // 10
  ].join("\n");
  let err: unknown;
  try {
    parseConfig(text, s, { file: "cirque.yaml" });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.equal(
    err.message,
    [
      "cirque.yaml:1:9: listen: expected string, found 8080",
      'cirque.yaml:2:12: algorithm: expected one of "round_robin", "random", found "rr"',
      "cirque.yaml:6:13: upstreams[1].weight: expected integer ≥ 1, found 0",
      'cirque.yaml:8:13: upstreams[2].weight: expected integer ≥ 1, found "heavy"',
      'cirque.yaml:9:5: upstreams[3].adress: unknown key (did you mean "address"?)',
      'cirque.yaml:9:5: upstreams[3]: missing required key "address" (string)',
      "cirque.yaml:10:1: extra: unknown key (expected one of: listen, upstreams, algorithm)",
    ].join("\n"),
  );
  assert.equal(err.issues.length, 7);
  assert.deepEqual(err.issues[3], {
    file: "cirque.yaml",
    path: "upstreams[2].weight",
    line: 8,
    column: 13,
    message: 'expected integer ≥ 1, found "heavy"',
  });
  assert.equal(err.name, "ConfigError");
});

Deno.test("config: YAML syntax errors and duplicate keys are ConfigErrors with a position", () => {
  const s = object({ a: integer(), b: withDefault(integer(), 0) });
  const syntax = issuesOf("a: 1\nb: [1, 2\n", s, "bad.yaml");
  assert.ok(syntax.length >= 1);
  assert.equal(syntax[0]?.file, "bad.yaml");
  assert.match(syntax[0]?.message ?? "", /^invalid YAML: /);
  assert.equal(typeof syntax[0]?.line, "number");
  const dup = issuesOf("a: 1\na: 2\n", s, "dup.yaml");
  assert.equal(dup.length, 1);
  assert.equal(dup[0]?.line, 2);
  assert.match(dup[0]?.message ?? "", /invalid YAML: .*unique/i);
});

Deno.test('config: keys that are the same once read as strings (1 and "1") are duplicates with a position', () => {
  const map = issuesOf('200: 60\n"200": 5\n', mapOf(integer()), "m.yaml");
  assert.deepEqual(map.map((i) => [i.line, i.path, i.message]), [
    [2, '["200"]', 'duplicate key: "200" is the same key as 200 on line 1'],
  ]);
  const nested = issuesOf(
    'upstreams:\n  1: { n: 1 }\n  "1": { n: 2 }\n',
    object({ upstreams: mapOf(object({ n: integer() })) }),
    "n.yaml",
  );
  assert.deepEqual(nested.map((i) => [i.file, i.line, i.column, i.path]), [
    ["n.yaml", 3, 3, 'upstreams["1"]'],
  ]);
  const asIs = object({ "1": optional(integer()) }, { keys: "as-is" });
  assert.deepEqual(
    issuesOf('1: 1\n"1": 2\n', asIs, "o.yaml").map((i) => [i.line, i.message]),
    [[2, 'duplicate key: "1" is the same key as 1 on line 1']],
  );
  assert.deepEqual(parseConfig("1: 1\n2: 2\n", mapOf(integer())), { "1": 1, "2": 2 });
});

Deno.test("config: union takes the first alternative that matches, typed as the union of theirs", () => {
  const s = union([string(), integer()]);
  const v: string | number = parseConfig("a", s);
  assert.equal(v, "a");
  assert.equal(parseConfig("3", s), 3);
  // order decides between alternatives that both match
  const first = union([
    object({ x: withDefault(integer(), 1) }),
    object({ x: withDefault(integer(), 2) }),
  ]);
  assert.deepEqual(parseConfig("{}", first), { x: 1 });
  // a failed alternative's problems do not leak into a later one's success
  assert.deepEqual(
    parseConfig("a: x", union([object({ a: integer() }), object({ a: string() })])),
    { a: "x" },
  );
  // nested in lists and objects, with optional and defaults
  const servers = object({
    servers: arrayOf(union([string(), object({ address: string(), weight: integer() })])),
    tag: optional(union([string(), integer()])),
  });
  assert.deepEqual(parseConfig("servers: [a, { address: b, weight: 2 }]", servers), {
    servers: ["a", { address: "b", weight: 2 }],
  });
  // the union's own check runs on the value an alternative gave
  const notZero = union([string(), integer()], {
    check: (v) => v === 0 || v === "0" ? "expected anything but zero" : undefined,
  });
  assert.equal(oneError("0", notZero), "t.yaml:1:1: expected anything but zero");
  assert.throws(() => union([]), { name: "TypeError", message: /no alternatives/ });
});

Deno.test("config: a value no union alternative matches is reported where it is, with what was expected", async (t) => {
  await t.step("a kind no alternative takes: the union's description at the value", () => {
    assert.equal(
      oneError("key: [1]", object({ key: union([string(), integer()]) })),
      "t.yaml:1:6: key: expected string or integer, found a list",
    );
    assert.equal(
      oneError("- { a: 1 }", arrayOf(union([string(), integer()], { description: "a name" }))),
      "t.yaml:1:3: [0]: expected a name, found a map",
    );
    assert.equal(
      describeSchema(union([string(), integer(), arrayOf(string())])),
      "string, integer or a list",
    );
    assert.equal(
      oneError("", union([string(), integer()])),
      "t.yaml:1:1: expected string or integer, found nothing",
    );
  });
  await t.step("a kind one alternative takes: its own problems, deep inside", () => {
    const s = arrayOf(
      union([string(), object({ address: string(), weight: integer({ min: 1 }) })]),
    );
    const issues = issuesOf("- a\n- address: b\n  weight: 0\n  wieght: 1\n", s);
    assert.deepEqual(issues.map((i) => [i.path, i.line, i.column, i.message]), [
      ["[1].weight", 3, 11, "expected integer ≥ 1, found 0"],
      ["[1].wieght", 4, 3, 'unknown key (did you mean "weight"?)'],
    ]);
    assert.equal(
      oneError("- 5", arrayOf(union([string({ check: () => "expected a b" }), object({})]))),
      "t.yaml:1:3: [0]: expected string or a map, found 5",
    );
    assert.equal(
      oneError(
        "x",
        union([string({ check: (v) => `expected host:port, found "${v}"` }), object({})]),
      ),
      't.yaml:1:1: expected host:port, found "x"',
    );
  });
  await t.step("a scalar several alternatives take: the union's description", () => {
    assert.equal(
      oneError("c", union([string({ pattern: /^a/ }), oneOf(["b"])])),
      't.yaml:1:1: expected string matching /^a/ or one of "b", found "c"',
    );
  });
  await t.step("a map several alternatives take: the problems of the closest one", () => {
    const s = union([object({ a: integer() }), object({ b: integer(), c: integer() })]);
    assert.equal(oneError("b: x\nc: 1\n", s), 't.yaml:1:4: b: expected integer, found "x"');
  });
});

Deno.test("config: anything passes any value through as plain data, unchecked", () => {
  assert.equal(describeSchema(anything()), "any value");
  assert.equal(parseConfig("hi", anything()), "hi");
  assert.deepEqual(parseConfig("[1, a, true, ~]", anything()), [1, "a", true, null]);
  const s = object({ name: string(), labels: withDefault(mapOf(anything()), {}) });
  assert.deepEqual(
    parseConfig(
      "name: a\nlabels:\n  zone: &z b\n  copy: *z\n  nested: { list: [1, { x: 2 }] }\n",
      s,
    ),
    { name: "a", labels: { zone: "b", copy: "b", nested: { list: [1, { x: 2 }] } } },
  );
  // an empty value is null, not absent
  assert.deepEqual(parseConfig("a:\n", mapOf(anything())), { a: null });
  // its check still runs
  const small = anything({ check: (v) => JSON.stringify(v).length > 10 ? "too big" : undefined });
  assert.equal(oneError("[1, 2, 3, 4, 5]", small), "t.yaml:1:1: too big");
  // an alias bomb is a reported problem, not an exception
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
  ].join("\n");
  const issues = issuesOf(bomb, mapOf(anything()));
  assert.ok(issues.length >= 1);
  assert.match(issues.at(-1)?.message ?? "", /^cannot read the value: .*alias/i);
});

Deno.test("config: orEmpty reads an empty field value as an absent key", () => {
  const s = object({
    weight: withDefault(orEmpty(integer({ min: 1 })), 1),
    zone: optional(orEmpty(string())),
    strict: withDefault(integer(), 0),
  });
  assert.deepEqual(parseConfig("weight:\nzone: ~\n", s), { weight: 1, strict: 0 });
  assert.deepEqual(parseConfig("{weight, zone: null}", s), { weight: 1, strict: 0 });
  assert.deepEqual(parseConfig("weight: 3\nzone: b\n", s), { weight: 3, zone: "b", strict: 0 });
  assert.equal(oneError("weight: 0", s), "t.yaml:1:9: weight: expected integer ≥ 1, found 0");
  // without orEmpty an empty value is checked like any other
  assert.equal(
    oneError("strict:", s),
    "t.yaml:1:8: strict: expected integer, found an empty value",
  );
  // a required field's empty value is a missing key
  assert.equal(
    oneError("a: 1\nb:\n", object({ a: integer(), b: orEmpty(integer()) })),
    't.yaml:1:1: missing required key "b" (integer)',
  );
});

Deno.test("config: aliases are followed", () => {
  const s = object({ base: integer(), copy: integer() });
  assert.deepEqual(parseConfig("base: &n 5\ncopy: *n\n", s), { base: 5, copy: 5 });
});

/** Runs `f` counting the calls of yaml's `Alias.prototype.resolve` (a walk of the whole document each). */
function countingAliasResolves(f: () => void): number {
  const original = Alias.prototype.resolve;
  let calls = 0;
  Alias.prototype.resolve = function (this: Alias, ...args: Parameters<Alias["resolve"]>) {
    calls++;
    return original.apply(this, args);
  };
  try {
    f();
  } finally {
    Alias.prototype.resolve = original;
  }
  return calls;
}

Deno.test("config: 5000 aliases of one node are resolved without yaml's resolve, sharing one anything() value", () => {
  const lines = ["- { name: e1, metadata: &m { a: 1, b: 2, c: 3, d: 4, e: 5 } }"];
  for (let i = 2; i <= 5000; i++) lines.push(`- { name: e${i}, metadata: *m }`);
  const s = arrayOf(object({ name: string(), metadata: anything() }));
  let entries: Infer<typeof s> = [];
  const calls = countingAliasResolves(() => {
    entries = parseConfig(lines.join("\n"), s);
  });
  assert.equal(calls, 0);
  assert.equal(entries.length, 5000);
  assert.deepEqual(entries[0]?.metadata, { a: 1, b: 2, c: 3, d: 4, e: 5 });
  assert.equal(entries.filter((e) => e.metadata === entries[0]?.metadata).length, 5000);
  assert.equal(entries[4999]?.name, "e5000");
  // inside one value too, and through an alias of a node holding the alias
  const labels = parseConfig(
    "a: &x { k: [1] }\nb: *x\nc: &y { in: *x }\nd: *y\n",
    mapOf(anything()),
  ) as Record<string, Record<string, unknown>>;
  assert.equal(labels.a, labels.b);
  assert.equal(labels.c, labels.d);
  assert.equal(labels.c?.in, labels.a);
  // schema-checked values are checked at each use, still without yaml's resolve
  const ports = object({ base: integer(), copies: arrayOf(integer({ max: 5 })) });
  assert.equal(
    countingAliasResolves(() =>
      assert.deepEqual(parseConfig("base: &n 5\ncopies: [*n, *n, *n]\n", ports), {
        base: 5,
        copies: [5, 5, 5],
      })
    ),
    0,
  );
  assert.equal(
    oneError("base: &n 6\ncopies: [*n]\n", ports),
    "t.yaml:1:10: copies[0]: expected integer ≤ 5, found 6",
  );
});

Deno.test("config: anything() reads a value as yaml's toJS does, with or without aliases", () => {
  const docs = [
    "a: 1\nb: [x, 2.5, true, ~, { c: [] }]\nc: {}\nd: 'q'\n",
    "__proto__: 1\nconstructor: { a: 1 }\ntoString: x\n",
    "~: null key\n1: one\ntrue: yes\n1.50: f\n'<<': lt\n",
    "s: !!set { a, b }\nbin: !!binary aGVsbG8=\n",
    "%YAML 1.1\n---\nb: &b { x: 1 }\nc: { <<: *b, y: 2 }\n",
    "k: &k key\nm: { *k : v, other: *k }\nl: &l [1, [2, 3]]\nn: [*l, *l]\n",
  ];
  for (const text of docs) {
    const doc = parseDocument(text);
    assert.deepEqual(parseConfig(text, anything()), doc.contents?.toJS(doc), text);
  }
  // an alias before its anchor: nothing where a value is expected, an error inside a value
  assert.deepEqual(parseConfig("a: *x", mapOf(anything())), { a: null });
  assert.equal(
    oneError("a: [*x]", mapOf(anything())),
    "t.yaml:1:4: a: cannot read the value: Unresolved alias (the anchor must be set before the alias): x",
  );
});

Deno.test("config: an alias bomb is refused before validation, with the alias that goes over the limit", async (t) => {
  await t.step("nested aliases: YAML's maxAliasCount (100)", () => {
    const x10 = (v: string) => `[${Array(10).fill(v).join(", ")}]`;
    const lines = ["a: &a " + x10("x")];
    for (const [name, prev] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"], ["f", "e"]]) {
      lines.push(`${name}: &${name} ${x10(`*${prev}`)}`);
    }
    const bomb = lines.join("\n");
    const message = "t.yaml:3:40: c[8]: cannot read the value: too many uses of *b, a node " +
      "that holds aliases: 10 uses weigh 110 aliases, more than the limit of 100 (YAML's " +
      "maxAliasCount)";
    for (const schema of [mapOf(anything()), mapOf(arrayOf(anything())), anything()]) {
      assert.equal(oneError(bomb, schema), message);
    }
    let checked = 0;
    const counted = anything({ check: () => (checked++, undefined) });
    assert.equal(oneError(bomb, mapOf(counted)), message);
    assert.equal(checked, 0); // nothing was validated
    // YAML agrees that this is too many
    const doc = parseDocument(bomb);
    assert.throws(() => doc.toJS(), /Excessive alias count/);
  });

  await t.step("a large node aliased often: maxAliasedValues (1 000 000)", () => {
    // 1000 aliases of a list of 1000 items, 1001 values each: 999 999 values after 999 of them
    const list = `list: &l [${Array(1000).fill("1").join(", ")}]`;
    const copies = (n: number) => `copies: [${Array(n).fill("*l").join(", ")}]`;
    const s = object({ list: arrayOf(integer()), copies: arrayOf(anything()) });
    assert.equal(parseConfig(`${list}\n${copies(999)}`, s).copies.length, 999);
    assert.equal(
      oneError(`${list}\n${copies(1000)}`, s),
      "t.yaml:2:4006: copies[999]: cannot read the value: with alias *l (1001 values) the " +
        "document's aliases stand for 1001000 values, more than the limit of 1000000",
    );
  });

  await t.step("an alias inside the node it repeats", () => {
    assert.equal(
      oneError("a: &a [1, *a]", mapOf(anything())),
      "t.yaml:1:11: a[1]: cannot read the value: alias *a is inside the node it repeats " +
        "(an endless value)",
    );
  });
});

Deno.test("config: the alias limits are options; at a limit passes, one over is refused", () => {
  const s = object({ a: integer(), b: arrayOf(integer()) });
  const aliases = (n: number) => `a: &a 1\nb: [${Array(n).fill("*a").join(", ")}]`;
  // maxAliasedValues: a scalar alias counts 1
  assert.equal(parseConfig(aliases(10), s, { maxAliasedValues: 10 }).b.length, 10);
  const over = issuesOf(aliases(11), s, "t.yaml", { maxAliasedValues: 10 });
  assert.deepEqual(over, [{
    file: "t.yaml",
    path: "b[10]",
    line: 2,
    column: 45,
    message: "cannot read the value: with alias *a (1 value) the document's aliases stand " +
      "for 11 values, more than the limit of 10",
  }]);
  assert.equal(issuesOf(aliases(1), s, "t.yaml", { maxAliasedValues: 0 })[0]?.path, "b[0]");
  // a long string counts 1 per 64 characters more: 6 400 characters are 101 values
  const long = `a: &a ${"x".repeat(6400)}\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a]`;
  const strings = object({ a: string(), b: arrayOf(string()) });
  assert.equal(parseConfig(long, strings, { maxAliasedValues: 909 }).b.length, 9);
  assert.match(
    issuesOf(long, strings, "t.yaml", { maxAliasedValues: 908 })[0]!.message,
    /with alias \*a \(101 values\) the document's aliases stand for 909 values/,
  );
  // a check that quotes a long value makes a message of at most 1 000 characters
  const quoting = object({
    a: string({ check: (v) => `expected something else, found "${v}"` }),
  });
  const cut = issuesOf(`a: ${"y".repeat(5000)}`, quoting, "t.yaml")[0]!.message;
  assert.equal(cut.length, 1000);
  assert.ok(cut.startsWith('expected something else, found "yyy') && cut.endsWith("..."));
  // `<<` is a plain key in YAML 1.2 (converted here, aliases shared); `!!merge` maps go to yaml,
  // which walks the whole document per alias in them: at most 100 per document
  const plainMerge = parseConfig(
    `m: &m {a: 1}\nx: [${Array(500).fill('{"<<": *m}').join(", ")}]`,
    mapOf(anything()),
  ) as { m: unknown; x: { "<<": unknown }[] };
  assert.ok(plainMerge.x.every((e) => e["<<"] === plainMerge.m));
  const merges = (n: number) =>
    `m: &m {a: 1}\nx: [${Array(n).fill("{!!merge <<: *m}").join(", ")}]`;
  assert.deepEqual((parseConfig(merges(100), mapOf(anything())) as { x: unknown[] }).x[99], {
    a: 1,
  });
  assert.match(
    oneError(merges(101), mapOf(anything())),
    /^t\.yaml:2:\d+: x: cannot read the value: more than 100 maps with a merge key/,
  );
  // at most 100 issues, then one that says how many more
  const many = issuesOf(
    `x: [${Array(150).fill('"a"').join(", ")}]`,
    object({ x: arrayOf(integer()) }),
  );
  assert.equal(many.length, 101);
  assert.equal(many[100]!.message, "and 50 more problems after this line");
  assert.equal(many[100]!.line, many[99]!.line);
  // flat aliases do not count against maxAliasCount (YAML would refuse 101 of them)
  assert.equal(parseConfig(aliases(500), s).b.length, 500);
  // maxAliasCount: *b holds *a (2 uses: anchor and alias), so each use of *b weighs 2
  const nested = (n: number) => `a: &a [x]\nb: &b [*a]\nc: [${Array(n).fill("*b").join(", ")}]`;
  const n = mapOf(anything());
  assert.equal((parseConfig(nested(49), n) as { c: unknown[] }).c.length, 49);
  assert.equal(
    oneError(nested(50), n),
    "t.yaml:3:201: c[49]: cannot read the value: too many uses of *b, a node that holds " +
      "aliases: 51 uses weigh 102 aliases, more than the limit of 100 (YAML's maxAliasCount)",
  );
  // the same boundary as YAML's own
  assert.doesNotThrow(() => parseDocument(nested(49)).toJS());
  assert.throws(() => parseDocument(nested(50)).toJS(), /Excessive alias count/);
  assert.equal(
    (parseConfig(nested(50), n, { maxAliasCount: 102 }) as { c: unknown[] }).c.length,
    50,
  );
});

Deno.test("config: check() runs after the type check, on scalars and on whole objects", () => {
  const even = integer({
    check: (v) => v % 2 === 0 ? undefined : `expected an even integer, found ${v}`,
  });
  assert.equal(parseConfig("4", even), 4);
  assert.equal(oneError("3", even), "t.yaml:1:1: expected an even integer, found 3");
  assert.equal(oneError('"x"', even), 't.yaml:1:1: expected integer, found "x"'); // type first
  const range = object({ min: integer(), max: integer() }, {
    check: (v) => v.min <= v.max ? undefined : `min (${v.min}) must not exceed max (${v.max})`,
  });
  assert.equal(
    oneError("limits:\n  min: 5\n  max: 1\n", object({ limits: range })),
    "t.yaml:2:3: limits: min (5) must not exceed max (1)",
  );
  // an object check does not run while its fields have errors
  assert.equal(issuesOf("min: x\nmax: 1\n", range).length, 1);
});

Deno.test("config: an empty document is an empty map for object schemas and nothing otherwise", () => {
  assert.deepEqual(parseConfig("", object({ a: withDefault(integer(), 7) })), { a: 7 });
  assert.deepEqual(parseConfig("# only a comment\n", object({})), {});
  assert.equal(oneError("", integer()), "t.yaml:1:1: expected integer, found nothing");
});

Deno.test("config: loadConfig names the file in every message, including an unreadable one", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/app.yaml`;
  await Deno.writeTextFile(path, "port: http\n");
  await assert.rejects(loadConfig(path, object({ port: integer() })), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, `${path}:1:7: port: expected integer, found "http"`);
    return true;
  });
  await assert.rejects(loadConfig(`${dir}/missing.yaml`, object({})), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, new RegExp(`^${dir}/missing.yaml: cannot read the file: `));
    assert.ok(err.cause instanceof Deno.errors.NotFound);
    return true;
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("config: helpers", () => {
  assert.equal(snakeCase("gracefulShutdownTimeoutSeconds"), "graceful_shutdown_timeout_seconds");
  assert.equal(snakeCase("workers"), "workers");
  assert.equal(describeSchema(mapOf(string())), "a map");
  assert.equal(describeSchema(integer({ description: "a port" })), "a port");
});

Deno.test("ServerConf: defaults, every key, Pingora names in snake_case", async (t) => {
  await t.step("defaults", () => {
    assert.deepEqual({ ...DEFAULT_SERVER_CONF }, {
      version: 1,
      daemon: false,
      workers: 1,
      gracePeriodSeconds: 30,
      gracefulShutdownTimeoutSeconds: 5,
      upstreamKeepalivePoolSize: 128,
    });
    assert.ok(Object.isFrozen(DEFAULT_SERVER_CONF));
  });
  await t.step("every key", () => {
    const conf = parseServerConf(
      [
        "---",
        "version: 1",
        "daemon: false",
        "workers: 1",
        "pid_file: /run/cirque.pid",
        "error_log: /var/log/cirque.log",
        "grace_period_seconds: 10.5",
        "graceful_shutdown_timeout_seconds: 2",
        "upstream_keepalive_pool_size: 0",
      ].join("\n"),
    );
    assert.deepEqual(conf, {
      version: 1,
      daemon: false,
      workers: 1,
      pidFile: "/run/cirque.pid",
      errorLog: "/var/log/cirque.log",
      gracePeriodSeconds: 10.5,
      gracefulShutdownTimeoutSeconds: 2,
      upstreamKeepalivePoolSize: 0,
    });
  });
  await t.step("unsupported values and absent Pingora keys are errors", () => {
    let message = "";
    try {
      parseServerConf(
        "version: 2\ndaemon: true\nworkers: 4\nthreads: 8\nupgrade_sock: /tmp/u.sock\n",
        "c.yaml",
      );
    } catch (err) {
      message = (err as Error).message;
    }
    assert.equal(
      message,
      [
        "c.yaml:1:10: version: expected integer 1, found 2",
        "c.yaml:2:9: daemon: expected false, found true: Deno cannot daemonize; run under systemd or another supervisor",
        "c.yaml:3:10: workers: expected 1 (multi-process workers are reserved), found 4",
        "c.yaml:4:1: threads: unknown key (expected one of: version, daemon, workers, pid_file, error_log, grace_period_seconds, graceful_shutdown_timeout_seconds, upstream_keepalive_pool_size)",
        "c.yaml:5:1: upgrade_sock: unknown key (expected one of: version, daemon, workers, pid_file, error_log, grace_period_seconds, graceful_shutdown_timeout_seconds, upstream_keepalive_pool_size)",
      ].join("\n"),
    );
  });
  await t.step("the seconds keys stop where a timer can still wait (2147483 s)", () => {
    for (const key of ["grace_period_seconds", "graceful_shutdown_timeout_seconds"]) {
      assert.equal(
        Object.values(parseServerConf(`${key}: 2147483\n`)).includes(2147483),
        true,
        key,
      );
      assert.throws(
        () => parseServerConf(`${key}: 2147484\n`, "c.yaml"),
        new RegExp(
          `^ConfigError: c\\.yaml:1:\\d+: ${key}: expected number from 0 to 2147483, found 2147484$`,
        ),
        key,
      );
    }
    assert.equal(MAX_TIMER_MS, 2 ** 31 - 1);
  });
  await t.step("loadServerConf without a path gives the defaults", async () => {
    assert.deepEqual(await loadServerConf(undefined), { ...DEFAULT_SERVER_CONF });
  });
  await t.step("the fields embed in an application schema", () => {
    const s = object({ ...SERVER_CONF_FIELDS, listen: string() });
    const conf = parseConfig("listen: x\nworkers: 1\n", s);
    const typed: { listen: string; workers: number; pidFile?: string } = conf;
    assert.equal(typed.listen, "x");
    assert.equal(conf.gracePeriodSeconds, 30);
  });
});
