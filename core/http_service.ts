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
 * `content-length` is kept). For raw speed, serve through Cirque's own
 * HTTP/1.1 listener instead.
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
}

/** A listening HTTP service. */
export interface HttpService extends Service {
  /**
   * The bound address. Resolves when the listener is bound; rejects when
   * binding fails or the service is stopped before it starts.
   */
  readonly addr: Promise<Deno.NetAddr>;
  /**
   * Requests in flight: handlers still running plus response bodies still
   * being sent. What a cut at the deadline would end.
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

class HttpServiceImpl implements HttpService {
  readonly name: string;
  readonly addr: Promise<Deno.NetAddr>;
  #handler: Deno.ServeHandler<Deno.NetAddr>;
  #options: HttpServiceOptions;
  #resolveAddr: (addr: Deno.NetAddr) => void;
  #rejectAddr: (err: unknown) => void;
  #started = false;
  #cut = false;
  #cutReason = new DOMException(CUT_MESSAGE, "AbortError");
  #cutters = new Set<() => void>();

  constructor(handler: Deno.ServeHandler<Deno.NetAddr>, options: HttpServiceOptions) {
    this.#handler = handler;
    this.#options = options;
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
    const cutters = [...this.#cutters];
    this.#cutters.clear();
    for (const cut of cutters) cut();
  }

  #handle = (
    req: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> => {
    if (this.#cut) return this.#cutResponse();
    const result = this.#handler(req, info);
    const head = req.method === "HEAD"; // no body is sent: nothing to cut once answered
    if (result instanceof Response) return head ? result : this.#guard(result);
    return new Promise<Response>((resolve, reject) => {
      const onCut = () => resolve(this.#cutResponse());
      this.#cutters.add(onCut);
      result.then(
        (res) => {
          if (this.#cutters.delete(onCut)) resolve(head ? res : this.#guard(res));
          else res.body?.cancel(this.#cutReason).catch(() => {});
        },
        (err) => {
          if (this.#cutters.delete(onCut)) reject(err);
        },
      );
    });
  };

  #cutResponse(): Response {
    return new Response(failingBody(this.#cutReason), { status: 503 });
  }

  /** Wraps a streamed body so the deadline can end it with an error. */
  #guard(res: Response): Response {
    if (res.status === 101) return res;
    const body = res.body;
    if (body === null) return res;
    const reader = body.getReader();
    const cutters = this.#cutters;
    const reason = this.#cutReason;
    let finished = false;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const finish = () => {
      finished = true;
      cutters.delete(onCut);
    };
    const onCut = () => {
      if (finished) return;
      finish();
      controller.error(reason);
      reader.cancel(reason).catch(() => {});
    };
    cutters.add(onCut);
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
  handler: Deno.ServeHandler<Deno.NetAddr>,
  options: HttpServiceOptions = {},
): HttpService {
  return new HttpServiceImpl(handler, options);
}
