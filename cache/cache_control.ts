/**
 * {@linkcode CacheControl}: a lenient parser for `Cache-Control` and its
 * targeted variants such as `CDN-Cache-Control` (RFC 9111 §5.2, RFC 9213).
 *
 * @example
 * ```ts
 * import { CacheControl } from "@cirque/cache/cache-control";
 * import assert from "node:assert/strict";
 *
 * const cc = CacheControl.parse(["public, max-age=60", 'S-MaxAge="120"']);
 * assert.equal(cc.seconds("max-age"), 60);
 * assert.equal(cc.seconds("s-maxage"), 120);
 * assert.ok(cc.has("public"));
 * ```
 *
 * @module
 */

/** The value RFC 9111 §1.2.2 says to use for a delta-seconds that overflows. */
export const DELTA_SECONDS_MAX = 2147483648;

/**
 * Parsed cache directives. Names are lowercased; when a directive repeats, the
 * first occurrence counts (RFC 9111 §4.2.1). Arguments may be tokens or
 * quoted strings (RFC 9111 §5.2).
 *
 * @example
 * ```ts
 * import { CacheControl } from "@cirque/cache/cache-control";
 * import assert from "node:assert/strict";
 *
 * const cc = CacheControl.parse('private="set-cookie, x-a", max-age=abc');
 * assert.deepEqual(cc.fieldNames("private"), ["set-cookie", "x-a"]);
 * assert.equal(cc.seconds("max-age"), 0); // invalid → treat as stale
 * assert.equal(cc.seconds("s-maxage"), undefined);
 * ```
 */
export class CacheControl {
  /** Directive name (lowercase) → argument (unquoted) or `null` when it has none. */
  readonly directives: ReadonlyMap<string, string | null>;

  /** Wraps parsed directives; use {@linkcode CacheControl.parse}. */
  constructor(directives: ReadonlyMap<string, string | null>) {
    this.directives = directives;
  }

  /** An empty set of directives. */
  static readonly EMPTY: CacheControl = new CacheControl(new Map());

  /** Parses one or more field values (repeated fields are one list, RFC 9110 §5.3). */
  static parse(values: string | readonly string[] | null | undefined): CacheControl {
    if (values === null || values === undefined) return CacheControl.EMPTY;
    const list = typeof values === "string" ? [values] : values;
    if (list.length === 0) return CacheControl.EMPTY;
    const out = new Map<string, string | null>();
    for (const v of list) parseInto(v, out);
    return out.size === 0 ? CacheControl.EMPTY : new CacheControl(out);
  }

  /** Whether `name` is present (with or without an argument). */
  has(name: string): boolean {
    return this.directives.has(name);
  }

  /** Whether no directive is present. */
  get isEmpty(): boolean {
    return this.directives.size === 0;
  }

  /**
   * A delta-seconds argument: `undefined` when the directive is absent, `0`
   * when its argument is missing, does not start with a digit or has
   * whitespace around `=` (RFC 9111 §4.2.1 encourages treating invalid
   * freshness information as stale); leading digits count (`3600.5` → 3600);
   * capped at 2^31 (RFC 9111 §1.2.2).
   */
  seconds(name: string): number | undefined {
    if (!this.directives.has(name)) return undefined;
    const v = this.directives.get(name);
    // Leading digits count ("3600.5" → 3600, as most caches read it); anything else is invalid.
    const m = v === null || v === undefined ? null : /^\d+/.exec(v);
    if (m === null) return 0;
    const n = Number(m[0]);
    return n > DELTA_SECONDS_MAX ? DELTA_SECONDS_MAX : n;
  }

  /**
   * The field names of a qualified `private="…"` or `no-cache="…"`
   * (RFC 9111 §5.2.2.4, §5.2.2.7), lowercased; `null` when unqualified or absent.
   */
  fieldNames(name: string): string[] | null {
    const v = this.directives.get(name);
    if (v === null || v === undefined) return null;
    const names = v.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
    return names.length === 0 ? null : names;
  }
}

function parseInto(value: string, out: Map<string, string | null>): void {
  const n = value.length;
  let i = 0;
  while (i < n) {
    // Skip separators and whitespace.
    while (i < n && (value[i] === "," || value[i] === " " || value[i] === "\t")) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && value[j] !== "=" && value[j] !== ",") j++;
    const name = value.slice(i, j).trim().toLowerCase();
    let arg: string | null = null;
    // RFC 9111 §5.2 grammar has no whitespace around "=": such an argument is invalid.
    let spaced = j > i && (value[j - 1] === " " || value[j - 1] === "\t");
    i = j;
    if (i < n && value[i] === "=") {
      i++;
      if (value[i] === " " || value[i] === "\t") spaced = true;
      while (i < n && (value[i] === " " || value[i] === "\t")) i++;
      if (value[i] === '"') {
        i++;
        let s = "";
        while (i < n && value[i] !== '"') {
          if (value[i] === "\\" && i + 1 < n) i++;
          s += value[i];
          i++;
        }
        i++; // closing quote (or end)
        arg = s;
        while (i < n && value[i] !== ",") i++;
      } else {
        let k = i;
        while (k < n && value[k] !== ",") k++;
        arg = value.slice(i, k).trim();
        i = k;
      }
    }
    if (spaced && arg !== null) arg = "\u0000invalid";
    if (name.length > 0 && !/[\s"]/.test(name) && !out.has(name)) out.set(name, arg);
  }
}
