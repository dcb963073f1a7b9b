/**
 * Key extractors: which client a request counts against.
 *
 * @module
 */

import { formatIpv6, parseIpv6 } from "@cirque/core/ip";

/**
 * The least a key extractor needs from a request: the client address and the
 * headers. A `Request` plus its `remoteAddr`, a proxy `Session`, or a plain
 * object `{ clientAddr, headers: new Headers(...) }` all fit.
 */
export interface RequestLike {
  /**
   * The client's address: an IP (`203.0.113.7`, `2001:db8::1`) or an IP with
   * a port (`203.0.113.7:5123`, `[2001:db8::1]:5123`).
   */
  clientAddr?: string | undefined;
  /** Request headers, read with `get(name)`. */
  headers: { get(name: string): string | null };
}

/**
 * Answers the rate-limit key of a request, or `null` when the request has no
 * key; limiters let keyless requests through without counting them (as
 * nginx's `limit_req` does with an empty key).
 */
export type KeyExtractor = (input: RequestLike) => string | null;

/** Options of {@linkcode byClientIp}. */
export interface ByClientIpOptions {
  /**
   * IPv6 clients are counted per network of this prefix length: one host
   * usually owns a whole /64, so counting single addresses would let it
   * rotate through them. 128 counts each address.
   * @default {64}
   */
  ipv6PrefixLength?: number;
}

/**
 * Keys a request by its client IP address (without the port). IPv4-mapped
 * IPv6 addresses (`::ffff:192.0.2.1`) count as their IPv4 address; other IPv6
 * addresses count per `/ipv6PrefixLength` network, written as
 * `2001:db8:1:2::/64`. A missing address gives `null`.
 *
 * @example
 * ```ts
 * import { byClientIp } from "@cirque/limits/key-extractor";
 * import assert from "node:assert/strict";
 *
 * const key = byClientIp();
 * const headers = new Headers();
 * assert.equal(key({ clientAddr: "203.0.113.7:5123", headers }), "203.0.113.7");
 * assert.equal(key({ clientAddr: "[2001:db8:1:2:3:4:5:6]:443", headers }), "2001:db8:1:2::/64");
 * assert.equal(key({ clientAddr: "::ffff:192.0.2.1", headers }), "192.0.2.1");
 * assert.equal(key({ headers }), null);
 * ```
 */
export function byClientIp(options: ByClientIpOptions = {}): KeyExtractor {
  const prefix = options.ipv6PrefixLength ?? 64;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) {
    throw new RangeError(
      `Cannot create key extractor: ipv6PrefixLength must be an integer in [0, 128], got ${prefix}`,
    );
  }
  return function clientIpKey(input: RequestLike): string | null {
    const addr = input.clientAddr;
    if (addr === undefined || addr === "") return null;
    return clientIp(addr, prefix);
  };
}

/**
 * The IP part of an address with or without a port, IPv6 cut to `prefix` bits.
 * Unparseable IPv6 text is answered as given.
 */
function clientIp(addr: string, prefix: number): string {
  let ip = addr;
  if (ip.charCodeAt(0) === 91 /* [ */) {
    const end = ip.indexOf("]");
    ip = ip.slice(1, end < 0 ? ip.length : end);
  } else {
    const colon = ip.indexOf(":");
    if (colon < 0) return ip; // IPv4 or a name, no port
    if (ip.indexOf(":", colon + 1) < 0) return ip.slice(0, colon); // IPv4:port
  }
  const zone = ip.indexOf("%");
  if (zone >= 0) ip = ip.slice(0, zone);
  const bytes = parseIpv6(ip);
  if (bytes === undefined) return ip;
  if (isIpv4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  if (prefix >= 128) return formatIpv6(bytes);
  for (let i = 0; i < 16; i++) {
    const keep = Math.min(8, Math.max(0, prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return `${formatIpv6(bytes)}/${prefix}`;
}

function isIpv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Options of {@linkcode byHeader}. */
export interface ByHeaderOptions {
  /**
   * For list-valued headers (`X-Forwarded-For: client, proxy1`), use only the
   * first element, trimmed.
   * @default {false}
   */
  first?: boolean;
}

/**
 * Keys a request by a header's value (an API key, a tenant id, a client IP set
 * by a trusted front proxy). A missing or empty header gives `null`.
 *
 * @example
 * ```ts
 * import { byHeader } from "@cirque/limits/key-extractor";
 * import assert from "node:assert/strict";
 *
 * const key = byHeader("x-api-key");
 * assert.equal(key({ headers: new Headers({ "x-api-key": "team-a" }) }), "team-a");
 * assert.equal(key({ headers: new Headers() }), null);
 *
 * const xff = byHeader("x-forwarded-for", { first: true });
 * assert.equal(xff({ headers: new Headers({ "x-forwarded-for": "198.51.100.9, 10.0.0.1" }) }), "198.51.100.9");
 * ```
 */
export function byHeader(name: string, options: ByHeaderOptions = {}): KeyExtractor {
  if (typeof name !== "string" || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
    throw new TypeError(`Cannot create key extractor: "${name}" is not a header name`);
  }
  const first = options.first ?? false;
  return function headerKey(input: RequestLike): string | null {
    let value = input.headers.get(name);
    if (value === null) return null;
    if (first) {
      const comma = value.indexOf(",");
      if (comma >= 0) value = value.slice(0, comma);
      value = value.trim();
    }
    return value === "" ? null : value;
  };
}
