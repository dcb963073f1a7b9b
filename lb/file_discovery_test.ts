import assert from "node:assert/strict";
import { ConfigError } from "@cirque/core/config";
import { FileDiscovery, parseBackendsFile } from "./file_discovery.ts";
import { LoadBalancer } from "./load_balancer.ts";
import { RoundRobin } from "./round_robin.ts";

Deno.test("FileDiscovery", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "cirque-lb-" });
  try {
    await t.step("reads YAML with strings and mappings, enablement and metadata", async () => {
      const path = `${dir}/backends.yaml`;
      await Deno.writeTextFile(
        path,
        [
          "backends:",
          "  - 127.0.0.1:8080",
          "  - address: 127.0.0.1:8081",
          "    weight: 3",
          "    enabled: false",
          "    metadata: { zone: b }",
          "",
        ].join("\n"),
      );
      const found = await new FileDiscovery(path).discover();
      assert.deepEqual(
        found.backends.map((b) => [b.address, b.weight, b.metadata]),
        [["127.0.0.1:8080", 1, {}], ["127.0.0.1:8081", 3, { zone: "b" }]],
      );
      assert.deepEqual([...found.enabled!], [["127.0.0.1:8080", true], ["127.0.0.1:8081", false]]);
    });

    await t.step("reads JSON, a bare list too", async () => {
      const path = `${dir}/backends.json`;
      await Deno.writeTextFile(path, JSON.stringify(["[::1]:80", { address: "127.0.0.1:81" }]));
      const found = await new FileDiscovery(path).discover();
      assert.deepEqual(found.backends.map((b) => b.address), ["[::1]:80", "127.0.0.1:81"]);
      assert.deepEqual([...found.enabled!], [["[::1]:80", true], ["127.0.0.1:81", true]]);
    });

    await t.step("reloads on change; a broken file keeps the last good set", async () => {
      const path = `${dir}/live.yaml`;
      const errors: Error[] = [];
      const discovery = new FileDiscovery(path, { onError: (e) => errors.push(e) });
      await Deno.writeTextFile(path, "- 127.0.0.1:1\n");
      const first = await discovery.discover();
      assert.equal((await discovery.discover()).backends, first.backends); // unchanged text: same answer
      await Deno.writeTextFile(path, "- 127.0.0.1:1\n- 127.0.0.1:2\n");
      const second = await discovery.discover();
      assert.equal(second.backends.length, 2);

      await Deno.writeTextFile(path, "- 127.0.0.1:1\n- { address: 127.0.0.1:3, weight: heavy }\n");
      assert.equal((await discovery.discover()).backends, second.backends);
      assert.match(
        discovery.lastError!.message,
        /live\.yaml:2:35: backends\[1\]\.weight: expected integer from 1 to 65535, found "heavy"/,
      );
      assert.equal((await discovery.discover()).backends, second.backends);
      assert.equal(errors.length, 1); // reported once per bad version

      await Deno.writeTextFile(path, "- [unclosed\n");
      assert.equal((await discovery.discover()).backends, second.backends);
      assert.match(discovery.lastError!.message, /Cannot load backends from .*live\.yaml/);

      await Deno.remove(path);
      assert.equal((await discovery.discover()).backends, second.backends);
      assert.match(discovery.lastError!.message, /live\.yaml/);

      await Deno.writeTextFile(path, "- 127.0.0.1:4\n");
      const third = await discovery.discover();
      assert.deepEqual(third.backends.map((b) => b.address), ["127.0.0.1:4"]);
      assert.equal(discovery.lastError, undefined);
      assert.equal(errors.length, 3);
    });

    await t.step("a broken or missing file before any good one rejects", async () => {
      const path = `${dir}/bad.yaml`;
      await Deno.writeTextFile(path, "backends: 3\n");
      const discovery = new FileDiscovery(path);
      await assert.rejects(discovery.discover(), /backends: expected a list, found 3/);
      await assert.rejects(discovery.discover(), /backends: expected a list, found 3/);
      await assert.rejects(new FileDiscovery(`${dir}/missing.yaml`).discover(), /missing\.yaml/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileDiscovery: each new version of the file alone decides enablement; a hand setEnabled lasts until then", async () => {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    const lb = new LoadBalancer(new RoundRobin(), new FileDiscovery(path));
    const enabled = () => lb.states().map((s) => [s.address, s.enabled]);
    await Deno.writeTextFile(
      path,
      "backends:\n  - 127.0.0.1:8081\n  - address: 127.0.0.1:8082\n    enabled: false\n",
    );
    await lb.update();
    assert.deepEqual(enabled(), [["127.0.0.1:8081", true], ["127.0.0.1:8082", false]]);
    // The line is removed: the backend is enabled again.
    await Deno.writeTextFile(path, "backends:\n  - 127.0.0.1:8081\n  - 127.0.0.1:8082\n");
    await lb.update();
    assert.deepEqual(enabled(), [["127.0.0.1:8081", true], ["127.0.0.1:8082", true]]);
    // Drained by hand: it stays drained while the file is unchanged...
    lb.setEnabled("127.0.0.1:8081", false);
    await lb.update();
    assert.deepEqual(enabled(), [["127.0.0.1:8081", false], ["127.0.0.1:8082", true]]);
    // ...and the next version of the file decides again.
    await Deno.writeTextFile(path, "backends:\n  - 127.0.0.1:8081\n  - address: 127.0.0.1:8082\n");
    await lb.update();
    assert.deepEqual(enabled(), [["127.0.0.1:8081", true], ["127.0.0.1:8082", true]]);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("parseBackendsFile names the file, line and path of each problem", async (t) => {
  const cases: [string, RegExp][] = [
    ["[1]", /backends\[0\]: expected an address or a mapping, found 1/],
    [
      "[{weight: 2}]",
      /f\.yaml:1:2: backends\[0\]: missing required key "address" \(host:port\)/,
    ],
    [
      "[{address: 'x:y'}]",
      /f\.yaml:1:12: backends\[0\]\.address: expected host:port, found "x:y" \(.*invalid port "y"\)/,
    ],
    ["- x:y", /f\.yaml:1:3: backends\[0\]: expected host:port, found "x:y" \(.*invalid port/],
    ["[[]]", /f\.yaml:1:2: backends\[0\]: expected an address or a mapping, found a list/],
    ["3", /f\.yaml:1:1: expected a list of backends or a mapping with a backends list, found 3/],
    [
      "[{address: '127.0.0.1:1', enabled: 'yes'}]",
      /backends\[0\]\.enabled: expected true or false/,
    ],
    [
      "[{address: '127.0.0.1:1', metadata: [1]}]",
      /f\.yaml:1:37: backends\[0\]\.metadata: expected a map, found a list/,
    ],
    ["{other: []}", /f\.yaml:1:2: other: unknown key \(expected one of: backends\)/],
    ["{}", /f\.yaml:1:1: missing required key "backends" \(a list\)/],
    [
      "backends:\n  - address: 127.0.0.1:8081\n    weigth: 5\n",
      /f\.yaml:3:5: backends\[0\]\.weigth: unknown key \(did you mean "weight"\?\)/,
    ],
    [
      "- address: 127.0.0.1:8081\n  enabeld: false\n",
      /f\.yaml:2:3: backends\[0\]\.enabeld: unknown key \(did you mean "enabled"\?\)/,
    ],
    [
      "backend:\n  - 127.0.0.1:8081\nbackends:\n  - 127.0.0.1:8082\n",
      /f\.yaml:1:1: backend: unknown key \(did you mean "backends"\?\)/,
    ],
  ];
  for (const [text, pattern] of cases) {
    await t.step(text, () => {
      assert.throws(() => parseBackendsFile(text, "f.yaml"), pattern);
    });
  }
});

Deno.test("parseBackendsFile reports every problem at once; its cause has them as data", () => {
  const text = [
    "- 127.0.0.1:1", // 1
    "- { address: 127.0.0.1:2, weight: 0 }", // 2
    "- address: 127.0.0.1:3", // 3
    "  enabled: yes", // 4
  ].join("\n");
  assert.throws(() => parseBackendsFile(text, "f.yaml"), (err: unknown) => {
    assert.ok(err instanceof TypeError);
    assert.equal(
      err.message,
      [
        "Cannot load backends from f.yaml:2:35: backends[1].weight: expected integer from 1 to 65535, found 0",
        'f.yaml:4:12: backends[2].enabled: expected true or false, found "yes"',
      ].join("\n"),
    );
    assert.ok(err.cause instanceof ConfigError);
    assert.deepEqual(err.cause.issues.map((i) => [i.file, i.line, i.column, i.path]), [
      ["f.yaml", 2, 35, "backends[1].weight"],
      ["f.yaml", 4, 12, "backends[2].enabled"],
    ]);
    return true;
  });
  // Only a bare list's entries are renamed: a quoted key of the mapping form stays as written.
  assert.throws(
    () => parseBackendsFile('{"[0]": [], backends: []}', "f.yaml"),
    {
      message:
        'Cannot load backends from f.yaml:1:2: ["[0]"]: unknown key (expected one of: backends)',
    },
  );
});

Deno.test("parseBackendsFile names the place of a YAML syntax error", () => {
  assert.throws(
    () => parseBackendsFile("backends:\n  - [127.0.0.1:1\n", "f.yaml"),
    { name: "TypeError", message: /^Cannot load backends from f\.yaml:\d+:\d+: invalid YAML: / },
  );
});

Deno.test("parseBackendsFile reads an empty weight or metadata as absent, and metadata of any shape", () => {
  const found = parseBackendsFile(
    [
      "backends:",
      "  - address: 127.0.0.1:1",
      "    weight:",
      "    metadata: ~",
      "  - address: unix:/run/b.sock",
      "    enabled: true",
      "    metadata:",
      "      zone: &z b",
      "      copy: *z",
      "      tags: [x, 2, { deep: null }]",
      "      1: one",
      "",
    ].join("\n"),
    "f.yaml",
  );
  assert.deepEqual(found.backends.map((b) => [b.address, b.weight, b.metadata]), [
    ["127.0.0.1:1", 1, {}],
    ["unix:/run/b.sock", 1, { zone: "b", copy: "b", tags: ["x", 2, { deep: null }], "1": "one" }],
  ]);
  assert.deepEqual([...found.enabled!], [["127.0.0.1:1", true], ["unix:/run/b.sock", true]]);
  // an empty `enabled:` was never accepted, and is not now
  assert.throws(
    () => parseBackendsFile("- address: 127.0.0.1:1\n  enabled:\n", "f.yaml"),
    /f\.yaml:2:11: backends\[0\]\.enabled: expected true or false, found an empty value/,
  );
  // metadata keys are read as JavaScript reads them, as they always were
  assert.deepEqual(
    parseBackendsFile("- { address: 127.0.0.1:1, metadata: { true: 1, 2: 3 } }", "f.yaml")
      .backends[0]?.metadata,
    { true: 1, "2": 3 },
  );
  assert.throws(
    () => parseBackendsFile("- { address: 127.0.0.1:1, metadata: x }", "f.yaml"),
    /f\.yaml:1:37: backends\[0\]\.metadata: expected a map, found "x"/,
  );
  assert.deepEqual(parseBackendsFile("[]", "f.yaml").backends, []);
  assert.deepEqual(parseBackendsFile("backends: []", "f.yaml").backends, []);
});

Deno.test("parseBackendsFile: 5000 entries with `metadata: *m` share one object; an alias bomb is refused where it is", () => {
  const lines = ["backends:", "  - { address: 10.0.0.1:80, metadata: &m { zone: a, rack: 7 } }"];
  for (let i = 2; i <= 5000; i++) {
    lines.push(`  - { address: 10.0.${i >> 8}.${i & 255}:80, metadata: *m }`);
  }
  const { backends } = parseBackendsFile(lines.join("\n"), "f.yaml");
  assert.equal(backends.length, 5000);
  assert.deepEqual(backends[4999]?.metadata, { zone: "a", rack: 7 });
  assert.equal(new Set(backends.map((b) => b.metadata)).size, 1);
  // a list of 10 000 items repeated by its 100th alias goes over the 1 000 000 values aliases may
  // stand for (each alias counts the map, its key, the list and the items: 10 003 values)
  const bomb = [
    "backends:",
    `  - { address: 10.0.0.1:80, metadata: &m { list: [${Array(10000).fill("1").join(",")}] } }`,
  ];
  for (let i = 2; i <= 200; i++) bomb.push(`  - { address: 10.0.0.${i}:80, metadata: *m }`);
  assert.throws(() => parseBackendsFile(bomb.join("\n"), "f.yaml"), {
    name: "TypeError",
    message: "Cannot load backends from f.yaml:102:41: backends[100].metadata: cannot read the " +
      "value: with alias *m (10003 values) the document's aliases stand for 1000300 values, " +
      "more than the limit of 1000000",
  });
});
