/**
 * {@linkcode httpProxyService}: an {@linkcode HttpProxy} as a `Service` the
 * `Server` runs, on one or more listeners.
 *
 * @module
 */

import type { Service } from "@cirque/core/service";
import type { HttpProxy } from "./http_proxy.ts";
import { type H1Server, serveH1 } from "./h1_server.ts";

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
}

/** Options of {@linkcode httpProxyService}. */
export interface HttpProxyServiceOptions {
  /** Where to listen. */
  listeners: ProxyListener[];
  /** Called with each bound address once listening. */
  onListen?: (addr: Deno.NetAddr, listener: ProxyListener) => void;
  /** Fast-path timeouts and limits (see `serveH1`). */
  h1?: {
    headerTimeout?: number;
    keepAliveTimeout?: number;
    ioTimeout?: number;
  };
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
  const names = options.listeners.map((l) =>
    `${l.protocol ?? "h1"}${l.tls ? "s" : ""} ${l.address}`
  );
  return {
    name: `proxy ${names.join(", ")}`,
    async start(signal: AbortSignal, deadline: AbortSignal): Promise<void> {
      const stops: { shutdown(): Promise<void>; close(): void }[] = [];
      try {
        for (const l of options.listeners) {
          const { hostname, port } = splitAddress(l.address);
          if ((l.protocol ?? "h1") === "h1") {
            const s: H1Server = serveH1(proxy, {
              hostname,
              port,
              ...(l.reusePort ? { reusePort: true } : {}),
              ...(l.tls ? { cert: l.tls.cert, key: l.tls.key } : {}),
              ...options.h1,
              onListen: (addr) => options.onListen?.(addr, l),
            });
            stops.push(s);
          } else {
            const hard = new AbortController();
            const s = Deno.serve({
              hostname,
              port,
              ...(l.reusePort ? { reusePort: true } : {}),
              ...(l.tls ? { cert: l.tls.cert, key: l.tls.key } : {}),
              signal: hard.signal,
              onListen: (addr) => options.onListen?.(addr as Deno.NetAddr, l),
            }, proxy.handle);
            stops.push({
              shutdown: () => s.shutdown(),
              close: () => hard.abort(),
            });
          }
        }
      } catch (e) {
        for (const s of stops) s.close();
        throw e;
      }
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", () => resolve(), { once: true });
      });
      const cut = () => stops.forEach((s) => s.close());
      if (deadline.aborted) cut();
      else deadline.addEventListener("abort", cut, { once: true });
      await Promise.all(stops.map((s) => s.shutdown()));
      deadline.removeEventListener("abort", cut);
    },
  };
}
