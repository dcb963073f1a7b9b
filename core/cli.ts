/**
 * The server command line: `-c FILE`, `-t`, `--help`, and `runCli()` which
 * loads the configuration, builds the server and runs it.
 *
 * ```text
 * -c, --conf FILE   configuration file (YAML)
 * -t, --test        check the configuration and exit: 0 valid, 1 invalid
 * -h, --help        print this help and exit
 * ```
 *
 * `-d`/`--daemon` is rejected (Deno cannot fork); `-u`/`--upgrade` does not
 * exist (restarts use a successor bound with `reusePort`).
 *
 * @example A program with its own config keys next to the server's
 * ```ts
 * import { runCli } from "@cirque/core/cli";
 * import { loadConfig, object, string } from "@cirque/core/config";
 * import { SERVER_CONF_FIELDS } from "@cirque/core/server-conf";
 * import { Server } from "@cirque/core/server";
 * import assert from "node:assert/strict";
 *
 * const schema = object({ ...SERVER_CONF_FIELDS, greeting: string() });
 * const path = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(path, "greeting: hello\n");
 * const out: string[] = [];
 * const code = await runCli(["-t", "-c", path], {
 *   load: (file) => loadConfig(file ?? "app.yaml", schema),
 *   setup: (conf) => new Server({ conf }),
 * }, { stdout: (l) => out.push(l), stderr: (l) => out.push(l) });
 * assert.equal(code, 0);
 * assert.match(out[0] ?? "", /configuration is valid/);
 * await Deno.remove(path);
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError } from "./config.ts";
import { EXIT_CODES, type Server } from "./server.ts";

/** The parsed command line. */
export interface CliOptions {
  /** `-c FILE`: the configuration file, if given. */
  conf?: string;
  /** `-t`: check the configuration and exit. */
  test: boolean;
  /** `-h`/`--help`. */
  help: boolean;
  /** Values of the application's extra options (see {@linkcode ParseCliOptions.options}). */
  extra: Record<string, string | boolean | undefined>;
}

/** Declares an application-specific option (`--demo`, `--port 8080`). */
export interface ExtraOption {
  /** `"boolean"` for a flag, `"string"` for an option with a value. */
  type: "boolean" | "string";
  /** A one-letter alias. */
  short?: string;
  /** One line for `--help`. */
  help?: string;
}

/** Options of {@linkcode parseCli}. */
export interface ParseCliOptions {
  /** Extra long options the application accepts, by name. */
  options?: Record<string, ExtraOption>;
}

/**
 * The usage text.
 *
 * @example
 * ```ts
 * import { usage } from "@cirque/core/cli";
 * import assert from "node:assert/strict";
 *
 * assert.match(usage("cirque"), /-t, --test/);
 * ```
 */
export function usage(program: string, options: ParseCliOptions = {}): string {
  const lines = [
    `Usage: ${program} [-c FILE] [-t] [-h]`,
    "",
    "  -c, --conf FILE   configuration file (YAML)",
    "  -t, --test        check the configuration and exit: 0 valid, 1 invalid",
    "  -h, --help        print this help and exit",
  ];
  for (const [name, o] of Object.entries(options.options ?? {})) {
    const flag = `${o.short !== undefined ? `-${o.short}, ` : "    "}--${name}${
      o.type === "string" ? " VALUE" : ""
    }`;
    lines.push(`  ${flag.padEnd(18)}${o.help ?? ""}`);
  }
  return lines.join("\n");
}

/**
 * Parses the command line.
 *
 * @throws {TypeError} `Cannot parse arguments: …` for unknown options,
 *   missing values, positional arguments and `-d`.
 *
 * @example
 * ```ts
 * import { parseCli } from "@cirque/core/cli";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseCli(["-c", "cirque.yaml", "-t"]), {
 *   conf: "cirque.yaml",
 *   test: true,
 *   help: false,
 *   extra: {},
 * });
 * assert.throws(() => parseCli(["cirque.yaml"]), /unexpected argument "cirque.yaml"/);
 * ```
 */
export function parseCli(args: readonly string[], options: ParseCliOptions = {}): CliOptions {
  const extra = options.options ?? {};
  const spec: Record<string, { type: "boolean" | "string"; short?: string }> = {
    conf: { type: "string", short: "c" },
    test: { type: "boolean", short: "t" },
    help: { type: "boolean", short: "h" },
    daemon: { type: "boolean", short: "d" },
  };
  for (const [name, o] of Object.entries(extra)) {
    if (name in spec) throw new TypeError(`Cannot add option --${name}: it is built in`);
    spec[name] = o.short !== undefined ? { type: o.type, short: o.short } : { type: o.type };
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...args], options: spec, strict: true, allowPositionals: true });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const option = /'([^']+)'/.exec(text)?.[1];
    const code = (err as { code?: unknown }).code;
    throw new TypeError(
      code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined
        ? `Cannot parse arguments: unknown option "${option}"`
        : `Cannot parse arguments: ${text.split(". ")[0]}`,
    );
  }
  const { values, positionals } = parsed;
  if (positionals.length > 0) {
    throw new TypeError(
      `Cannot parse arguments: unexpected argument "${
        positionals[0]
      }" (give the configuration file with -c FILE)`,
    );
  }
  if (values.daemon === true) {
    throw new TypeError(
      "Cannot parse arguments: -d/--daemon is not supported: Deno cannot fork; run under systemd or another supervisor",
    );
  }
  const out: CliOptions = {
    test: values.test === true,
    help: values.help === true,
    extra: Object.fromEntries(Object.keys(extra).map((k) => [k, values[k]])),
  };
  if (typeof values.conf === "string") out.conf = values.conf;
  return out;
}

/** What {@linkcode runCli} runs. */
export interface CliApp<C> {
  /**
   * Loads and validates the configuration (`path` is the `-c` value).
   * Throw a `ConfigError` for an invalid file. Use `loadServerConf` when
   * the file holds only server settings.
   */
  load(path: string | undefined): Promise<C>;
  /**
   * Builds the server from the configuration: add services, but do not bind
   * sockets here (services bind in `start()`), so `-t` can run it too.
   * Throwing a `ConfigError` (or any error) counts as a configuration error.
   */
  setup(conf: C, cli: CliOptions): Server | Promise<Server>;
  /**
   * Program name for the usage text.
   * @default {"cirque"}
   */
  program?: string;
  /** Application options beyond `-c`, `-t`, `-h`. */
  options?: Record<string, ExtraOption>;
}

/** Where {@linkcode runCli} writes. */
export interface CliIo {
  /** One line of normal output (help, `-t` success). */
  stdout(line: string): void;
  /** One line of error output. */
  stderr(line: string): void;
}

const consoleIo: CliIo = {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
};

/**
 * Parses the command line, loads the configuration, builds the server and
 * runs it. Resolves with the exit code; the caller exits:
 * `Deno.exit(await runCli(Deno.args, app))`.
 *
 * | situation | output | code |
 * |---|---|---|
 * | `--help` | usage on stdout | 0 |
 * | bad arguments | message and usage on stderr | 2 |
 * | `-t`, valid | `FILE: configuration is valid` on stdout | 0 |
 * | `-t`, invalid | every problem on stderr | 1 |
 * | invalid, without `-t` | every problem on stderr | 2 |
 * | otherwise | whatever the server logs | `server.run()`'s code |
 *
 * @example
 * ```ts
 * import { runCli } from "@cirque/core/cli";
 * import { loadServerConf } from "@cirque/core/server-conf";
 * import { Server } from "@cirque/core/server";
 * import assert from "node:assert/strict";
 *
 * const err: string[] = [];
 * const code = await runCli(["-t", "-c", "/nonexistent/cirque.yaml"], {
 *   load: loadServerConf,
 *   setup: (conf) => new Server({ conf }),
 * }, { stdout: () => {}, stderr: (l) => err.push(l) });
 * assert.equal(code, 1);
 * assert.match(err.join("\n"), /\/nonexistent\/cirque\.yaml: cannot read the file/);
 * ```
 */
export async function runCli<C>(
  args: readonly string[],
  app: CliApp<C>,
  io: CliIo = consoleIo,
): Promise<number> {
  const program = app.program ?? "cirque";
  const extra = app.options === undefined ? {} : { options: app.options };
  let cli: CliOptions;
  try {
    cli = parseCli(args, extra);
  } catch (err) {
    io.stderr(err instanceof Error ? err.message : String(err));
    io.stderr(usage(program, extra));
    return EXIT_CODES.configError;
  }
  if (cli.help) {
    io.stdout(usage(program, extra));
    return EXIT_CODES.ok;
  }
  const invalid = cli.test ? 1 : EXIT_CODES.configError;
  let server: Server;
  try {
    const conf = await app.load(cli.conf);
    server = await app.setup(conf, cli);
  } catch (err) {
    if (err instanceof ConfigError) io.stderr(err.message);
    else io.stderr(`${cli.conf ?? "configuration"}: ${err instanceof Error ? err.message : err}`);
    if (cli.test) io.stderr(`${cli.conf ?? "configuration"}: configuration is invalid`);
    return invalid;
  }
  if (cli.test) {
    io.stdout(`${cli.conf ?? "(defaults)"}: configuration is valid`);
    return EXIT_CODES.ok;
  }
  return await server.run();
}
