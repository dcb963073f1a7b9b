/**
 * `ServerConf`: the server's own settings, read from YAML.
 *
 * Keys follow Pingora's `ServerConf` where they mean something on Deno:
 *
 * | YAML key | TypeScript | type | default | meaning |
 * |---|---|---|---|---|
 * | `version` | `version` | integer, must be 1 | `1` | format version |
 * | `daemon` | `daemon` | boolean | `false` | `true` is an error: Deno cannot fork; run under systemd or another supervisor |
 * | `workers` | `workers` | integer, must be 1 | `1` | reserved for multi-process workers sharing ports with `reusePort` (Pingora's `threads`); only 1 is accepted today |
 * | `pid_file` | `pidFile` | string | none | write the process id there while running; removed on exit |
 * | `error_log` | `errorLog` | string | none (stderr) | append the server's log lines to this file |
 * | `grace_period_seconds` | `gracePeriodSeconds` | number from 0 to 2147483 (a timer’s limit, about 24.8 days) | `30` | after SIGTERM, how long in-flight work may run before it is cut |
 * | `graceful_shutdown_timeout_seconds` | `gracefulShutdownTimeoutSeconds` | number from 0 to 2147483 | `5` | after the cut, how long to wait for services to return before giving up (exit 1) |
 * | `upstream_keepalive_pool_size` | `upstreamKeepalivePoolSize` | integer ≥ 0 | `128` | idle upstream connections kept, handed to the connection pool by the application |
 *
 * Pingora keys deliberately absent (an error if present): `upgrade_sock`
 * (no fd passing on Deno; restarts use `reusePort`), `user`, `group`,
 * `working_directory` (no daemonizing), `threads` (see `workers`),
 * `listener_tasks_per_fd`, `work_stealing`, `max_blocking_threads`,
 * `blocking_threads_ttl_seconds`, `upstream_connect_offload_*` (tokio
 * runtime knobs), `ca_file`, `upstream_debug_ssl_keylog`,
 * `s2n_config_cache_size` (TLS settings live with peers and `@cirque/tls`),
 * `client_bind_to_ipv4`/`_ipv6`, `max_retries` (proxy settings),
 * `daemon_wait_for_ready`, `daemon_ready_timeout_seconds`,
 * `daemon_notify_timeout_seconds`.
 *
 * @example Load the settings, with defaults for absent keys
 * ```ts
 * import { parseServerConf } from "@cirque/core/server-conf";
 * import assert from "node:assert/strict";
 *
 * const conf = parseServerConf("grace_period_seconds: 10\n", "cirque.yaml");
 * assert.equal(conf.gracePeriodSeconds, 10);
 * assert.equal(conf.upstreamKeepalivePoolSize, 128);
 * ```
 *
 * @module
 */
import {
  boolean,
  type Infer,
  integer,
  loadConfig,
  MAX_TIMER_MS,
  number,
  object,
  type ObjectSchema,
  optional,
  parseConfig,
  type Schema,
  string,
  withDefault,
} from "./config.ts";

// The longest grace a timer can wait, in whole seconds (a longer one would cut at once).
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/** The server's settings (see the module documentation for each key). */
export interface ServerConf {
  /** Format version; always 1. */
  version: number;
  /** Always `false`: Deno cannot daemonize. */
  daemon: boolean;
  /** Number of worker processes; reserved, always 1. */
  workers: number;
  /** Where to write the process id while running. */
  pidFile?: string;
  /** File the server appends its log lines to (default: stderr). */
  errorLog?: string;
  /** Seconds in-flight work may run after SIGTERM before it is cut. */
  gracePeriodSeconds: number;
  /** Seconds to wait, after the cut, for services to return. */
  gracefulShutdownTimeoutSeconds: number;
  /** Idle upstream connections kept by the pool. */
  upstreamKeepalivePoolSize: number;
}

/** The field schemas of {@linkcode ServerConf}, to embed in a larger config schema. */
export type ServerConfFields = {
  /** `version` */
  readonly version: Schema<number> & { readonly default: number };
  /** `daemon` */
  readonly daemon: Schema<boolean> & { readonly default: boolean };
  /** `workers` */
  readonly workers: Schema<number> & { readonly default: number };
  /** `pid_file` */
  readonly pidFile: Schema<string> & { readonly optional: true };
  /** `error_log` */
  readonly errorLog: Schema<string> & { readonly optional: true };
  /** `grace_period_seconds` */
  readonly gracePeriodSeconds: Schema<number> & { readonly default: number };
  /** `graceful_shutdown_timeout_seconds` */
  readonly gracefulShutdownTimeoutSeconds: Schema<number> & { readonly default: number };
  /** `upstream_keepalive_pool_size` */
  readonly upstreamKeepalivePoolSize: Schema<number> & { readonly default: number };
};

/**
 * The fields of the server settings. Spread them into an application's own
 * {@linkcode object} schema to accept the server keys at its top level.
 *
 * @example One file for the server and the application
 * ```ts
 * import { object, parseConfig, string } from "@cirque/core/config";
 * import { SERVER_CONF_FIELDS } from "@cirque/core/server-conf";
 * import assert from "node:assert/strict";
 *
 * const schema = object({ ...SERVER_CONF_FIELDS, listen: string() });
 * const conf = parseConfig("listen: 127.0.0.1:8080\ngrace_period_seconds: 5\n", schema);
 * assert.equal(conf.gracePeriodSeconds, 5);
 * assert.equal(conf.listen, "127.0.0.1:8080");
 * ```
 */
export const SERVER_CONF_FIELDS: ServerConfFields = {
  version: withDefault(integer({ min: 1, max: 1 }), 1),
  daemon: withDefault(
    boolean({
      check: (on) =>
        on
          ? "expected false, found true: Deno cannot daemonize; run under systemd or another supervisor"
          : undefined,
    }),
    false,
  ),
  workers: withDefault(
    integer({ min: 1, max: 1, description: "1 (multi-process workers are reserved)" }),
    1,
  ),
  pidFile: optional(string({ minLength: 1 })),
  errorLog: optional(string({ minLength: 1 })),
  gracePeriodSeconds: withDefault(number({ min: 0, max: MAX_TIMER_SECONDS }), 30),
  gracefulShutdownTimeoutSeconds: withDefault(number({ min: 0, max: MAX_TIMER_SECONDS }), 5),
  upstreamKeepalivePoolSize: withDefault(integer({ min: 0 }), 128),
};

/**
 * The schema of a file holding only the server settings.
 *
 * @example
 * ```ts
 * import { parseConfig } from "@cirque/core/config";
 * import { SERVER_CONF_SCHEMA } from "@cirque/core/server-conf";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => parseConfig("daemon: true", SERVER_CONF_SCHEMA), /Deno cannot daemonize/);
 * ```
 */
export const SERVER_CONF_SCHEMA: ObjectSchema<ServerConfFields> = object(SERVER_CONF_FIELDS);

/**
 * The settings used when there is no file.
 *
 * @example
 * ```ts
 * import { DEFAULT_SERVER_CONF } from "@cirque/core/server-conf";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_SERVER_CONF.gracePeriodSeconds, 30);
 * ```
 */
export const DEFAULT_SERVER_CONF: Readonly<ServerConf> = Object.freeze(
  parseConfig("", SERVER_CONF_SCHEMA) satisfies ServerConf,
);

/**
 * Parses server settings from YAML text.
 *
 * @throws {import("./config.ts").ConfigError} naming the file, line and key of every problem.
 *
 * @example
 * ```ts
 * import { parseServerConf } from "@cirque/core/server-conf";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => parseServerConf("grace_period_seconds: soon\n", "cirque.yaml"),
 *   { message: 'cirque.yaml:1:23: grace_period_seconds: expected number from 0 to 2147483, found "soon"' },
 * );
 * ```
 */
export function parseServerConf(text: string, file = "<config>"): ServerConf {
  return parseConfig(text, SERVER_CONF_SCHEMA, { file }) satisfies Infer<typeof SERVER_CONF_SCHEMA>;
}

/**
 * Loads server settings from a YAML file, or returns the defaults when
 * `path` is `undefined`.
 *
 * @throws {import("./config.ts").ConfigError} when the file cannot be read or is invalid.
 *
 * @example
 * ```ts
 * import { loadServerConf } from "@cirque/core/server-conf";
 * import assert from "node:assert/strict";
 *
 * assert.equal((await loadServerConf(undefined)).gracePeriodSeconds, 30);
 * ```
 */
export async function loadServerConf(path: string | undefined): Promise<ServerConf> {
  if (path === undefined) return { ...DEFAULT_SERVER_CONF };
  return await loadConfig(path, SERVER_CONF_SCHEMA);
}
