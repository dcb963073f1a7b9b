import assert from "node:assert/strict";
import { FileDiscovery, parseBackendsFile } from "./file_discovery.ts";

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
      assert.deepEqual([...found.enabled!], [["127.0.0.1:8081", false]]);
    });

    await t.step("reads JSON, a bare list too", async () => {
      const path = `${dir}/backends.json`;
      await Deno.writeTextFile(path, JSON.stringify(["[::1]:80", { address: "127.0.0.1:81" }]));
      const found = await new FileDiscovery(path).discover();
      assert.deepEqual(found.backends.map((b) => b.address), ["[::1]:80", "127.0.0.1:81"]);
      assert.equal(found.enabled, undefined);
    });

    await t.step("reloads on change; a broken file keeps the last good set", async () => {
      const path = `${dir}/live.yaml`;
      const errors: Error[] = [];
      const discovery = new FileDiscovery(path, { onError: (e) => errors.push(e) });
      await Deno.writeTextFile(path, "- 127.0.0.1:1\n");
      const first = await discovery.discover();
      assert.equal(await discovery.discover(), first); // unchanged text: same answer
      await Deno.writeTextFile(path, "- 127.0.0.1:1\n- 127.0.0.1:2\n");
      const second = await discovery.discover();
      assert.equal(second.backends.length, 2);

      await Deno.writeTextFile(path, "- 127.0.0.1:1\n- { address: 127.0.0.1:3, weight: heavy }\n");
      assert.equal(await discovery.discover(), second);
      assert.match(
        discovery.lastError!.message,
        /live\.yaml: backends\[1\]\.weight: expected an integer in 1\.\.65535, found "heavy"/,
      );
      assert.equal(await discovery.discover(), second);
      assert.equal(errors.length, 1); // reported once per bad version

      await Deno.writeTextFile(path, "- [unclosed\n");
      assert.equal(await discovery.discover(), second);
      assert.match(discovery.lastError!.message, /Cannot load backends from .*live\.yaml/);

      await Deno.remove(path);
      assert.equal(await discovery.discover(), second);
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

Deno.test("parseBackendsFile names the path of each problem", async (t) => {
  const cases: [string, RegExp][] = [
    ["[1]", /backends\[0\]: expected an address or a mapping, found 1/],
    ["[{weight: 2}]", /backends\[0\]\.address: expected a string, found nothing/],
    ["[{address: 'x:y'}]", /backends\[0\]\.address: expected host:port/],
    [
      "[{address: '127.0.0.1:1', enabled: 'yes'}]",
      /backends\[0\]\.enabled: expected true or false/,
    ],
    ["[{address: '127.0.0.1:1', metadata: [1]}]", /backends\[0\]\.metadata: expected a mapping/],
    ["{other: []}", /backends: expected a list, found nothing/],
  ];
  for (const [text, pattern] of cases) {
    await t.step(text, () => {
      assert.throws(() => parseBackendsFile(text, "f.yaml"), pattern);
    });
  }
});
