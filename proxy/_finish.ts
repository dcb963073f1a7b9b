/**
 * Ending a `ProxyOutcome`, shared by the `Deno.serve` path and the fast path:
 * dropping its body when no client is left to take it, and reporting a failed
 * `ProxyOutcome.finish` (a `suppressErrorLog`, `errorLog` or logging hook that
 * threw): the request is over, so the failure is logged and nothing else
 * changes (the client connection stays usable).
 *
 * @module
 */

import type { ProxyOutcome } from "./http_proxy.ts";

/** Cancels the outcome's body (its stream-free source or its stream) for a client that is gone. */
export function cancelOutcome(outcome: ProxyOutcome): void {
  const src = outcome.source ?? null;
  if (src !== null) src.cancel();
  else outcome.body?.cancel().catch(() => {});
}

/** Logs a failure of `ProxyOutcome.finish` with `console.error`. */
export function reportFinishFailure(e: unknown): void {
  console.error("cirque: finishing a request failed:", e);
}
