/**
 * `Server`: runs {@linkcode Service}s and owns the process signals.
 *
 * | signal | method | what happens |
 * |---|---|---|
 * | SIGTERM | `shutdown("graceful")` | every service's `signal` aborts: listeners close, in-flight requests go on. When they are done the server stops; if `gracePeriodSeconds` runs out first, `deadline` aborts and in-flight work is cut |
 * | SIGINT | `shutdown("fast")` | `signal` and `deadline` abort together: in-flight work is cut at once |
 * | second SIGTERM or SIGINT while draining | `shutdown("fast")` | the drain becomes a fast stop |
 * | SIGHUP | `reload()` | calls the `onReload` hook; what a reload means is up to the application |
 *
 * SIGUSR1 is deliberately not used: Deno opens its inspector on it.
 *
 * `run()` resolves with the exit code ({@linkcode EXIT_CODES}):
 *
 * | code | name | meaning |
 * |---|---|---|
 * | 0 | `ok` | stopped gracefully: all in-flight work finished (or every service returned on its own) |
 * | 1 | `serviceFailed` | a service's `start()` rejected, the pid file could not be written, or a service did not return within `gracefulShutdownTimeoutSeconds` after the cut |
 * | 2 | `configError` | bad command line or invalid configuration; nothing was started (returned by `runCli`) |
 * | 130 | `fastStop` | fast stop: SIGINT, a second signal, or `shutdown("fast")` |
 * | 143 | `graceExpired` | graceful stop whose grace period ran out: in-flight work was cut |
 *
 * @example Run a service and stop it gracefully
 * ```ts
 * import { Server } from "@cirque/core/server";
 * import { httpService } from "@cirque/core/http-service";
 * import assert from "node:assert/strict";
 *
 * const http = httpService(() => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * const server = new Server({ handleSignals: false, log: () => {} }).add(http);
 * const exit = server.run();
 * const { port } = await http.addr;
 * assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hi");
 * server.shutdown("graceful");
 * assert.equal(await exit, 0);
 * ```
 *
 * @module
 */
import type { Service } from "./service.ts";
import { DEFAULT_SERVER_CONF, type ServerConf } from "./server_conf.ts";

/** Exit codes of {@linkcode Server.run} and `runCli`. */
export const EXIT_CODES = {
  /** Stopped gracefully; nothing was cut. */
  ok: 0,
  /** A service failed (or would not stop). */
  serviceFailed: 1,
  /** Bad command line or configuration; nothing started. */
  configError: 2,
  /** Fast stop (SIGINT, second signal, `shutdown("fast")`). */
  fastStop: 130,
  /** Graceful stop whose grace period ran out; in-flight work was cut. */
  graceExpired: 143,
} as const;

/** How to stop: `"graceful"` drains within the grace period, `"fast"` cuts at once. */
export type ShutdownKind = "graceful" | "fast";

/**
 * Where the server is in its life:
 * `idle` → `running` → `draining` → `stopping` → `stopped`
 * (`draining` is skipped on a fast stop; `stopping` means the deadline has passed).
 */
export type ServerPhase = "idle" | "running" | "draining" | "stopping" | "stopped";

/** Options of {@linkcode Server}. */
export interface ServerOptions {
  /**
   * Server settings; absent keys take their defaults.
   * @default {DEFAULT_SERVER_CONF}
   */
  conf?: Partial<ServerConf>;
  /**
   * Install SIGTERM, SIGINT and SIGHUP listeners while `run()` runs. Turn off
   * to drive the server only through {@linkcode Server.shutdown} (tests,
   * embedding).
   * @default {true}
   */
  handleSignals?: boolean;
  /**
   * Where the server's log lines go.
   * @default {appends to `conf.errorLog` if set, else writes to stderr}
   */
  log?: (line: string) => void;
  /** Called on SIGHUP or {@linkcode Server.reload}. Errors are logged, not fatal. */
  onReload?: () => void | Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Runs services until a signal (or {@linkcode Server.shutdown}) stops them;
 * see the module documentation for signals and exit codes.
 *
 * @example A failing service stops the server with exit code 1
 * ```ts
 * import { EXIT_CODES, Server } from "@cirque/core/server";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const server = new Server({ handleSignals: false, log: (l) => lines.push(l) });
 * server.add({ name: "broken", start: () => Promise.reject(new Error("cannot bind")) });
 * assert.equal(await server.run(), EXIT_CODES.serviceFailed);
 * assert.ok(lines.some((l) => l.includes("broken") && l.includes("cannot bind")));
 * ```
 */
export class Server {
  #conf: ServerConf;
  #services: Service[] = [];
  #handleSignals: boolean;
  #log: ((line: string) => void) | undefined;
  #onReload: (() => void | Promise<void>) | undefined;
  #phase: ServerPhase = "idle";
  #stop = new AbortController();
  #deadline = new AbortController();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #failed = false;
  #stuck = false;
  #cutBy: "fast" | "grace" | undefined;
  #logFile: Deno.FsFile | undefined;

  /** Creates a server; nothing runs until {@linkcode Server.run}. */
  constructor(options: ServerOptions = {}) {
    this.#conf = { ...DEFAULT_SERVER_CONF, ...options.conf };
    this.#handleSignals = options.handleSignals ?? true;
    this.#log = options.log;
    this.#onReload = options.onReload;
  }

  /** The settings in effect. */
  get conf(): Readonly<ServerConf> {
    return this.#conf;
  }

  /** Where the server is in its life. */
  get phase(): ServerPhase {
    return this.#phase;
  }

  /**
   * Adds a service; services start together when {@linkcode Server.run} is
   * called.
   *
   * @throws {Error} once the server has started.
   */
  add(service: Service): this {
    if (this.#phase !== "idle") {
      throw new Error(`Cannot add service ${service.name}: the server is ${this.#phase}`);
    }
    this.#services.push(service);
    return this;
  }

  /**
   * Starts every service and resolves with the exit code once all have
   * stopped (see {@linkcode EXIT_CODES}). Runs once.
   */
  async run(): Promise<number> {
    if (this.#phase !== "idle") throw new Error(`Cannot run: the server is ${this.#phase}`);
    this.#phase = "running";
    this.#openLog();
    const pidFile = this.#conf.pidFile;
    if (pidFile !== undefined) {
      try {
        Deno.writeTextFileSync(pidFile, `${Deno.pid}\n`);
      } catch (err) {
        this.#write(`cannot write pid_file ${pidFile}: ${message(err)}`);
        this.#phase = "stopped";
        this.#closeLog();
        return EXIT_CODES.serviceFailed;
      }
    }
    const removeSignals = this.#handleSignals ? this.#installSignals() : () => {};
    this.#write(
      `started ${this.#services.length} service(s): ${
        this.#services.map((s) => s.name).join(", ")
      }`,
    );
    try {
      const runs = this.#services.map((s) => this.#runService(s));
      await this.#waitAll(runs);
    } finally {
      clearTimeout(this.#graceTimer);
      removeSignals();
      if (pidFile !== undefined) {
        try {
          Deno.removeSync(pidFile);
        } catch { /* already gone */ }
      }
      this.#phase = "stopped";
    }
    const code = this.#failed || this.#stuck
      ? EXIT_CODES.serviceFailed
      : this.#cutBy === "fast"
      ? EXIT_CODES.fastStop
      : this.#cutBy === "grace"
      ? EXIT_CODES.graceExpired
      : EXIT_CODES.ok;
    this.#write(`stopped (exit code ${code})`);
    this.#closeLog();
    return code;
  }

  /**
   * Runs the server and exits the process with its exit code.
   *
   * @example
   * ```ts ignore
   * import { Server } from "@cirque/core/server";
   * import { httpService } from "@cirque/core/http-service";
   *
   * await new Server().add(httpService(() => new Response("hi"), { port: 8080 })).runForever();
   * ```
   */
  async runForever(): Promise<never> {
    Deno.exit(await this.run());
  }

  /**
   * Stops the server; this is what the signals call.
   *
   * - `"graceful"`: stop accepting, let in-flight work finish within
   *   `gracePeriodSeconds`, then cut it. Asked again while draining, it
   *   becomes a fast stop (the second SIGTERM).
   * - `"fast"`: cut in-flight work at once.
   *
   * Does nothing before `run()` or after the server has stopped.
   *
   * @example
   * ```ts
   * import { Server } from "@cirque/core/server";
   * import { backgroundService } from "@cirque/core/service";
   * import assert from "node:assert/strict";
   *
   * const server = new Server({ handleSignals: false, log: () => {} });
   * server.add(backgroundService("idle", (signal) =>
   *   new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }))));
   * const exit = server.run();
   * server.shutdown("fast");
   * assert.equal(await exit, 130);
   * ```
   */
  shutdown(kind: ShutdownKind = "graceful"): void {
    if (this.#phase === "running" && kind === "graceful") {
      this.#beginDrain("shutdown requested");
    } else if (this.#phase === "running" || this.#phase === "draining") {
      this.#cut("fast");
    }
  }

  /**
   * Calls the `onReload` hook (SIGHUP). Errors are logged.
   *
   * @example
   * ```ts
   * import { Server } from "@cirque/core/server";
   * import assert from "node:assert/strict";
   *
   * let reloads = 0;
   * const server = new Server({ log: () => {}, onReload: () => { reloads++; } });
   * await server.reload();
   * assert.equal(reloads, 1);
   * ```
   */
  async reload(): Promise<void> {
    if (this.#onReload === undefined) {
      this.#write("reload requested; no reload hook is set");
      return;
    }
    try {
      await this.#onReload();
      this.#write("reloaded");
    } catch (err) {
      this.#write(`reload failed: ${message(err)}`);
    }
  }

  #beginDrain(why: string): void {
    if (this.#phase !== "running") return;
    this.#phase = "draining";
    const grace = this.#conf.gracePeriodSeconds;
    this.#write(`${why}: draining (grace period ${grace} s)`);
    this.#stop.abort();
    this.#graceTimer = setTimeout(() => this.#cut("grace"), grace * 1000);
  }

  #cut(by: "fast" | "grace"): void {
    if (this.#phase !== "running" && this.#phase !== "draining") return;
    this.#phase = "stopping";
    this.#cutBy = by;
    clearTimeout(this.#graceTimer);
    this.#write(
      by === "fast"
        ? "fast stop: cutting in-flight work"
        : "grace period over: cutting in-flight work",
    );
    this.#stop.abort();
    this.#deadline.abort();
  }

  async #runService(service: Service): Promise<void> {
    try {
      await service.start(this.#stop.signal, this.#deadline.signal);
      if (!this.#stop.signal.aborted) this.#write(`service ${service.name} returned`);
    } catch (err) {
      this.#failed = true;
      this.#write(`service ${service.name} failed: ${message(err)}`);
      this.#beginDrain(`service ${service.name} failed`);
    }
  }

  /** Waits for every service; after the cut, for at most the shutdown timeout. */
  async #waitAll(runs: Promise<void>[]): Promise<void> {
    const pending = new Set(this.#services.map((s) => s.name));
    const all = Promise.all(runs.map((run, i) =>
      run.then(() => {
        pending.delete(this.#services[i]?.name ?? "");
      })
    ));
    const { promise: outcome, resolve } = Promise.withResolvers<"done" | "timeout">();
    all.then(() => resolve("done"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onCut = () => {
      timer = setTimeout(
        () => resolve("timeout"),
        this.#conf.gracefulShutdownTimeoutSeconds * 1000,
      );
    };
    this.#deadline.signal.addEventListener("abort", onCut, { once: true });
    try {
      if (await outcome === "timeout") {
        this.#stuck = true;
        this.#write(
          `gave up waiting for ${
            [...pending].join(", ")
          } ${this.#conf.gracefulShutdownTimeoutSeconds} s after the cut`,
        );
      }
    } finally {
      clearTimeout(timer);
      this.#deadline.signal.removeEventListener("abort", onCut);
    }
  }

  #installSignals(): () => void {
    const listeners: [Deno.Signal, () => void][] = Deno.build.os === "windows"
      ? [["SIGINT", () => this.#onSignal("SIGINT")]]
      : [
        ["SIGTERM", () => this.#onSignal("SIGTERM")],
        ["SIGINT", () => this.#onSignal("SIGINT")],
        ["SIGHUP", () => this.#onSignal("SIGHUP")],
      ];
    for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
    return () => {
      for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
    };
  }

  #onSignal(sig: "SIGTERM" | "SIGINT" | "SIGHUP"): void {
    if (sig === "SIGHUP") {
      this.#write("SIGHUP received: reloading");
      void this.reload();
    } else if (sig === "SIGTERM" && this.#phase === "running") {
      this.#beginDrain("SIGTERM received");
    } else {
      this.#write(`${sig} received`);
      this.#cut("fast");
    }
  }

  #openLog(): void {
    if (this.#log !== undefined || this.#conf.errorLog === undefined) return;
    try {
      this.#logFile = Deno.openSync(this.#conf.errorLog, {
        append: true,
        create: true,
        write: true,
      });
    } catch (err) {
      console.error(`cirque: cannot open error_log ${this.#conf.errorLog}: ${message(err)}`);
    }
  }

  #closeLog(): void {
    this.#logFile?.close();
    this.#logFile = undefined;
  }

  #write(line: string): void {
    if (this.#log !== undefined) {
      this.#log(line);
      return;
    }
    const text = `${new Date().toISOString()} cirque[${Deno.pid}]: ${line}\n`;
    const sink = this.#logFile ?? Deno.stderr;
    try {
      const bytes = encoder.encode(text);
      for (let off = 0; off < bytes.length;) off += sink.writeSync(bytes.subarray(off));
    } catch { /* nowhere left to log */ }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
