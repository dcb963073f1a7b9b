/**
 * {@linkcode FileDiscovery}: backends from a YAML or JSON file, reloaded when
 * its content changes.
 *
 * @module
 */

import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { Backend } from "./backend.ts";
import type { Discovered, ServiceDiscovery } from "./service_discovery.ts";

/** Options of {@linkcode FileDiscovery}. */
export interface FileDiscoveryOptions {
  /** Called when a changed file cannot be used and the last good set is kept. */
  onError?: (error: Error) => void;
}

function describe(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

/**
 * Parses the text of a backends file: `{ backends: [...] }` or a bare list,
 * each entry an address string or `{ address, weight?, enabled?, metadata? }`.
 * YAML (JSON is YAML). Throws `TypeError` naming the file, the line and
 * column, the path inside it, what was expected and what was found; unknown
 * keys are errors. The result's `enabled` lists every backend (`true` when
 * the entry says nothing), so the file alone decides which are drained.
 *
 * @example
 * ```ts
 * import { parseBackendsFile } from "@cirque/lb/file-discovery";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => parseBackendsFile('[{"address": "127.0.0.1:1", "weight": 0}]', "b.json"),
 *   /b\.json:1:39: backends\[0\]\.weight: expected an integer in 1\.\.65535, found 0/,
 * );
 * assert.throws(
 *   () => parseBackendsFile("- address: 127.0.0.1:1\n  enabeld: false\n", "b.yaml"),
 *   /b\.yaml:2:3: backends\[0\]\.enabeld: unknown key \(expected address, weight, enabled, metadata\)/,
 * );
 * ```
 */
export function parseBackendsFile(text: string, file: string): Discovered {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    throw new TypeError(`Cannot load backends from ${file}: ${doc.errors[0]!.message}`);
  }
  const root: unknown = doc.toJS();
  const bare = Array.isArray(root);
  // `file:line:column` of the deepest node of `keys` that exists (the key itself for `key`).
  const where = (keys: (string | number)[], key = false, fromRoot = false): string => {
    const full = bare || fromRoot ? keys : ["backends", ...keys];
    for (let n = full.length; n >= 0; n--) {
      let node: unknown;
      if (key && n === full.length) {
        const parent = n === 1 ? doc.contents : doc.getIn(full.slice(0, n - 1), true);
        node = isMap(parent)
          ? parent.items.find((p) => isScalar(p.key) && p.key.value === full[n - 1])?.key
          : undefined;
      } else {
        node = n === 0 ? doc.contents : doc.getIn(full.slice(0, n), true);
      }
      const offset = (node as { range?: number[] } | null | undefined)?.range?.[0];
      if (offset !== undefined) {
        const pos = lineCounter.linePos(offset);
        return `${file}:${pos.line}:${pos.col}`;
      }
    }
    return file;
  };
  const fail = (keys: (string | number)[], expected: string, found: unknown): never => {
    throw new TypeError(
      `Cannot load backends from ${where(keys)}: ${pathOf(keys)}: expected ${expected}, found ${
        describe(found)
      }`,
    );
  };
  // `keys` null: the document's top level.
  const unknownKeys = (keys: number[] | null, value: object, known: readonly string[]) => {
    const extra = Object.keys(value).find((k) => !known.includes(k));
    if (extra === undefined) return;
    const at = keys === null ? where([extra], true, true) : where([...keys, extra], true);
    throw new TypeError(
      `Cannot load backends from ${at}: ${
        keys === null ? extra : pathOf([...keys, extra])
      }: unknown key (expected ${known.join(", ")})`,
    );
  };
  if (!bare && typeof root === "object" && root !== null) unknownKeys(null, root, ["backends"]);
  const list = bare ? root : (root as { backends?: unknown } | null)?.backends;
  if (!Array.isArray(list)) fail([], "a list", list);
  const backends: Backend[] = [];
  const enabled = new Map<string, boolean>();
  (list as unknown[]).forEach((entry, i) => {
    const e: Record<string, unknown> = typeof entry === "string" ? { address: entry } : (
      typeof entry === "object" && entry !== null && !Array.isArray(entry)
        ? entry as Record<string, unknown>
        : fail([i], "an address or a mapping", entry)
    );
    unknownKeys([i], e, ENTRY_KEYS);
    if (typeof e.address !== "string") fail([i, "address"], "a string", e.address);
    const weight = e.weight ?? 1;
    if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 1 || weight > 65535) {
      fail([i, "weight"], "an integer in 1..65535", weight);
    }
    if (e.enabled !== undefined && typeof e.enabled !== "boolean") {
      fail([i, "enabled"], "true or false", e.enabled);
    }
    const metadata = e.metadata ?? {};
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      fail([i, "metadata"], "a mapping", metadata);
    }
    let backend: Backend;
    try {
      backend = new Backend(e.address as string, {
        weight: weight as number,
        metadata: metadata as Record<string, unknown>,
      });
    } catch (err) {
      return fail([i, "address"], "host:port", e.address + ` (${(err as Error).message})`);
    }
    backends.push(backend);
    enabled.set(backend.address, e.enabled !== false);
  });
  return { backends, enabled };
}

const ENTRY_KEYS = ["address", "weight", "enabled", "metadata"] as const;

function pathOf(keys: (string | number)[]): string {
  return keys.reduce<string>(
    (p, k) => typeof k === "number" ? `${p}[${k}]` : `${p}.${k}`,
    "backends",
  );
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
