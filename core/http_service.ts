/**
 * `httpService()`: a listening {@linkcode Service} on `Deno.serve` (HTTP/1.1,
 * and HTTP/2 over TLS or h2c) with a two-phase stop.
 *
 * - When the server begins to stop (`signal`), it calls `shutdown()`: the
 *   listener closes at once, idle keep-alive connections close, in-flight
 *   requests (including streamed bodies) run to completion.
 * - When the deadline passes (`deadline`), in-flight work is cut: a streamed
 *   body is ended with an error (the client sees a truncated response and a
 *   closed connection, its source stream is cancelled), and a request whose
 *   handler has not answered yet gets a `503` head on a body that fails at
 *   once.
 *
 * Why the service tracks in-flight responses itself: `Deno.serve`'s own
 * `signal` cannot cut once `shutdown()` has begun (in Deno 2.9.6, aborting it
 * then throws `BadResource` from inside the abort event). The price is that
 * every response body passes through one extra `ReadableStream`, which also
 * hides the length of a string or byte body: such responses go out chunked
 * unless the handler sets `content-length` itself (an explicit
 * `content-length` is kept). A handler that ends its own streamed bodies can
 * do without that stream: with `guardBodies: false` its responses go out as
 * it made them, and it is given the service's cut signal as a third argument
 * (`HttpProxy.handle` of `@cirque/proxy` takes it; the proxy's `h2`
 * listeners run that way). For raw speed on HTTP/1.1, serve through Cirque's
 * own listener instead.
 *
 * WebSocket upgrades (status 101) are returned untouched and are not cut.
 *
 * @example Serve, read the bound address, stop
 * ```ts
 * import { httpService } from "@cirque/core/http-service";
 * import assert from "node:assert/strict";
 *
 * const svc = httpService(() => new Response("hello"), { hostname: "127.0.0.1", port: 0 });
 * const stop = new AbortController();
 * const running = svc.start(stop.signal, new AbortController().signal);
 * const { port } = await svc.addr;
 * assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hello");
 * stop.abort();
 * await running;
 * ```
 *
 * @module
 */
import type { Service } from "./service.ts";

/** Options of {@linkcode httpService}. */
export interface HttpServiceOptions {
  /**
   * Address to bind.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Port to bind; `0` picks a free port (read it from {@linkcode HttpService.addr}).
   * @default {8000}
   */
  port?: number;
  /** TLS certificate chain (PEM string, not a path). Requires `key`. */
  cert?: string;
  /** TLS private key (PEM string, not a path). Requires `cert`. */
  key?: string;
  /**
   * Share the port with other processes (`SO_REUSEPORT`; needs `--unstable-net`
   * or `"unstable": ["net"]`). Used for zero-downtime restarts.
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * Name for logs.
   * @default {"http <hostname>:<port>"}
   */
  name?: string;
  /** Called once the listener is bound, with the bound address. */
  onListen?(addr: Deno.NetAddr): void;
  /**
   * Turns a handler error into a response.
   * @default {logs the error and answers 500}
   */
  onError?(error: unknown): Response | Promise<Response>;
  /**
   * Whether every response body passes through a stream of the service's,
   * which it ends with an error at the deadline. `false`: responses go out
   * exactly as the handler made them (a byte body keeps its length and needs
   * no stream, about 1.7× the requests per CPU-second of a proxy over
   * HTTP/2), and the handler ends its own streamed bodies when `cut`, its
   * third argument, aborts (register them with {@linkcode onCut}). A
   * streamed body that ignores `cut` then keeps the server running past the
   * deadline. Handlers that have not answered at the deadline get the `503`
   * either way.
   * @default {true}
   */
  guardBodies?: boolean;
}

/**
 * A request handler for {@linkcode httpService}: a `Deno.serve` handler that
 * may also take `cut`, the signal that aborts when the deadline passes (with
 * `guardBodies: false`, the handler must end its streamed bodies then).
 */
export type HttpServiceHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  cut: AbortSignal,
) => Response | Promise<Response>;

/** A listening HTTP service. */
export interface HttpService extends Service {
  /**
   * The bound address. Resolves when the listener is bound; rejects when
   * binding fails or the service is stopped before it starts.
   */
  readonly addr: Promise<Deno.NetAddr>;
  /**
   * Requests in flight: handlers still running plus response bodies still
   * being sent (bodies only when the service guards them, see
   * `guardBodies`). What a cut at the deadline would end.
   */
  readonly inFlight: number;
}

const CUT_MESSAGE = "Response cut: the server's shutdown deadline passed";

function isCut(err: unknown): boolean {
  return err instanceof DOMException && err.message === CUT_MESSAGE;
}

function defaultOnError(error: unknown): Response {
  console.error("httpService: handler failed:", error);
  return new Response("Internal Server Error", { status: 500 });
}

function failingBody(reason: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.error(reason);
    },
  });
}

/** One entry of {@linkcode CutList}: what to run at the cut. */
interface Cutter {
  cut: () => void;
  prev: Cutter | null;
  next: Cutter | null;
  linked: boolean;
}

/**
 * The work a cut would end, as an intrusive list: adding and removing an
 * entry per request allocates nothing in the long-lived structure. (A `Set`
 * rebuilds its table as entries come and go, and for a long-lived one each
 * table lands in the old generation: with hundreds of requests in flight
 * that cost an HTTP/2 proxy about a tenth of its CPU.)
 */
class CutList {
  #head: Cutter | null = null;
  size = 0;

  add(cut: () => void): Cutter {
    const c: Cutter = { cut, prev: null, next: this.#head, linked: true };
    if (this.#head !== null) this.#head.prev = c;
    this.#head = c;
    this.size++;
    return c;
  }

  /** Unlinks `c`; returns whether it was still listed (not cut yet). */
  remove(c: Cutter): boolean {
    if (!c.linked) return false;
    c.linked = false;
    if (c.prev !== null) c.prev.next = c.next;
    else this.#head = c.next;
    if (c.next !== null) c.next.prev = c.prev;
    c.prev = c.next = null;
    this.size--;
    return true;
  }

  /** Unlinks every entry, then runs each one's `cut`. */
  cutAll(): void {
    const all: Cutter[] = [];
    for (let c = this.#head; c !== null; c = c.next) all.push(c);
    for (const c of all) this.remove(c);
    for (const c of all) c.cut();
  }
}

const cutLists = new WeakMap<AbortSignal, CutList>();

/**
 * Runs `fn` once `cut` aborts (at once if it has); returns `off`, which
 * unregisters `fn` and tells whether it was still registered. For the work a
 * handler must end at the deadline when its service has `guardBodies: false`
 * (`HttpProxy.handle` registers each streamed body). Unlike
 * `addEventListener` on the one signal every request shares, registering and
 * removing costs the same however many are registered: with 500 in flight,
 * an `addEventListener`/`removeEventListener` pair took 8.7 µs (`deno bench`),
 * `onCut` and `off` 49 ns.
 *
 * @example
 * ```ts
 * import { onCut } from "@cirque/core/http-service";
 * import assert from "node:assert/strict";
 *
 * const cut = new AbortController();
 * const seen: string[] = [];
 * const offA = onCut(cut.signal, () => seen.push("a"));
 * onCut(cut.signal, () => seen.push("b"));
 * assert.equal(offA(), true); // a finished before the cut
 * cut.abort();
 * assert.deepEqual(seen, ["b"]);
 * assert.equal(offA(), false);
 * ```
 */
export function onCut(cut: AbortSignal, fn: () => void): () => boolean {
  if (cut.aborted) {
    fn();
    return () => false;
  }
  let list = cutLists.get(cut);
  if (list === undefined) {
    const l = list = new CutList();
    cutLists.set(cut, l);
    cut.addEventListener("abort", () => l.cutAll(), { once: true });
  }
  const entry = list.add(fn);
  const l = list;
  return () => l.remove(entry);
}

class HttpServiceImpl implements HttpService {
  readonly name: string;
  readonly addr: Promise<Deno.NetAddr>;
  #handler: HttpServiceHandler;
  #options: HttpServiceOptions;
  #guardBodies: boolean;
  #cutSignal = new AbortController();
  #resolveAddr: (addr: Deno.NetAddr) => void;
  #rejectAddr: (err: unknown) => void;
  #started = false;
  #cut = false;
  #cutReason = new DOMException(CUT_MESSAGE, "AbortError");
  #cutters = new CutList();

  constructor(handler: HttpServiceHandler, options: HttpServiceOptions) {
    this.#handler = handler;
    this.#options = options;
    this.#guardBodies = options.guardBodies ?? true;
    this.name = options.name ?? `http ${options.hostname ?? "0.0.0.0"}:${options.port ?? 8000}`;
    const { promise, resolve, reject } = Promise.withResolvers<Deno.NetAddr>();
    promise.catch(() => {}); // a failed bind is reported by start(); don't make this unhandled
    this.addr = promise;
    this.#resolveAddr = resolve;
    this.#rejectAddr = reject;
  }

  get inFlight(): number {
    return this.#cutters.size;
  }

  async start(signal: AbortSignal, deadline: AbortSignal): Promise<void> {
    if (this.#started) throw new Error(`Cannot start ${this.name}: it has already been started`);
    this.#started = true;
    if (signal.aborted) {
      this.#rejectAddr(new Error(`Cannot listen on ${this.name}: stopped before it started`));
      return;
    }
    const o = this.#options;
    const onListen = (addr: Deno.NetAddr) => {
      this.#resolveAddr(addr);
      o.onListen?.(addr);
    };
    const onError = (error: unknown): Response | Promise<Response> => {
      if (isCut(error)) return new Response(null, { status: 503 });
      return (o.onError ?? defaultOnError)(error);
    };
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: o.hostname ?? "0.0.0.0",
        port: o.port ?? 8000,
        reusePort: o.reusePort ?? false,
        ...(o.cert !== undefined || o.key !== undefined
          ? { cert: o.cert ?? "", key: o.key ?? "" }
          : {}),
        onListen,
        onError,
      }, this.#handle);
    } catch (err) {
      this.#rejectAddr(err);
      throw err;
    }
    let draining = false;
    const drain = () => {
      if (draining) return;
      draining = true;
      server.shutdown().catch(() => {});
    };
    const cut = () => {
      drain();
      this.#cutAll();
    };
    signal.addEventListener("abort", drain, { once: true });
    deadline.addEventListener("abort", cut, { once: true });
    if (deadline.aborted) cut();
    else if (signal.aborted) drain();
    try {
      await server.finished;
    } finally {
      signal.removeEventListener("abort", drain);
      deadline.removeEventListener("abort", cut);
    }
  }

  #cutAll(): void {
    this.#cut = true;
    this.#cutters.cutAll();
    this.#cutSignal.abort(this.#cutReason);
  }

  #handle = (
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> => {
    if (this.#cut) return this.#cutResponse();
    const result = this.#handler(req, info, this.#cutSignal.signal);
    const head = req.method === "HEAD"; // no body is sent: nothing to cut once answered
    if (result instanceof Response) return head ? result : this.#guard(result);
    return new Promise<Response>((resolve, reject) => {
      const entry = this.#cutters.add(() => resolve(this.#cutResponse()));
      result.then(
        (res) => {
          if (this.#cutters.remove(entry)) resolve(head ? res : this.#guard(res));
          else res.body?.cancel(this.#cutReason).catch(() => {});
        },
        (err) => {
          if (this.#cutters.remove(entry)) reject(err);
        },
      );
    });
  };

  #cutResponse(): Response {
    return new Response(failingBody(this.#cutReason), { status: 503 });
  }

  /** Wraps a streamed body so the deadline can end it with an error. */
  #guard(res: Response): Response {
    if (res.status === 101 || !this.#guardBodies) return res;
    const body = res.body;
    if (body === null) return res;
    const reader = body.getReader();
    const cutters = this.#cutters;
    const reason = this.#cutReason;
    let finished = false;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const entry = cutters.add(() => {
      if (finished) return;
      finished = true;
      controller.error(reason);
      reader.cancel(reason).catch(() => {});
    });
    const finish = () => {
      finished = true;
      cutters.remove(entry);
    };
    const guarded = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      async pull(c) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (!finished) {
            finish();
            c.error(err);
          }
          return;
        }
        if (finished) return;
        if (chunk.done) {
          finish();
          c.close();
        } else {
          c.enqueue(chunk.value);
        }
      },
      cancel(why) {
        finish();
        return reader.cancel(why);
      },
    });
    return new Response(guarded, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }
}

/**
 * Makes a listening HTTP {@linkcode Service} on `Deno.serve`. See the module
 * documentation for how it drains and cuts.
 *
 * @example Drain: an in-flight request completes after the stop began
 * ```ts
 * import { httpService } from "@cirque/core/http-service";
 * import assert from "node:assert/strict";
 *
 * const release = Promise.withResolvers<void>();
 * const arrived = Promise.withResolvers<void>();
 * const svc = httpService(async () => {
 *   arrived.resolve();
 *   await release.promise;
 *   return new Response("done");
 * }, { hostname: "127.0.0.1", port: 0 });
 * const stop = new AbortController();
 * const running = svc.start(stop.signal, new AbortController().signal);
 * const { port } = await svc.addr;
 * const res = fetch(`http://127.0.0.1:${port}/`);
 * await arrived.promise;
 * stop.abort();            // stop accepting; the request in flight goes on
 * release.resolve();
 * assert.equal(await (await res).text(), "done");
 * await running;
 * ```
 */
export function httpService(
  handler: HttpServiceHandler,
  options: HttpServiceOptions = {},
): HttpService {
  return new HttpServiceImpl(handler, options);
}
