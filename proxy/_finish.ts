/**
 * Reporting a failed `ProxyOutcome.finish` (a `suppressErrorLog`, `errorLog`
 * or logging hook that threw), shared by the `Deno.serve` path and the fast
 * path: the request is over, so the failure is logged and nothing else
 * changes (the client connection stays usable).
 *
 * @module
 */

/** Logs a failure of `ProxyOutcome.finish` with `console.error`. */
export function reportFinishFailure(e: unknown): void {
  console.error("cirque: finishing a request failed:", e);
}
