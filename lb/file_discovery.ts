/**
 * {@linkcode FileDiscovery}: backends from a YAML or JSON file, reloaded when
 * its content changes.
 *
 * @module
 */

import {
  anything,
  arrayOf,
  boolean,
  ConfigError,
  type ConfigIssue,
  type Infer,
  integer,
  object,
  optional,
  orEmpty,
  parseConfig,
  string,
  union,
  withDefault,
} from "@cirque/core/config";
import { parseAddress } from "./_address.ts";
import { Backend } from "./backend.ts";
import type { Discovered, ServiceDiscovery } from "./service_discovery.ts";

/** Options of {@linkcode FileDiscovery}. */
export interface FileDiscoveryOptions {
  /** Called when a changed file cannot be used and the last good set is kept. */
  onError?: (error: Error) => void;
}

const ADDRESS = string({
  description: "host:port",
  check(address) {
    try {
      parseAddress(address);
      return undefined;
    } catch (err) {
      return `expected host:port, found ${JSON.stringify(address)} (${(err as Error).message})`;
    }
  },
});

// Free-form: keys and values as JavaScript reads them (`true:` is "true"); only the whole is checked.
const METADATA = anything({
  description: "a map",
  check: (value) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? undefined
      : `expected a map, found ${Array.isArray(value) ? "a list" : JSON.stringify(value)}`,
});

const ENTRY = union([
  ADDRESS,
  object({
    address: ADDRESS,
    // An empty `weight:` or `metadata:` reads as absent, as it always has.
    weight: withDefault(orEmpty(integer({ min: 1, max: 65535 })), 1),
    enabled: optional(boolean()),
    metadata: withDefault(orEmpty(METADATA), {}),
  }),
], { description: "an address or a mapping" });

const BACKENDS = arrayOf(ENTRY);

const BACKENDS_FILE = union([BACKENDS, object({ backends: BACKENDS })], {
  description: "a list of backends or a mapping with a backends list",
});

/** A bare list's entries are named as the `backends` list's: `[1].weight` → `backends[1].weight`. */
function inBackends(issue: ConfigIssue): ConfigIssue {
  return /^\[\d/.test(issue.path) ? { ...issue, path: `backends${issue.path}` } : issue;
}

/**
 * Parses the text of a backends file: `{ backends: [...] }` or a bare list,
 * each entry an address string or `{ address, weight?, enabled?, metadata? }`.
 * YAML (JSON is YAML), checked with `@cirque/core/config`. Throws a
 * `TypeError` whose message has a line per problem (every one found), each
 * naming the file, line and column, the path inside it, what was expected
 * and what was found; its `cause` is the {@linkcode ConfigError} with the
 * problems as data. Unknown keys are errors. The result's `enabled` lists
 * every backend (`true` when the entry says nothing), so the file alone
 * decides which are drained.
 *
 * @example
 * ```ts
 * import { parseBackendsFile } from "@cirque/lb/file-discovery";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => parseBackendsFile('[{"address": "127.0.0.1:1", "weight": 0}]', "b.json"),
 *   /b\.json:1:39: backends\[0\]\.weight: expected integer from 1 to 65535, found 0/,
 * );
 * assert.throws(
 *   () => parseBackendsFile("- address: 127.0.0.1:1\n  enabeld: false\n", "b.yaml"),
 *   /b\.yaml:2:3: backends\[0\]\.enabeld: unknown key \(did you mean "enabled"\?\)/,
 * );
 * ```
 */
export function parseBackendsFile(text: string, file: string): Discovered {
  let parsed: Infer<typeof BACKENDS_FILE>;
  try {
    parsed = parseConfig(text, BACKENDS_FILE, { file });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const error = new ConfigError(err.issues.map(inBackends));
    throw new TypeError(`Cannot load backends from ${error.message}`, { cause: error });
  }
  const list = Array.isArray(parsed) ? parsed : parsed.backends;
  const backends: Backend[] = [];
  const enabled = new Map<string, boolean>();
  for (const entry of list) {
    const e = typeof entry === "string" ? { address: entry, weight: 1, metadata: {} } : entry;
    const metadata = e.metadata as Record<string, unknown>;
    const backend = new Backend(e.address, { weight: e.weight, metadata });
    backends.push(backend);
    enabled.set(backend.address, typeof entry === "string" || entry.enabled !== false);
  }
  return { backends, enabled };
}

/**
 * Reads the file on every `discover()` and re-parses it when its text
 * changed. A missing or broken file after a good one keeps the last good set
 * and reports the error (`onError`, `lastError`); before any good read it
 * rejects. Enablement comes with each new version of the file only (every
 * backend's, from that version alone): between versions `discover()`
 * returns the backends without it, so a `setEnabled()` by hand lasts until
 * the file changes.
 *
 * @example A broken edit keeps the last good set
 * ```ts
 * import { FileDiscovery } from "@cirque/lb/file-discovery";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(path, '["127.0.0.1:8080"]');
 * const discovery = new FileDiscovery(path);
 * await discovery.discover();
 * await Deno.writeTextFile(path, '["127.0.0.1:8080", ');
 * assert.equal((await discovery.discover()).backends.length, 1);
 * assert.match(discovery.lastError!.message, /Cannot load backends/);
 * await Deno.remove(path);
 * ```
 */
export class FileDiscovery implements ServiceDiscovery {
  #path: string;
  #options: FileDiscoveryOptions;
  #text: string | undefined;
  #last: Discovered | undefined;
  // #last without `enabled`: the answer while the file does not change.
  #steady: Discovered | undefined;
  #lastError: Error | undefined;

  /** Watches `path`. */
  constructor(path: string, options: FileDiscoveryOptions = {}) {
    this.#path = path;
    this.#options = options;
  }

  /** The error of the last unusable version of the file, cleared by a good one. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Reads the file; re-parses only when its text changed. */
  async discover(): Promise<Discovered> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (err) {
      return this.#failed(
        new Error(`Cannot load backends from ${this.#path}: ${(err as Error).message}`, {
          cause: err,
        }),
        undefined,
      );
    }
    if (text === this.#text) {
      if (this.#steady !== undefined) return this.#steady;
      throw this.#lastError!;
    }
    try {
      this.#last = parseBackendsFile(text, this.#path);
      this.#steady = { backends: this.#last.backends };
      this.#text = text;
      this.#lastError = undefined;
      return this.#last;
    } catch (err) {
      return this.#failed(err as Error, text);
    }
  }

  #failed(error: Error, text: string | undefined): Discovered {
    const changed = text === undefined || text !== this.#text;
    this.#text = text;
    this.#lastError = error;
    if (this.#steady === undefined) throw error;
    if (changed) this.#options.onError?.(error);
    return this.#steady;
  }
}
