/**
 * A small schema-validating YAML loader.
 *
 * A schema is plain data built with {@linkcode object}, {@linkcode string},
 * {@linkcode number}, {@linkcode integer}, {@linkcode boolean},
 * {@linkcode oneOf}, {@linkcode arrayOf}, {@linkcode mapOf},
 * {@linkcode union} (one of several schemas) and {@linkcode anything} (a
 * value passed through unchecked); fields are required unless wrapped in
 * {@linkcode optional} or {@linkcode withDefault}, and {@linkcode orEmpty}
 * lets an empty value stand for an absent key. {@linkcode parseConfig} and
 * {@linkcode loadConfig} check a YAML document against it and return the
 * typed value, or throw one {@linkcode ConfigError} listing **every** problem,
 * each naming the file, line, column and key path:
 *
 * ```text
 * cirque.yaml:14:13: upstreams[2].weight: expected integer ≥ 1, found "heavy"
 * cirque.yaml:3:1: grace_period_secs: unknown key (did you mean "grace_period_seconds"?)
 * ```
 *
 * Object fields are camelCase in TypeScript and snake_case in YAML
 * (`gracePeriodSeconds` ↔ `grace_period_seconds`) unless the object says
 * `{ keys: "as-is" }`. Map keys ({@linkcode mapOf}) are kept as written, as
 * strings: two keys that read the same that way (`1` and `"1"`) are an error.
 * Unknown keys are errors. Scalars are taken as YAML 1.2 types them: `8080`
 * is a number, `"8080"` a string, and neither is converted into the other.
 *
 * Aliases (`*name`, repeating the node anchored `&name`) are followed: each
 * is validated where it is used, and an {@linkcode anything} value reached
 * through several aliases is one shared object. What aliases may expand to
 * is bounded, so that a small file cannot stand for a huge value (an "alias
 * bomb"): see {@linkcode ParseConfigOptions.maxAliasedValues} and
 * {@linkcode ParseConfigOptions.maxAliasCount}.
 *
 * @example Define a schema and parse a document
 * ```ts
 * import * as cfg from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const schema = cfg.object({
 *   listen: cfg.string(),
 *   upstreams: cfg.arrayOf(cfg.object({
 *     address: cfg.string(),
 *     weight: cfg.withDefault(cfg.integer({ min: 1 }), 1),
 *   })),
 * });
 * const conf = cfg.parseConfig("listen: 0.0.0.0:8080\nupstreams:\n  - address: 10.0.0.1:80\n", schema);
 * assert.deepEqual(conf, { listen: "0.0.0.0:8080", upstreams: [{ address: "10.0.0.1:80", weight: 1 }] });
 *
 * assert.throws(
 *   () => cfg.parseConfig("listen: x\nupstreams:\n  - address: a\n    weight: heavy\n", schema, { file: "cirque.yaml" }),
 *   { message: 'cirque.yaml:4:13: upstreams[0].weight: expected integer ≥ 1, found "heavy"' },
 * );
 * ```
 *
 * @module
 */
import {
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  YAMLMap,
  YAMLSeq,
} from "yaml";
import type { Alias, Document, Node as YamlNode } from "yaml";

// The longest timer (2³¹ − 1 ms), defined beside the deadlines; the bound of every duration key.
export { MAX_TIMER_MS } from "./deadline.ts";

/** The kinds of schema {@linkcode validate} understands. */
export type SchemaKind =
  | "string"
  | "number"
  | "boolean"
  | "enum"
  | "array"
  | "map"
  | "object"
  | "union"
  | "any";

/**
 * What every schema carries. `T` is the type a valid value parses to.
 *
 * Schemas are plain data; build them with the functions of this module.
 */
export interface Schema<T = unknown> {
  /** Which kind of value this schema accepts. */
  readonly kind: SchemaKind;
  /** Set by {@linkcode optional}: the field may be absent. */
  readonly optional?: boolean;
  /** Set by {@linkcode withDefault}: the value used when the field is absent. */
  readonly default?: T;
  /** Set by {@linkcode orEmpty}: an empty value (`key:`, `key: ~`) counts as an absent key. */
  readonly emptyIsAbsent?: boolean;
  /** Replaces the generated "expected …" text in error messages. */
  readonly description?: string;
  /**
   * An extra check run once the value has the right type. Return a message
   * (for example `"expected host:port"`) to report a problem, or `undefined`.
   */
  check?(value: T): string | undefined;
  /** Type-level only: the parsed type. Never set at run time. */
  readonly "~type"?: T;
}

/** The parsed type of a schema. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** Options shared by every schema builder. */
export interface SchemaOptions<T> {
  /** Replaces the generated "expected …" text in error messages. */
  description?: string;
  /** An extra check; return a message to report a problem. */
  check?(value: T): string | undefined;
}

/** A string. */
export interface StringSchema extends Schema<string> {
  /** Always `"string"`. */
  readonly kind: "string";
  /** The string must match this pattern. */
  readonly pattern?: RegExp;
  /** The string must have at least this many characters. */
  readonly minLength?: number;
}

/** Options of {@linkcode string}. */
export interface StringOptions extends SchemaOptions<string> {
  /** The string must match this pattern. */
  pattern?: RegExp;
  /**
   * The string must have at least this many characters.
   * @default {0}
   */
  minLength?: number;
}

/** A number, optionally an integer, optionally bounded. */
export interface NumberSchema extends Schema<number> {
  /** Always `"number"`. */
  readonly kind: "number";
  /** Whether only integers are accepted. */
  readonly integer: boolean;
  /** Smallest accepted value (inclusive). */
  readonly min?: number;
  /** Largest accepted value (inclusive). */
  readonly max?: number;
}

/** Options of {@linkcode number} and {@linkcode integer}. */
export interface NumberOptions extends SchemaOptions<number> {
  /** Smallest accepted value (inclusive). */
  min?: number;
  /** Largest accepted value (inclusive). */
  max?: number;
}

/** `true` or `false`. */
export interface BooleanSchema extends Schema<boolean> {
  /** Always `"boolean"`. */
  readonly kind: "boolean";
}

/** One of a fixed set of strings. */
export interface EnumSchema<V extends string = string> extends Schema<V> {
  /** Always `"enum"`. */
  readonly kind: "enum";
  /** The accepted values. */
  readonly values: readonly V[];
}

/** A YAML sequence whose items all match one schema. */
export interface ArraySchema<I extends Schema = Schema> extends Schema<Infer<I>[]> {
  /** Always `"array"`. */
  readonly kind: "array";
  /** The schema of every item. */
  readonly items: I;
  /** The list must have at least this many items. */
  readonly minItems?: number;
}

/** Options of {@linkcode arrayOf}. */
export interface ArrayOptions<T> extends SchemaOptions<T> {
  /**
   * The list must have at least this many items.
   * @default {0}
   */
  minItems?: number;
}

/** A YAML map with free-form string keys whose values all match one schema. */
export interface MapSchema<V extends Schema = Schema> extends Schema<Record<string, Infer<V>>> {
  /** Always `"map"`. */
  readonly kind: "map";
  /** The schema of every value. */
  readonly values: V;
}

/** The fields of an {@linkcode ObjectSchema}, by TypeScript name. */
export type Fields = { readonly [key: string]: Schema };

/** The names of the fields marked {@linkcode optional}. */
export type OptionalKeys<F extends Fields> = {
  [K in keyof F]: F[K] extends { readonly optional: true } ? K : never;
}[keyof F];

/** The parsed type of an object schema's fields. */
export type InferFields<F extends Fields> =
  & { -readonly [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> }
  & { -readonly [K in OptionalKeys<F>]?: Infer<F[K]> };

/** How TypeScript field names map to YAML keys. */
export type KeyCase = "snake_case" | "as-is";

/** A YAML map with a fixed set of known keys. */
export interface ObjectSchema<F extends Fields = Fields> extends Schema<InferFields<F>> {
  /** Always `"object"`. */
  readonly kind: "object";
  /** The known fields, by TypeScript name. */
  readonly fields: F;
  /** How field names map to YAML keys. */
  readonly keys: KeyCase;
}

/** Any one of several schemas (see {@linkcode union}). */
export interface UnionSchema<A extends readonly Schema[] = readonly Schema[]>
  extends Schema<Infer<A[number]>> {
  /** Always `"union"`. */
  readonly kind: "union";
  /** The accepted schemas, in the order they are tried. */
  readonly alternatives: A;
}

/** Any value at all, passed through unchecked (see {@linkcode anything}). */
export interface AnythingSchema extends Schema<unknown> {
  /** Always `"any"`. */
  readonly kind: "any";
}

/** Options of {@linkcode object}. */
export interface ObjectOptions<T> extends SchemaOptions<T> {
  /**
   * How TypeScript field names map to YAML keys: `"snake_case"` turns
   * `gracePeriodSeconds` into `grace_period_seconds`.
   * @default {"snake_case"}
   */
  keys?: KeyCase;
}

function common<T>(options: SchemaOptions<T>): SchemaOptions<T> {
  const out: SchemaOptions<T> = {};
  if (options.description !== undefined) out.description = options.description;
  if (options.check !== undefined) out.check = options.check;
  return out;
}

/**
 * A string schema.
 *
 * @example
 * ```ts
 * import { parseConfig, string } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseConfig('"hi"', string({ minLength: 1 })), "hi");
 * ```
 */
export function string(options: StringOptions = {}): StringSchema {
  const schema: { -readonly [K in keyof StringSchema]: StringSchema[K] } = {
    kind: "string",
    ...common(options),
  };
  if (options.pattern !== undefined) schema.pattern = options.pattern;
  if (options.minLength !== undefined) schema.minLength = options.minLength;
  return schema;
}

function numeric(integer: boolean, options: NumberOptions): NumberSchema {
  const schema: { -readonly [K in keyof NumberSchema]: NumberSchema[K] } = {
    kind: "number",
    integer,
    ...common(options),
  };
  if (options.min !== undefined) schema.min = options.min;
  if (options.max !== undefined) schema.max = options.max;
  return schema;
}

/**
 * A number schema (integers and decimals).
 *
 * @example
 * ```ts
 * import { number, parseConfig } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseConfig("0.5", number({ min: 0, max: 1 })), 0.5);
 * ```
 */
export function number(options: NumberOptions = {}): NumberSchema {
  return numeric(false, options);
}

/**
 * An integer schema.
 *
 * @example
 * ```ts
 * import { integer, parseConfig } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseConfig("8080", integer({ min: 1, max: 65535 })), 8080);
 * assert.throws(() => parseConfig("1.5", integer()), /expected integer, found 1.5/);
 * ```
 */
export function integer(options: NumberOptions = {}): NumberSchema {
  return numeric(true, options);
}

/**
 * A boolean schema (`true` or `false`; YAML 1.2 does not read `yes` as true).
 *
 * @example
 * ```ts
 * import { boolean, parseConfig } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseConfig("true", boolean()), true);
 * ```
 */
export function boolean(options: SchemaOptions<boolean> = {}): BooleanSchema {
  return { kind: "boolean", ...common(options) };
}

/**
 * A schema accepting one of a fixed set of strings.
 *
 * @example
 * ```ts
 * import { oneOf, parseConfig } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const algo = oneOf(["round_robin", "random"]);
 * assert.equal(parseConfig("random", algo), "random");
 * assert.throws(() => parseConfig("rr", algo), /expected one of "round_robin", "random", found "rr"/);
 * ```
 */
export function oneOf<const V extends string>(
  values: readonly V[],
  options: SchemaOptions<V> = {},
): EnumSchema<V> {
  return { kind: "enum", values, ...common(options) };
}

/**
 * A list schema.
 *
 * @example
 * ```ts
 * import { arrayOf, parseConfig, string } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseConfig("[a, b]", arrayOf(string())), ["a", "b"]);
 * ```
 */
export function arrayOf<I extends Schema>(
  items: I,
  options: ArrayOptions<Infer<I>[]> = {},
): ArraySchema<I> {
  const schema: { -readonly [K in keyof ArraySchema<I>]: ArraySchema<I>[K] } = {
    kind: "array",
    items,
    ...common(options),
  };
  if (options.minItems !== undefined) schema.minItems = options.minItems;
  return schema;
}

/**
 * A map schema: free-form string keys (kept as written), one value schema.
 *
 * @example
 * ```ts
 * import { integer, mapOf, parseConfig } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseConfig("a: 1\nB-2: 2", mapOf(integer())), { a: 1, "B-2": 2 });
 * ```
 */
export function mapOf<V extends Schema>(
  values: V,
  options: SchemaOptions<Record<string, Infer<V>>> = {},
): MapSchema<V> {
  return { kind: "map", values, ...common(options) };
}

/**
 * An object schema: a YAML map with known keys. Unknown keys are errors;
 * fields are required unless wrapped in {@linkcode optional} or
 * {@linkcode withDefault}.
 *
 * @example
 * ```ts
 * import { integer, object, optional, parseConfig, string } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const schema = object({ pidFile: optional(string()), maxConns: integer() });
 * assert.deepEqual(parseConfig("max_conns: 10", schema), { maxConns: 10 });
 * ```
 */
export function object<const F extends Fields>(
  fields: F,
  options: ObjectOptions<InferFields<F>> = {},
): ObjectSchema<F> {
  return { kind: "object", fields, keys: options.keys ?? "snake_case", ...common(options) };
}

/**
 * A schema accepting a value that matches any one of `alternatives`, tried
 * in order: the first that the value matches gives the result. The parsed
 * type is the union of theirs.
 *
 * When none matches, the error depends on the value's kind (string, number,
 * `true`/`false`, list or map):
 * - no alternative takes that kind: `expected <description>, found <value>`
 *   at the value, where the description is `options.description` or the
 *   alternatives' own joined with "or";
 * - one alternative takes it: that alternative's errors, so a mistake deep
 *   inside a map is named where it is (`servers[1].weight: …`);
 * - several take it: for a list or a map, the errors of the alternative
 *   with the fewest; for a scalar, the first form (none of them is likelier
 *   meant than another).
 *
 * @throws {TypeError} when `alternatives` is empty.
 *
 * @example An address string or a map with an address
 * ```ts
 * import { integer, object, parseConfig, string, union, withDefault } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const server = union([
 *   string(),
 *   object({ address: string(), weight: withDefault(integer({ min: 1 }), 1) }),
 * ], { description: "an address or a map" });
 * assert.equal(parseConfig("10.0.0.1:80", server), "10.0.0.1:80");
 * assert.deepEqual(parseConfig("address: 10.0.0.2:80", server), { address: "10.0.0.2:80", weight: 1 });
 * assert.throws(
 *   () => parseConfig("[10.0.0.1:80]", server, { file: "s.yaml" }),
 *   { message: "s.yaml:1:1: expected an address or a map, found a list" },
 * );
 * assert.throws(
 *   () => parseConfig("address: 10.0.0.2:80\nweight: 0", server, { file: "s.yaml" }),
 *   { message: "s.yaml:2:9: weight: expected integer ≥ 1, found 0" },
 * );
 * ```
 */
export function union<const A extends readonly Schema[]>(
  alternatives: A,
  options: SchemaOptions<Infer<A[number]>> = {},
): UnionSchema<A> {
  if (alternatives.length === 0) {
    throw new TypeError("Cannot create a union: it has no alternatives");
  }
  return { kind: "union", alternatives, ...common(options) };
}

/**
 * A schema accepting any value, returned as plain JavaScript data (maps as
 * objects, lists as arrays, aliases followed) without any check but
 * `options.check`: for free-form data such as user labels, as in
 * `mapOf(anything())`.
 *
 * A node that aliases repeat is converted once per document: every alias of
 * it gives the same object (`a: &m {x: 1}` and `b: *m` read as two
 * references to one object, not two copies), so do not modify the result
 * in place when the document may share it.
 *
 * @example Free-form metadata
 * ```ts
 * import { anything, mapOf, object, parseConfig, string } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const schema = object({ name: string(), labels: mapOf(anything()) });
 * assert.deepEqual(
 *   parseConfig("name: a\nlabels: { zone: b, rack: 7, tags: [x, y] }", schema),
 *   { name: "a", labels: { zone: "b", rack: 7, tags: ["x", "y"] } },
 * );
 * ```
 */
export function anything(options: SchemaOptions<unknown> = {}): AnythingSchema {
  return { kind: "any", ...common(options) };
}

/**
 * Lets an object field be written with an empty value (`weight:` or
 * `weight: ~`) that reads as if the key were absent: the field's
 * {@linkcode withDefault} value applies, or an {@linkcode optional} field
 * stays absent (a required field is then missing). Without it an empty
 * value is checked like any other, and only {@linkcode anything} accepts it.
 *
 * @example
 * ```ts
 * import { integer, object, orEmpty, parseConfig, withDefault } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const schema = object({ weight: withDefault(orEmpty(integer({ min: 1 })), 1) });
 * assert.deepEqual(parseConfig("weight:", schema), { weight: 1 });
 * assert.deepEqual(parseConfig("weight: 3", schema), { weight: 3 });
 * ```
 */
export function orEmpty<S extends Schema>(schema: S): S & { readonly emptyIsAbsent: true } {
  return { ...schema, emptyIsAbsent: true };
}

/**
 * Marks a field as optional: absent in YAML means absent in the result.
 *
 * @example
 * ```ts
 * import { object, optional, parseConfig, string } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseConfig("{}", object({ name: optional(string()) })), {});
 * ```
 */
export function optional<S extends Schema>(schema: S): S & { readonly optional: true } {
  return { ...schema, optional: true };
}

/**
 * Gives a field a default used when the key is absent.
 *
 * @example
 * ```ts
 * import { integer, object, parseConfig, withDefault } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const schema = object({ poolSize: withDefault(integer({ min: 0 }), 128) });
 * assert.deepEqual(parseConfig("", schema), { poolSize: 128 });
 * ```
 */
export function withDefault<S extends Schema>(
  schema: S,
  value: Infer<S>,
): S & { readonly default: Infer<S> } {
  return { ...schema, default: value };
}

/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** The file name as given (or `"<config>"`). */
  readonly file: string;
  /** The key path inside the document, for example `upstreams[2].weight`; `""` for the root. */
  readonly path: string;
  /** 1-based line, when known. */
  readonly line?: number;
  /** 1-based column, when known. */
  readonly column?: number;
  /** What is wrong, for example `expected integer ≥ 1, found "heavy"`. */
  readonly message: string;
}

/** Formats one issue as `file:line:column: path: message`. */
function formatIssue(issue: ConfigIssue): string {
  let where = issue.file;
  if (issue.line !== undefined) where += `:${issue.line}`;
  if (issue.column !== undefined) where += `:${issue.column}`;
  return issue.path === ""
    ? `${where}: ${issue.message}`
    : `${where}: ${issue.path}: ${issue.message}`;
}

/**
 * A configuration file that cannot be used. The message has one line per
 * issue (`file:line:column: path: message`); {@linkcode ConfigError.issues}
 * has them as data.
 *
 * @example
 * ```ts
 * import { ConfigError, integer, object, parseConfig } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * try {
 *   parseConfig("a: x\nb: y\n", object({ a: integer(), b: integer() }), { file: "app.yaml" });
 *   assert.fail("must throw");
 * } catch (err) {
 *   assert.ok(err instanceof ConfigError);
 *   assert.equal(err.issues.length, 2);
 *   assert.equal(err.issues[1]?.line, 2);
 * }
 * ```
 */
export class ConfigError extends Error {
  /** Every problem found, in document order. */
  readonly issues: readonly ConfigIssue[];

  /** Creates an error from one or more issues. */
  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions) {
    super(issues.map(formatIssue).join("\n"), options);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** Options of {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /**
   * The file name used in error messages.
   * @default {"<config>"}
   */
  file?: string;
  /**
   * How many values the document's aliases may stand for in all. Each alias
   * counts every value of the node it repeats, as if that node were written
   * out in its place: 1 for a scalar (plus 1 per 64 characters of a
   * string), and for a map or list 1 plus its keys and values (aliases in it
   * counted the same way). A document over the
   * limit is refused, with the error at the alias that crosses it, before
   * anything is validated. `5000` entries each with `metadata: *m`, where
   * `m` is a map of 5 keys (11 values), count 55 000.
   * @default {1000000}
   */
  maxAliasedValues?: number;
  /**
   * The limit of YAML's own `maxAliasCount`, for aliases of a node that
   * itself holds aliases (the nesting that makes an alias bomb grow
   * exponentially): such a node's uses (its anchor and every alias of it)
   * times the aliases it holds, weighted by their own uses as YAML weighs
   * them, may not exceed it. Aliases of a node without aliases in it are
   * bounded by {@linkcode ParseConfigOptions.maxAliasedValues} only.
   * @default {100}
   */
  maxAliasCount?: number;
}

/** The default of {@linkcode ParseConfigOptions.maxAliasedValues}. */
const MAX_ALIASED_VALUES = 1_000_000;
/** The default of {@linkcode ParseConfigOptions.maxAliasCount} (YAML's own default). */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses YAML text and validates it against a schema. An empty document is
 * read as an empty map, so an object schema whose fields all have defaults
 * accepts an empty file.
 *
 * Aliases are resolved in one pass over the document, which also enforces
 * the limits of {@linkcode ParseConfigOptions.maxAliasedValues} and
 * {@linkcode ParseConfigOptions.maxAliasCount}, and refuses an alias inside
 * the node it repeats (an endless value).
 *
 * @throws {ConfigError} listing every syntax and schema problem, or the one
 * alias that goes over a limit.
 *
 * @example
 * ```ts
 * import { object, parseConfig, string } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseConfig("name: edge", object({ name: string() })), { name: "edge" });
 * assert.throws(
 *   () => parseConfig("name: edge\nnmae: x", object({ name: string() }), { file: "a.yaml" }),
 *   { message: 'a.yaml:2:1: nmae: unknown key (did you mean "name"?)' },
 * );
 * ```
 */
export function parseConfig<S extends Schema>(
  text: string,
  schema: S,
  options: ParseConfigOptions = {},
): Infer<S> {
  const file = options.file ?? "<config>";
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const ctx: Ctx = {
    file,
    doc,
    lineCounter,
    issues: [],
    aliases: new Map(),
    shared: new Map(),
    yamlConversions: { n: 0 },
  };
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const pos = lineCounter.linePos(err.pos[0]);
      ctx.issues.push({
        file,
        path: "",
        line: pos.line,
        column: pos.col,
        message: `invalid YAML: ${firstLine(err.message)}`,
      });
    }
    throw new ConfigError(ctx.issues);
  }
  const root = doc.contents as YamlNode | null;
  scanAliases(root, ctx, {
    maxAliasedValues: options.maxAliasedValues ?? MAX_ALIASED_VALUES,
    maxAliasCount: options.maxAliasCount ?? MAX_ALIAS_COUNT,
  });
  if (ctx.issues.length > 0) throw new ConfigError(ctx.issues);
  const value = root === null && schema.kind === "object"
    ? validateObject(emptyMap(), schema as unknown as ObjectSchema, "", ctx, null)
    : validate(root, schema, "", ctx);
  if (ctx.issues.length > 0) {
    const order = (i: ConfigIssue) => (i.line ?? 0) * 1e6 + (i.column ?? 0);
    const sorted = ctx.issues.toSorted((a, b) => order(a) - order(b));
    if (sorted.length > MAX_ISSUES) {
      // The first ones say what is wrong; thousands would only make a huge message.
      const last = sorted[MAX_ISSUES - 1]!;
      sorted.splice(MAX_ISSUES, Infinity, {
        ...last,
        path: "",
        message: `and ${ctx.issues.length - MAX_ISSUES} more problems after this line`,
      });
    }
    throw new ConfigError(sorted);
  }
  return value as Infer<S>;
}

/**
 * Reads a YAML file and validates it against a schema (see
 * {@linkcode parseConfig}). A file that cannot be read is reported as a
 * {@linkcode ConfigError} too.
 *
 * @example
 * ```ts
 * import { integer, loadConfig, object } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(path, "workers: 2\n");
 * assert.deepEqual(await loadConfig(path, object({ workers: integer() })), { workers: 2 });
 * await Deno.remove(path);
 * ```
 */
export async function loadConfig<S extends Schema>(path: string, schema: S): Promise<Infer<S>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError([{ file: path, path: "", message: `cannot read the file: ${why}` }], {
      cause: err,
    });
  }
  return parseConfig(text, schema, { file: path });
}

/**
 * Turns a TypeScript field name into its YAML key: `gracePeriodSeconds` →
 * `grace_period_seconds`.
 *
 * @example
 * ```ts
 * import { snakeCase } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.equal(snakeCase("upstreamKeepalivePoolSize"), "upstream_keepalive_pool_size");
 * ```
 */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * The "expected …" text of a schema, as used in error messages.
 *
 * @example
 * ```ts
 * import { describeSchema, integer } from "@cirque/core/config";
 * import assert from "node:assert/strict";
 *
 * assert.equal(describeSchema(integer({ min: 1, max: 65535 })), "integer from 1 to 65535");
 * ```
 */
export function describeSchema(schema: Schema): string {
  if (schema.description !== undefined) return schema.description;
  const s = schema as AnySchema;
  switch (s.kind) {
    case "string":
      if (s.pattern !== undefined) return `string matching ${s.pattern}`;
      if (s.minLength !== undefined && s.minLength > 0) {
        return s.minLength === 1 ? "non-empty string" : `string of ≥ ${s.minLength} characters`;
      }
      return "string";
    case "number": {
      const what = s.integer ? "integer" : "number";
      if (s.min !== undefined && s.max !== undefined) {
        return s.min === s.max ? `${what} ${s.min}` : `${what} from ${s.min} to ${s.max}`;
      }
      if (s.min !== undefined) return `${what} ≥ ${s.min}`;
      if (s.max !== undefined) return `${what} ≤ ${s.max}`;
      return what;
    }
    case "boolean":
      return "true or false";
    case "enum":
      return `one of ${s.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "array":
      return s.minItems !== undefined && s.minItems > 0
        ? `a list of ≥ ${s.minItems} items`
        : "a list";
    case "map":
    case "object":
      return "a map";
    case "union": {
      const each = s.alternatives.map(describeSchema);
      return each.length < 3
        ? each.join(" or ")
        : `${each.slice(0, -1).join(", ")} or ${each.at(-1)}`;
    }
    case "any":
      return "any value";
  }
}

// ---------------------------------------------------------------------------
// Validation

type AnySchema =
  | StringSchema
  | NumberSchema
  | BooleanSchema
  | EnumSchema
  | ArraySchema
  | MapSchema
  | ObjectSchema
  | UnionSchema
  | AnythingSchema;

interface Ctx {
  file: string;
  doc: Document;
  lineCounter: LineCounter;
  issues: ConfigIssue[];
  /** Every alias of the document and the node it repeats (see {@linkcode scanAliases}). */
  aliases: Map<Alias, YamlNode>;
  /** The {@linkcode plain} value of each anchored node converted so far, shared by its aliases. */
  shared: Map<YamlNode, unknown>;
  /** Nodes {@linkcode plain} left to yaml so far (see `MAX_YAML_CONVERSIONS`; shared by union trials). */
  yamlConversions: { n: number };
}

/** A parent map location for missing keys. */
type Loc = YamlNode | null;

function emptyMap(): YamlNode {
  return parseDocument("{}").contents as YamlNode;
}

function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return i === -1 ? s : s.slice(0, i);
}

function report(ctx: Ctx, node: Loc, path: string, message: string): void {
  const issue: { -readonly [K in keyof ConfigIssue]: ConfigIssue[K] } = {
    file: ctx.file,
    path,
    // A check may quote the value it refused: a long one would make a huge error.
    message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
  };
  const offset = node?.range?.[0];
  if (offset !== undefined) {
    const pos = ctx.lineCounter.linePos(offset);
    issue.line = pos.line;
    issue.column = pos.col;
  } else {
    issue.line = 1;
    issue.column = 1;
  }
  ctx.issues.push(issue);
}

/** Longest message of one issue; longer ones are cut. */
const MAX_MESSAGE = 1000;
/** Issues a {@linkcode ConfigError} lists at most; one more says how many were left out. */
const MAX_ISSUES = 100;

/** The node an alias repeats (`null` when no anchor of its name comes before it); other nodes as they are. */
function resolve(node: YamlNode | null, ctx: Ctx): YamlNode | null {
  return isAlias(node) ? ctx.aliases.get(node) ?? null : node;
}

/** The name of the anchor on a node, if it has one. */
function anchorOf(node: unknown): string | undefined {
  return (isScalar(node) || isCollection(node)) && node.anchor ? node.anchor : undefined;
}

/**
 * One pass over the document, in YAML's order (a node before its children, a key before its
 * value): records in `ctx.aliases` the node each alias repeats (the last node anchored with its
 * name before it, as `Alias.resolve` finds it, which walks the whole document for every alias)
 * and reports the first alias that goes over a limit:
 * - `maxAliasedValues`: the values all aliases stand for, each counting the size of the node it
 *   repeats as if written out (a node's size is known once its subtree has been walked);
 * - `maxAliasCount`: for a node that holds aliases, YAML's own count (its uses times the
 *   `getAliasCount` of yaml's `Alias.resolve`, computed at its first alias as YAML does);
 * - an alias inside the node it repeats.
 */
function scanAliases(
  root: YamlNode | null,
  ctx: Ctx,
  limits: { maxAliasedValues: number; maxAliasCount: number },
): void {
  const anchors = new Map<string, YamlNode>();
  const size = new Map<YamlNode, number>();
  const open = new Set<YamlNode>();
  const nesting = new Set<YamlNode>(); // anchored nodes that hold aliases
  const uses = new Map<YamlNode, number>(); // the anchor itself and each alias so far
  const yamlCount = new Map<YamlNode, number>(); // YAML's aliasCount, fixed at the first alias
  let seenAliases = 0;
  let total = 0;
  let failed = false;
  const fail = (node: YamlNode, path: string, message: string) => {
    report(ctx, node, path, `cannot read the value: ${message}`);
    failed = true;
  };
  // yaml's getAliasCount: the largest of an alias's `uses × aliasCount` in a node, 1 for a scalar.
  const aliasCount = (node: unknown): number => {
    if (isAlias(node)) {
      const target = ctx.aliases.get(node);
      return target === undefined ? 0 : (uses.get(target) ?? 0) * (yamlCount.get(target) ?? 0);
    }
    if (isPair(node)) return Math.max(aliasCount(node.key), aliasCount(node.value));
    if (isCollection(node)) {
      let most = 0;
      for (const item of node.items) most = Math.max(most, aliasCount(item));
      return most;
    }
    return 1;
  };
  const walk = (node: unknown, path: string): number => {
    if (failed || node === null || node === undefined) return 0;
    if (isAlias(node)) {
      seenAliases++;
      const target = anchors.get(node.source);
      if (target === undefined) return 0; // read as nothing where it is used
      ctx.aliases.set(node, target);
      if (open.has(target)) {
        fail(node, path, `alias *${node.source} is inside the node it repeats (an endless value)`);
        return 0;
      }
      const count = (uses.get(target) ?? 1) + 1;
      uses.set(target, count);
      if (!yamlCount.has(target)) yamlCount.set(target, aliasCount(target));
      const weight = count * (yamlCount.get(target) ?? 0);
      if (nesting.has(target) && weight > limits.maxAliasCount) {
        fail(
          node,
          path,
          `too many uses of *${node.source}, a node that holds aliases: ${count} uses weigh ` +
            `${weight} aliases, more than the limit of ${limits.maxAliasCount} ` +
            `(YAML's maxAliasCount)`,
        );
        return 0;
      }
      const values = size.get(target) ?? 0;
      total += values;
      if (total > limits.maxAliasedValues) {
        fail(
          node,
          path,
          `with alias *${node.source} (${values} value${values === 1 ? "" : "s"}) the ` +
            `document's aliases stand for ${total} values, more than the limit of ` +
            `${limits.maxAliasedValues}`,
        );
        return 0;
      }
      return values;
    }
    const anchor = anchorOf(node);
    const aliasesBefore = seenAliases;
    if (anchor !== undefined) {
      anchors.set(anchor, node as YamlNode);
      open.add(node as YamlNode);
      uses.set(node as YamlNode, 1);
    }
    // A long string counts as the values its length could hold: one per 64 characters.
    const v = isScalar(node) ? node.value : null;
    let values = typeof v === "string" ? 1 + Math.floor(v.length / 64) : 1;
    if (isCollection(node)) {
      const list = isSeq(node);
      node.items.forEach((item, i) => {
        if (isPair(item)) {
          values += walk(item.key, path);
          const key = resolve(item.key as YamlNode | null, ctx);
          const name = isScalar(key) ? String(key.value) : "?";
          values += walk(item.value, childPath(path, name));
        } else {
          values += walk(item, list ? `${path}[${i}]` : path);
        }
      });
    }
    if (anchor !== undefined) {
      open.delete(node as YamlNode);
      size.set(node as YamlNode, values);
      if (seenAliases > aliasesBefore) nesting.add(node as YamlNode);
    }
    return values;
  };
  walk(root, "");
}

/** Whether {@linkcode plain} converts a map's pair itself: a key that reads as a string, not `<<`. */
function plainKey(pair: unknown, ctx: Ctx): boolean {
  if (!isPair(pair)) return false;
  if (pair.key === null) return true;
  const key = resolve(pair.key as YamlNode, ctx);
  if (!isScalar(key)) return false;
  const v = key.value;
  // In YAML 1.2 (yaml's default) an untagged `<<` is a plain key; a `!!merge` one, or any `<<` of
  // a YAML 1.1 document, is left to yaml's merge.
  return v === null || typeof v === "number" || typeof v === "boolean" ||
    (typeof v === "string" &&
      (v !== "<<" || (key.tag === undefined && ctx.doc.directives?.yaml.version !== "1.1")));
}

/**
 * A node as plain JavaScript data, as yaml's `node.toJS(doc)` gives it, except that a node
 * repeated by aliases is converted once and shared (`ctx.shared`). Plain maps (with scalar keys)
 * and lists are converted here; anything else (a map with a collection key or a `!!merge` key,
 * a `!!set`, an `!!omap`) is left to yaml.
 */
function plain(node: YamlNode, ctx: Ctx): unknown {
  if (isAlias(node)) {
    const target = ctx.aliases.get(node);
    if (target === undefined) {
      throw new ReferenceError(
        `Unresolved alias (the anchor must be set before the alias): ${node.source}`,
      );
    }
    return plain(target, ctx);
  }
  if (isScalar(node)) return node.value;
  const anchored = anchorOf(node) !== undefined;
  if (anchored && ctx.shared.has(node)) return ctx.shared.get(node);
  const proto = Object.getPrototypeOf(node);
  if (proto === YAMLSeq.prototype && isSeq(node) && !node.items.some((i) => isPair(i))) {
    const list: unknown[] = [];
    if (anchored) ctx.shared.set(node, list);
    for (const item of node.items) {
      list.push(item === null || item === undefined ? null : plain(item as YamlNode, ctx));
    }
    return list;
  }
  if (proto === YAMLMap.prototype && isMap(node) && node.items.every((p) => plainKey(p, ctx))) {
    const map: Record<string, unknown> = {};
    if (anchored) ctx.shared.set(node, map);
    for (const pair of node.items) {
      const key = pair.key === null
        ? null
        : (resolve(pair.key as YamlNode, ctx) as { value: unknown });
      const name = key === null || key.value === null ? "" : String(key.value);
      const value = pair.value === null || pair.value === undefined
        ? null
        : plain(pair.value as YamlNode, ctx);
      // As yaml does: a key the object already has (from its prototype too) becomes its own.
      if (name in map) {
        Object.defineProperty(map, name, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else {
        map[name] = value;
      }
    }
    return map;
  }
  // yaml walks the whole document for each alias in what it converts: a budget keeps that linear.
  const n = ++ctx.yamlConversions.n;
  // Reported once; the document has failed, so later values no longer matter.
  if (n > MAX_YAML_CONVERSIONS + 1) return null;
  if (n > MAX_YAML_CONVERSIONS) {
    throw new RangeError(
      `more than ${MAX_YAML_CONVERSIONS} maps with a merge key or a list or map as a key`,
    );
  }
  const value = node.toJS(ctx.doc);
  if (anchored) ctx.shared.set(node, value);
  return value;
}

/** Nodes {@linkcode plain} may hand to yaml's own conversion per document. */
const MAX_YAML_CONVERSIONS = 100;

function found(node: YamlNode | null): string {
  if (node === null) return "nothing";
  if (isMap(node)) return "a map";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "an empty value";
    if (typeof v === "string") {
      return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
    }
    if (typeof v === "number" || typeof v === "bigint") {
      return typeof node.source === "string" ? node.source : String(v);
    }
    return String(v);
  }
  return "an unsupported value";
}

function childPath(parent: string, key: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key);
  if (plain) return parent === "" ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

function runCheck(schema: Schema, value: unknown, node: Loc, path: string, ctx: Ctx): void {
  if (schema.check === undefined) return;
  const problem = schema.check(value);
  if (problem !== undefined) report(ctx, node, path, problem);
}

function mismatch(schema: Schema, node: YamlNode | null, path: string, ctx: Ctx): undefined {
  report(ctx, node, path, `expected ${describeSchema(schema)}, found ${found(node)}`);
  return undefined;
}

function validate(raw: YamlNode | null, schema: Schema, path: string, ctx: Ctx): unknown {
  const node = resolve(raw, ctx);
  const s = schema as AnySchema;
  switch (s.kind) {
    case "string": {
      if (!isScalar(node) || typeof node.value !== "string") return mismatch(s, node, path, ctx);
      const v = node.value;
      if (
        (s.pattern !== undefined && !s.pattern.test(v)) ||
        (s.minLength !== undefined && v.length < s.minLength)
      ) {
        return mismatch(s, node, path, ctx);
      }
      runCheck(s, v, node, path, ctx);
      return v;
    }
    case "number": {
      if (!isScalar(node) || typeof node.value !== "number" || !Number.isFinite(node.value)) {
        return mismatch(s, node, path, ctx);
      }
      const v = node.value;
      if (
        (s.integer && !Number.isSafeInteger(v)) ||
        (s.min !== undefined && v < s.min) ||
        (s.max !== undefined && v > s.max)
      ) {
        return mismatch(s, node, path, ctx);
      }
      runCheck(s, v, node, path, ctx);
      return v;
    }
    case "boolean": {
      if (!isScalar(node) || typeof node.value !== "boolean") return mismatch(s, node, path, ctx);
      runCheck(s, node.value, node, path, ctx);
      return node.value;
    }
    case "enum": {
      if (
        !isScalar(node) || typeof node.value !== "string" ||
        !s.values.includes(node.value)
      ) {
        return mismatch(s, node, path, ctx);
      }
      runCheck(s, node.value, node, path, ctx);
      return node.value;
    }
    case "array": {
      if (!isSeq(node)) return mismatch(s, node, path, ctx);
      if (s.minItems !== undefined && node.items.length < s.minItems) {
        return mismatch(s, node, path, ctx);
      }
      const before = ctx.issues.length;
      const out = node.items.map((item, i) =>
        validate(item as YamlNode | null, s.items, `${path}[${i}]`, ctx)
      );
      if (ctx.issues.length === before) runCheck(s, out, node, path, ctx);
      return out;
    }
    case "map": {
      if (!isMap(node)) return mismatch(s, node, path, ctx);
      const before = ctx.issues.length;
      const entries: [string, unknown][] = [];
      const keys = new Map<string, YamlNode>();
      for (const pair of node.items) {
        const key = keyOf(pair, path, ctx);
        if (key === undefined) continue;
        if (duplicate(keys, key, path, ctx)) continue;
        entries.push([
          key.name,
          validate(pair.value as YamlNode | null, s.values, childPath(path, key.name), ctx),
        ]);
      }
      const out = Object.fromEntries(entries);
      if (ctx.issues.length === before) runCheck(s, out, node, path, ctx);
      return out;
    }
    case "object": {
      if (!isMap(node)) return mismatch(s, node, path, ctx);
      return validateObject(node, s, path, ctx, node);
    }
    case "union":
      return validateUnion(node, s, path, ctx);
    case "any": {
      let v: unknown = null;
      try {
        if (node !== null) v = plain(node, ctx);
      } catch (err) {
        report(ctx, node, path, `cannot read the value: ${(err as Error).message}`);
        return undefined;
      }
      runCheck(s, v, node, path, ctx);
      return v;
    }
  }
}

/** Whether a (resolved) node is of a kind `schema` takes, whatever its value. */
function takes(schema: Schema, node: YamlNode | null): boolean {
  const s = schema as AnySchema;
  switch (s.kind) {
    case "string":
    case "enum":
      return isScalar(node) && typeof node.value === "string";
    case "number":
      return isScalar(node) && typeof node.value === "number";
    case "boolean":
      return isScalar(node) && typeof node.value === "boolean";
    case "array":
      return isSeq(node);
    case "map":
    case "object":
      return isMap(node);
    case "union":
      return s.alternatives.some((a) => takes(a, node));
    case "any":
      return true;
  }
}

function validateUnion(node: YamlNode | null, s: UnionSchema, path: string, ctx: Ctx): unknown {
  let closest: ConfigIssue[] | undefined;
  let taking = 0;
  for (const alternative of s.alternatives) {
    if (!takes(alternative, node)) continue;
    taking++;
    const trial: Ctx = { ...ctx, issues: [] };
    const value = validate(node, alternative, path, trial);
    if (trial.issues.length === 0) {
      runCheck(s, value, node, path, ctx);
      return value;
    }
    if (closest === undefined || trial.issues.length < closest.length) closest = trial.issues;
  }
  // Between several alternatives for one scalar, none is likelier meant than another.
  if (closest === undefined || (taking > 1 && !isMap(node) && !isSeq(node))) {
    return mismatch(s, node, path, ctx);
  }
  ctx.issues.push(...closest);
  return undefined;
}

function isEmpty(node: YamlNode | null): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

function keyOf(
  pair: unknown,
  path: string,
  ctx: Ctx,
): { name: string; node: YamlNode } | undefined {
  if (!isPair(pair)) return undefined;
  const keyNode = resolve(pair.key as YamlNode | null, ctx);
  if (
    isScalar(keyNode) && (typeof keyNode.value === "string" || typeof keyNode.value === "number")
  ) {
    return { name: String(keyNode.value), node: keyNode };
  }
  report(ctx, keyNode, path, `expected a string key, found ${found(keyNode)}`);
  return undefined;
}

/**
 * Reports a key that reads the same as an earlier one of its map once taken as a string
 * (`1` and `"1"`: YAML itself only refuses keys of equal value and type).
 */
function duplicate(
  keys: Map<string, YamlNode>,
  key: { name: string; node: YamlNode },
  path: string,
  ctx: Ctx,
): boolean {
  const first = keys.get(key.name);
  if (first === undefined) {
    keys.set(key.name, key.node);
    return false;
  }
  const offset = first.range?.[0];
  const where = offset === undefined ? "" : ` on line ${ctx.lineCounter.linePos(offset).line}`;
  report(
    ctx,
    key.node,
    childPath(path, key.name),
    `duplicate key: ${found(key.node)} is the same key as ${found(first)}${where}`,
  );
  return true;
}

function validateObject(
  node: YamlNode,
  schema: ObjectSchema,
  path: string,
  ctx: Ctx,
  loc: Loc,
): unknown {
  const byYamlKey = new Map<string, string>();
  for (const name of Object.keys(schema.fields)) {
    byYamlKey.set(schema.keys === "snake_case" ? snakeCase(name) : name, name);
  }
  const seen = new Map<string, YamlNode | null>();
  const before = ctx.issues.length;
  if (isMap(node)) {
    const keys = new Map<string, YamlNode>();
    for (const pair of node.items) {
      const key = keyOf(pair, path, ctx);
      if (key === undefined) continue;
      if (duplicate(keys, key, path, ctx)) continue;
      const name = byYamlKey.get(key.name);
      if (name === undefined) {
        const hint = nearest(key.name, [...byYamlKey.keys()]);
        report(
          ctx,
          key.node,
          childPath(path, key.name),
          hint === undefined
            ? `unknown key (expected one of: ${[...byYamlKey.keys()].join(", ")})`
            : `unknown key (did you mean "${hint}"?)`,
        );
        continue;
      }
      const value = resolve((isPair(pair) ? pair.value : null) as YamlNode | null, ctx);
      if (schema.fields[name]?.emptyIsAbsent === true && isEmpty(value)) continue;
      seen.set(name, value);
    }
  }
  const entries: [string, unknown][] = [];
  for (const [yamlKey, name] of byYamlKey) {
    const field = schema.fields[name] as Schema;
    const keyPath = childPath(path, yamlKey);
    if (seen.has(name)) {
      entries.push([name, validate(seen.get(name) ?? null, field, keyPath, ctx)]);
    } else if (field.default !== undefined) {
      entries.push([name, structuredClone(field.default)]);
    } else if (field.optional !== true) {
      report(ctx, loc, path, `missing required key "${yamlKey}" (${describeSchema(field)})`);
    }
  }
  const out = Object.fromEntries(entries);
  if (ctx.issues.length === before) runCheck(schema, out, loc, path, ctx);
  return out;
}

/** The closest candidate within a small edit distance, if any. */
function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
