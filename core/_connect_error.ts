// Internal: errors of getting a connection to a peer, shared by the
// connection (connect) and the connector (waiting for a free one).

import { ProxyError } from "./error.ts";
import type { HttpPeer } from "./peer.ts";

/** The caller's signal ended the attempt to get a connection to `peer`. */
export function abortedError(peer: HttpPeer, cause?: unknown): ProxyError {
  return new ProxyError("ABORTED", `Cannot connect to ${peer.address}: aborted`, {
    source: "downstream",
    cause,
  });
}
