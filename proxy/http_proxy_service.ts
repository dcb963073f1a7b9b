/**
 * {@linkcode httpProxyService}: an {@linkcode HttpProxy} as a `Service` the
 * `Server` runs, on one or more listeners.
 *
 * @module
 */

import type { Service } from "@cirque/core/service";
import { httpService } from "@cirque/core/http-service";
import type { HttpProxy } from "./http_proxy.ts";
import { type H1Server, type H1ServerOptions, serveH1 } from "./h1_server.ts";

/** One listening socket. */
export interface ProxyListener {
  /** `host:port` to bind (`[v6]:port` for IPv6). */
  address: string;
  /**
   * `"h1"`: Cirque's HTTP/1.1 fast path (plain or TLS). `"h2"`: `Deno.serve`,
   * which speaks HTTP/2 and HTTP/1.1 over TLS (ALPN) and h2c prior knowledge
   * plus HTTP/1.1 in plain text.
   * @default {"h1"}
   */
  protocol?: "h1" | "h2";
  /** PEM certificate chain and key: serve TLS. */
  tls?: { cert: string; key: string };
  /** Bind with SO_REUSEPORT (several processes on one port). @default {false} */
  reusePort?: boolean;
  /**
   * `"h1"` only: keep a request going when its client goes away after
   * sending it and before the response (see `serveH1`'s `ignoreClientAbort`).
   * @default {false}
   */
  ignoreClientAbort?: boolean;
  /**
   * `"h1"` only: milliseconds to receive a whole request head once its first
   * byte arrived; overrides `h1.headerTimeout` (see `serveH1`).
   */
  headerTimeout?: number;
  /**
   * `"h1"` only: milliseconds an idle keep-alive connection waits for the
   * next request; overrides `h1.keepAliveTimeout`.
   */
  keepAliveTimeout?: number;
  /**
   * `"h1"` only: milliseconds for each read of a request body and each write
   * to the client; overrides `h1.ioTimeout`.
   */
  ioTimeout?: number;
  /** `"h1"` only: request head size limit in bytes; overrides `h1.maxHeadBytes`. */
  maxHeadBytes?: number;
  /** `"h1"` only: request field count limit; overrides `h1.maxFields`. */
  maxFields?: number;
  /**
   * `"h1"` only: milliseconds a lingering close may last in all (0: close at
   * once); overrides `h1.lingeringTime` (see `serveH1`).
   */
  lingeringTime?: number;
  /**
   * `"h1"` only: milliseconds each read of a lingering close waits; overrides
   * `h1.lingeringTimeout`.
   */
  lingeringTimeout?: number;
}

/** The {@linkcode ProxyListener} keys only the HTTP/1.1 fast path has. */
const H1_ONLY = [
  "ignoreClientAbort",
  "headerTimeout",
  "keepAliveTimeout",
  "ioTimeout",
  "maxHeadBytes",
  "maxFields",
  "lingeringTime",
  "lingeringTimeout",
] as const;

/** A listener's own fast-path settings, the ones it sets. */
type H1Settings = Pick<H1ServerOptions, (typeof H1_ONLY)[number]>;

/** Options of {@linkcode httpProxyService}. */
export interface HttpProxyServiceOptions {
  /** Where to listen. */
  listeners: ProxyListener[];
  /** Called with each bound address once listening. */
  onListen?: (addr: Deno.NetAddr, listener: ProxyListener) => void;
  /** Fast-path timeouts and limits for every `"h1"` listener (see `serveH1`). */
  h1?: H1Settings;
}

function splitAddress(address: string): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (m === null) {
    throw new TypeError(`Cannot listen: "${address}" is not host:port (IPv6 as [addr]:port)`);
  }
  return { hostname: m[1]!, port: Number(m[2]) };
}

/**
 * Runs `proxy` on the given listeners until the server stops: on the drain
 * signal listeners close and in-flight requests finish; on the deadline
 * every connection is cut.
 *
 * @example
 * ```ts
 * import { httpProxyService, HttpProxy } from "@cirque/proxy";
 * import { HttpPeer } from "@cirque/core/peer";
 * import type { Connector } from "@cirque/core/connector";
 * import assert from "node:assert/strict";
 *
 * const proxy = new HttpProxy({ newCtx: () => null, upstreamPeer: () => new HttpPeer("127.0.0.1:9") },
 *   { connector: {} as Connector });
 * let port = 0;
 * const svc = httpProxyService(proxy, {
 *   listeners: [{ address: "127.0.0.1:0" }],
 *   onListen: (addr) => { port = addr.port; },
 * });
 * const stop = new AbortController();
 * const running = svc.start(stop.signal, new AbortController().signal);
 * await new Promise((r) => setTimeout(r, 10));
 * assert.ok(port > 0);
 * stop.abort();
 * await running;
 * ```
 */
export function httpProxyService<Ctx>(
  proxy: HttpProxy<Ctx>,
  options: HttpProxyServiceOptions,
): Service {
  const services = options.listeners.map((l) => listenerService(proxy, l, options));
  return {
    name: `proxy ${services.map((s) => s.name).join(", ")}`,
    async start(signal: AbortSignal, deadline: AbortSignal): Promise<void> {
      // One listener failing to bind stops the others.
      const local = new AbortController();
      const stop = () => local.abort();
      signal.addEventListener("abort", stop, { once: true });
      const results = await Promise.allSettled(
        services.map((s) =>
          s.start(local.signal, deadline).catch((e) => (stop(), Promise.reject(e)))
        ),
      );
      signal.removeEventListener("abort", stop);
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
  };
}

function listenerService<Ctx>(
  proxy: HttpProxy<Ctx>,
  l: ProxyListener,
  options: HttpProxyServiceOptions,
): Service {
  const { hostname, port } = splitAddress(l.address);
  const name = `${l.protocol ?? "h1"}${l.tls ? "s" : ""} ${l.address}`;
  const onListen = (addr: Deno.NetAddr) => options.onListen?.(addr, l);
  if ((l.protocol ?? "h1") === "h2") {
    const set = H1_ONLY.filter((k) => k === "ignoreClientAbort" ? l[k] : l[k] !== undefined);
    if (set.length > 0) {
      throw new TypeError(
        `Cannot listen on ${l.address}: ${set.join(", ")} ${
          set.length === 1 ? "applies" : "apply"
        } to h1 listeners only`,
      );
    }
    // Deno.serve behind core's httpService, which drains with shutdown() and
    // cuts what is left at the deadline: `handle` ends its own streamed bodies
    // on the service's cut signal, so responses need no wrapping stream.
    return httpService(proxy.handle, {
      hostname,
      port,
      name,
      onListen,
      guardBodies: false,
      ...(l.reusePort ? { reusePort: true } : {}),
      ...(l.tls ? { cert: l.tls.cert, key: l.tls.key } : {}),
    });
  }
  const own = Object.fromEntries(
    H1_ONLY.filter((k) => l[k] !== undefined).map((k) => [k, l[k]]),
  ) as H1Settings;
  return {
    name,
    async start(signal: AbortSignal, deadline: AbortSignal): Promise<void> {
      const server: H1Server = serveH1(proxy, {
        hostname,
        port,
        ...(l.reusePort ? { reusePort: true } : {}),
        ...(l.tls ? { cert: l.tls.cert, key: l.tls.key } : {}),
        ...options.h1,
        ...own,
        onListen,
      });
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", () => resolve(), { once: true });
      });
      const cut = () => server.close();
      if (deadline.aborted) cut();
      else deadline.addEventListener("abort", cut, { once: true });
      await server.shutdown();
      deadline.removeEventListener("abort", cut);
    },
  };
}
