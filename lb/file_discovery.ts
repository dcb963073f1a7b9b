/**
 * {@linkcode FileDiscovery}: backends from a YAML or JSON file, reloaded when
 * its content changes.
 *
 * @module
 */

import { parse } from "yaml";
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
 * YAML (JSON is YAML). Throws `TypeError` naming the file, the path inside it,
 * what was expected and what was found.
 *
 * @example
 * ```ts
 * import { parseBackendsFile } from "@cirque/lb/file-discovery";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => parseBackendsFile('[{"address": "127.0.0.1:1", "weight": 0}]', "b.json"),
 *   /b\.json: backends\[0\]\.weight: expected an integer in 1\.\.65535, found 0/,
 * );
 * ```
 */
export function parseBackendsFile(text: string, file: string): Discovered {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new TypeError(
      `Cannot load backends from ${file}: ${err instanceof Error ? err.message : err}`,
    );
  }
  const fail = (path: string, expected: string, found: unknown): never => {
    throw new TypeError(
      `Cannot load backends from ${file}: ${path}: expected ${expected}, found ${describe(found)}`,
    );
  };
  const list = Array.isArray(doc) ? doc : (doc as { backends?: unknown } | null)?.backends;
  if (!Array.isArray(list)) fail("backends", "a list", list);
  const backends: Backend[] = [];
  const enabled = new Map<string, boolean>();
  (list as unknown[]).forEach((entry, i) => {
    const at = `backends[${i}]`;
    const e: Record<string, unknown> = typeof entry === "string" ? { address: entry } : (
      typeof entry === "object" && entry !== null && !Array.isArray(entry)
        ? entry as Record<string, unknown>
        : fail(at, "an address or a mapping", entry)
    );
    if (typeof e.address !== "string") fail(`${at}.address`, "a string", e.address);
    const weight = e.weight ?? 1;
    if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 1 || weight > 65535) {
      fail(`${at}.weight`, "an integer in 1..65535", weight);
    }
    if (e.enabled !== undefined && typeof e.enabled !== "boolean") {
      fail(`${at}.enabled`, "true or false", e.enabled);
    }
    const metadata = e.metadata ?? {};
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      fail(`${at}.metadata`, "a mapping", metadata);
    }
    let backend: Backend;
    try {
      backend = new Backend(e.address as string, {
        weight: weight as number,
        metadata: metadata as Record<string, unknown>,
      });
    } catch (err) {
      return fail(`${at}.address`, "host:port", e.address + ` (${(err as Error).message})`);
    }
    backends.push(backend);
    if (typeof e.enabled === "boolean") enabled.set(backend.address, e.enabled);
  });
  return enabled.size > 0 ? { backends, enabled } : { backends };
}

/**
 * Reads the file on every `discover()` and re-parses it when its text
 * changed. A missing or broken file after a good one keeps the last good set
 * and reports the error (`onError`, `lastError`); before any good read it
 * rejects.
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
      if (this.#last !== undefined) return this.#last;
      throw this.#lastError!;
    }
    try {
      this.#last = parseBackendsFile(text, this.#path);
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
    if (this.#last === undefined) throw error;
    if (changed) this.#options.onError?.(error);
    return this.#last;
  }
}
