/**
 * A tiny demo origin shared by the examples: answers JSON naming itself, the
 * method, path and the request fields it received.
 *
 * @module
 */

/** A running demo origin. */
export interface DemoOrigin {
  /** `127.0.0.1:PORT`. */
  address: string;
  /** Requests answered. */
  hits(): number;
  /** Stops it. */
  close(): Promise<void>;
}

/** Starts a demo origin on 127.0.0.1 (port 0 picks one). */
export function demoOrigin(name: string, port = 0): DemoOrigin {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    hits++;
    const url = new URL(req.url);
    const body = req.body ? await req.text() : "";
    return Response.json({
      origin: name,
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body,
    });
  });
  return {
    address: `127.0.0.1:${server.addr.port}`,
    hits: () => hits,
    close: () => server.shutdown(),
  };
}

/** Stops a fast-path server, then closes each of `others` (connector, origins) in order. */
export async function stopAll(
  server: { close(): void; finished: Promise<void> },
  ...others: { close(): Promise<void> }[]
): Promise<void> {
  server.close();
  await server.finished;
  for (const o of others) await o.close();
}
