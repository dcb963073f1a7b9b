/**
 * Upstream peers: where to connect and how.
 *
 * @module
 */

/** Per-peer connection options. Every wait of the connector is bounded by one of these. */
export interface PeerOptions {
  /**
   * Milliseconds for the TCP connect.
   * @default {5000}
   */
  connectTimeout?: number;
  /**
   * Milliseconds for TCP connect plus TLS handshake together.
   * @default {10000}
   */
  totalConnectTimeout?: number;
  /**
   * Milliseconds to wait for each read from the upstream (response head and every body read).
   * @default {60000}
   */
  readTimeout?: number;
  /**
   * Milliseconds to wait for each write to the upstream: the longest wait
   * without progress, not the time to send the whole request.
   * @default {60000}
   */
  writeTimeout?: number;
  /**
   * Milliseconds an idle pooled connection lives; 0 disables reuse.
   * @default {60000}
   */
  idleTimeout?: number;
  /**
   * Verify the upstream certificate chain and name.
   * @default {true}
   */
  verifyCert?: boolean;
  /** Extra trusted CA certificates (PEM), added to the built-in roots. */
  caCerts?: string[];
  /** Client certificate chain (PEM) for mTLS. */
  cert?: string;
  /** Client private key (PEM) for mTLS. */
  key?: string;
  /**
   * ALPN protocols offered to the upstream.
   * @default {["http/1.1"]}
   */
  alpn?: string[];
  /**
   * Idle connections kept for this peer.
   * @default {128}
   */
  maxIdlePerPeer?: number;
  /**
   * At most this many connections open to this peer at once (busy, idle and
   * being opened), like HAProxy's `maxconn` on a server or nginx's
   * `max_conns`. A request that finds none free waits in a FIFO queue for a
   * released connection, at most `connectTimeout` milliseconds, then fails
   * with `CONNECT_TIMEOUT`. Bounds the load on the upstream and the memory
   * and sockets of the proxy; `H1Connector` honours it (the fetch connector
   * does not).
   * @default {unlimited}
   */
  maxConnections?: number;
}

/** A peer address, parsed. */
export type PeerAddress =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/** Options of {@linkcode HttpPeer}. */
export interface HttpPeerInit {
  /** Use TLS to the upstream. @default {false} */
  tls?: boolean;
  /** Server name for SNI and certificate verification. @default {the address host} */
  sni?: string;
  /** Connection options. */
  options?: PeerOptions;
}

/** Resolved defaults for {@linkcode PeerOptions}. */
export const PEER_DEFAULTS = {
  connectTimeout: 5_000,
  totalConnectTimeout: 10_000,
  readTimeout: 60_000,
  writeTimeout: 60_000,
  idleTimeout: 60_000,
  maxIdlePerPeer: 128,
} as const;

/**
 * Parses `host:port`, `[v6]:port`, `unix:/path` or `/path`.
 *
 * @example
 * ```ts
 * import { parseAddress } from "@cirque/core/peer";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseAddress("[::1]:8080"), { transport: "tcp", hostname: "::1", port: 8080 });
 * assert.deepEqual(parseAddress("/run/app.sock"), { transport: "unix", path: "/run/app.sock" });
 * ```
 */
export function parseAddress(address: string): PeerAddress {
  if (address.startsWith("unix:")) return { transport: "unix", path: address.slice(5) };
  if (address.startsWith("/")) return { transport: "unix", path: address };
  let host: string;
  let portText: string;
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    if (close < 0 || address[close + 1] !== ":") {
      throw new TypeError(`Cannot parse peer address: "${address}" is not [v6]:port`);
    }
    host = address.slice(1, close);
    portText = address.slice(close + 2);
  } else {
    const colon = address.lastIndexOf(":");
    if (colon <= 0 || address.indexOf(":") !== colon) {
      throw new TypeError(
        `Cannot parse peer address: "${address}" is not host:port (write IPv6 as [addr]:port)`,
      );
    }
    host = address.slice(0, colon);
    portText = address.slice(colon + 1);
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new RangeError(
      `Cannot parse peer address: port "${portText}" of "${address}" is not 1-65535`,
    );
  }
  return { transport: "tcp", hostname: host, port };
}

/**
 * An HTTP upstream: address, TLS settings and connection options. Peers with
 * equal {@linkcode HttpPeer.reuseKey} share pooled connections.
 *
 * @example
 * ```ts
 * import { HttpPeer } from "@cirque/core/peer";
 * import assert from "node:assert/strict";
 *
 * const a = new HttpPeer("127.0.0.1:443", { tls: true, sni: "example.com" });
 * const b = new HttpPeer("127.0.0.1:443", { tls: true, sni: "example.com", options: { readTimeout: 1 } });
 * assert.equal(a.reuseKey, b.reuseKey); // timeouts do not make connections unshareable
 * assert.notEqual(a.reuseKey, new HttpPeer("127.0.0.1:443", { tls: true, sni: "other.com" }).reuseKey);
 * ```
 */
export class HttpPeer {
  /** The address as given. */
  readonly address: string;
  /** The parsed address. */
  readonly addr: PeerAddress;
  /** Whether to speak TLS. */
  readonly tls: boolean;
  /** SNI / verification name. */
  readonly sni: string;
  /** Connection options as given. */
  readonly options: Readonly<PeerOptions>;
  /** Key under which connections to this peer are pooled. */
  readonly reuseKey: string;

  /** Creates a peer; throws `TypeError`/`RangeError` on a malformed address. */
  constructor(address: string, init: HttpPeerInit = {}) {
    this.address = address;
    this.addr = parseAddress(address);
    this.tls = init.tls ?? false;
    this.sni = init.sni ?? (this.addr.transport === "tcp" ? this.addr.hostname : "");
    this.options = init.options ?? {};
    const o = this.options;
    this.reuseKey = this.tls
      ? [
        address,
        "tls",
        this.sni,
        o.verifyCert === false ? "noverify" : "verify",
        (o.caCerts ?? []).join("|"),
        o.cert ?? "",
        (o.alpn ?? []).join(","),
      ].join("\n")
      : address;
  }

  /** `host:port` for the `Host` header (brackets kept for IPv6). */
  get authority(): string {
    return this.addr.transport === "unix" ? "localhost" : this.address;
  }
}
