/**
 * {@linkcode Backend}: one upstream server a load balancer can pick.
 *
 * @module
 */

import { parseAddress, type ParsedAddress } from "./_address.ts";

/** Options of {@linkcode Backend}. */
export interface BackendOptions {
  /**
   * Relative share of traffic: a positive integer.
   * @default {1}
   */
  weight?: number;
  /**
   * Free-form data carried along (zone, TLS name, labels). Not part of a
   * backend's identity.
   * @default {{}}
   */
  metadata?: Readonly<Record<string, unknown>>;
}

const KIND_ORDER = { ipv4: 0, ipv6: 1, name: 2, unix: 3 } as const;

/**
 * One upstream server: an address (`host:port`, `[v6]:port` or `unix:/path`),
 * a weight and free-form metadata.
 *
 * @example
 * ```ts
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const b = new Backend("[::1]:443");
 * assert.equal(b.hostname, "::1");
 * assert.equal(b.port, 443);
 * assert.equal(b.weight, 1);
 * ```
 */
export class Backend {
  /** The address exactly as given. */
  readonly address: string;
  /** Relative share of traffic. */
  readonly weight: number;
  /** Free-form data. */
  readonly metadata: Readonly<Record<string, unknown>>;
  #parsed: ParsedAddress;

  /** Validates the address and weight; throws `TypeError`/`RangeError`. */
  constructor(address: string, options: BackendOptions = {}) {
    this.#parsed = parseAddress(address);
    const weight = options.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 1 || weight > 65535) {
      throw new RangeError(
        `Cannot create backend "${address}": weight ${weight} is not an integer in 1..65535`,
      );
    }
    this.address = address;
    this.weight = weight;
    this.metadata = options.metadata ?? {};
  }

  /** Host to connect to (IPv6 without brackets), or the socket path of a `unix:` address. */
  get hostname(): string {
    return this.#parsed.host;
  }

  /** Port, or `undefined` when the address has none. */
  get port(): number | undefined {
    return this.#parsed.port;
  }

  /** `"ipv4"`, `"ipv6"`, `"name"` (a DNS name) or `"unix"`. */
  get kind(): "ipv4" | "ipv6" | "name" | "unix" {
    return this.#parsed.kind;
  }

  /**
   * Pingora's order: IPv4 before IPv6 (numerically), then names and unix
   * paths, then port, then weight. Returns negative, zero or positive.
   *
   * @example
   * ```ts
   * import { Backend } from "@cirque/lb/backend";
   * import assert from "node:assert/strict";
   *
   * const list = ["10.0.0.10:80", "10.0.0.2:80", "[::1]:80"].map((a) => new Backend(a));
   * list.sort(Backend.compare);
   * assert.deepEqual(list.map((b) => b.address), ["10.0.0.2:80", "10.0.0.10:80", "[::1]:80"]);
   * ```
   */
  static compare(this: void, a: Backend, b: Backend): number {
    const pa = a.#parsed;
    const pb = b.#parsed;
    if (pa.kind !== pb.kind) return KIND_ORDER[pa.kind] - KIND_ORDER[pb.kind];
    if (pa.bytes !== undefined && pb.bytes !== undefined) {
      for (let i = 0; i < pa.bytes.length; i++) {
        const d = pa.bytes[i]! - pb.bytes[i]!;
        if (d !== 0) return d;
      }
    } else if (pa.host !== pb.host) {
      return pa.host < pb.host ? -1 : 1;
    }
    const d = (pa.port ?? -1) - (pb.port ?? -1);
    if (d !== 0) return d;
    if (a.address !== b.address) return a.address < b.address ? -1 : 1;
    return a.weight - b.weight;
  }
}
