// deno run -A examples/rate_limiter.ts   (env: PORT, LIMIT, WINDOW_SECONDS)
/**
 * A proxy that allows N requests per window (default 5 per second) per client
 * IP and answers 429 beyond it, with `Retry-After` and the IETF
 * `RateLimit-Policy` / `RateLimit` header fields. Allowed requests are
 * forwarded to a built-in demo origin and carry the RateLimit fields too.
 *
 * Try it: `for i in $(seq 7); do curl -si http://127.0.0.1:8000/ | head -1; done`
 * (with `PORT=8000`): five `200`s, then `429`s until the second ends.
 *
 * @module
 */
import { H1Connector } from "@cirque/core/h1";
import { HttpPeer } from "@cirque/core/peer";
import { type RateLimitAlgorithm, RateLimiter, type RateLimitResult } from "@cirque/limits";
import { HttpProxy, type ProxyHttp, serveH1 } from "@cirque/proxy";

/** Options of {@linkcode startRateLimiterDemo}. */
export interface RateLimiterDemoOptions {
  /**
   * Port of the front (the limiting proxy); 0 picks a free one.
   * @default {0}
   */
  port?: number;
  /**
   * Requests allowed per window per client.
   * @default {5}
   */
  limit?: number;
  /**
   * The window in seconds.
   * @default {1}
   */
  windowSeconds?: number;
  /**
   * How the window counts (see `RateLimiter`).
   * @default {"fixed"}
   */
  algorithm?: RateLimitAlgorithm;
  /** Clock in milliseconds (tests pass a fake one). */
  clock?: () => number;
}

/** A running demo: the front's URL, the origin's URL, and how to stop both. */
export interface RateLimiterDemo extends AsyncDisposable {
  /** The front's base URL, e.g. `http://127.0.0.1:8000/`. */
  url: string;
  /** The demo origin's base URL. */
  originUrl: string;
  /** Stops the front and the origin. */
  shutdown(): Promise<void>;
}

/**
 * Starts the demo origin and the rate-limiting front on 127.0.0.1.
 *
 * @example
 * ```ts ignore
 * import { startRateLimiterDemo } from "./rate_limiter.ts";
 *
 * await using demo = startRateLimiterDemo({ limit: 2 });
 * console.log((await fetch(demo.url)).status); // 200
 * ```
 */
export function startRateLimiterDemo(options: RateLimiterDemoOptions = {}): RateLimiterDemo {
  const limiter = new RateLimiter(options.limit ?? 5, {
    windowSeconds: options.windowSeconds ?? 1,
    algorithm: options.algorithm ?? "fixed",
    ...(options.clock ? { clock: options.clock } : {}),
  });

  const origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    function originHandler(req) {
      const { pathname } = new URL(req.url);
      return new Response(`hello from the origin: ${req.method} ${pathname}\n`, {
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    },
  );
  const originUrl = `http://127.0.0.1:${origin.addr.port}/`;

  // The front is a Cirque proxy: the limit is checked in `requestFilter`, and
  // the RateLimit fields are added to forwarded responses in `responseFilter`.
  const peer = new HttpPeer(`127.0.0.1:${origin.addr.port}`);
  const connector = new H1Connector();
  const phases: ProxyHttp<{ result: RateLimitResult | null }> = {
    newCtx: () => ({ result: null }),
    requestFilter(session, ctx) {
      // Key by client IP (IPv6 clients by /64); `check(key)` takes any string.
      const result = limiter.checkRequest({
        clientAddr: session.clientIp,
        headers: session.req.headers,
      });
      if (!result.allowed) return { kind: "respond", response: limiter.response(result) };
      ctx.result = result;
    },
    upstreamPeer: () => peer,
    responseFilter(_session, response, ctx) {
      for (const [name, value] of ctx.result?.headers() ?? []) response.headers.set(name, value);
    },
  };
  const front = serveH1(new HttpProxy(phases, { connector }), {
    hostname: "127.0.0.1",
    port: options.port ?? 0,
  });
  const url = `http://127.0.0.1:${front.addr.port}/`;

  async function shutdown(): Promise<void> {
    front.close();
    await front.finished;
    await connector.close();
    await origin.shutdown();
  }
  return { url, originUrl, shutdown, [Symbol.asyncDispose]: shutdown };
}

if (import.meta.main) {
  const demo = startRateLimiterDemo({
    port: Number(Deno.env.get("PORT") ?? 0),
    limit: Number(Deno.env.get("LIMIT") ?? 5),
    windowSeconds: Number(Deno.env.get("WINDOW_SECONDS") ?? 1),
  });
  console.log(`rate-limiting proxy listening on ${demo.url} (origin ${demo.originUrl})`);
  Deno.addSignalListener("SIGINT", () => demo.shutdown().then(() => Deno.exit(0)));
  Deno.addSignalListener("SIGTERM", () => demo.shutdown().then(() => Deno.exit(0)));
}
