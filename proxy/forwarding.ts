/**
 * Hop-by-hop field removal (RFC 9110 §7.6.1) and the forwarding fields
 * `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `Via`.
 *
 * @module
 */

import { type HeaderMap, isFieldName } from "@cirque/core/http-header";
import { parseIp } from "@cirque/core/ip";

/** Fields that are always hop-by-hop. */
export const HOP_BY_HOP: readonly string[] = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * Removes hop-by-hop fields from `headers`: the fixed list, and every field
 * named in `Connection`. With `keepUpgrade` (tunnelling an upgrade), `Upgrade`
 * stays and `Connection` is reset to `upgrade`.
 *
 * @example
 * ```ts
 * import { stripHopByHop } from "@cirque/proxy/forwarding";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const h = new HeaderMap([["Connection", "close, X-Secret"], ["X-Secret", "1"], ["Accept", "*"]]);
 * stripHopByHop(h);
 * assert.deepEqual(h.pairs, [["Accept", "*"]]);
 * ```
 */
export function stripHopByHop(headers: HeaderMap, keepUpgrade = false): void {
  // One scan: is anything hop-by-hop present (usually only `Connection:
  // keep-alive`), and does a Connection field name other fields? By index and
  // name length, so fields kept as parsed (HeaderMap.fromRaw) stay unmade.
  const n = headers.size;
  let any = false;
  let named: Set<string> | null = null;
  for (let i = 0; i < n; i++) {
    const hop = hopName(headers, i);
    if (hop === 0) continue;
    any = true;
    if (hop === CONNECTION) named = connectionTokens(headers.valueAt(i), named);
  }
  if (!any) return;
  let upgrade = false;
  for (let i = n - 1; i >= 0; i--) {
    const hop = hopName(headers, i);
    let drop: boolean;
    if (hop === UPGRADE && keepUpgrade) {
      drop = false;
      upgrade = true;
    } else {
      drop = hop !== 0 || (named !== null && named.has(headers.nameAt(i).toLowerCase()));
    }
    if (drop) headers.deleteAt(i);
  }
  if (upgrade) headers.set("Connection", "upgrade");
}

const CONNECTION = 1;
const UPGRADE = 2;
const OTHER_HOP = 3;

/** Adds the field names a Connection value lists (beyond close/keep-alive/upgrade) to `named`. */
function connectionTokens(value: string, named: Set<string> | null): Set<string> | null {
  const l = value.length;
  // The usual values, without splitting (same case-insensitive token compare as for names).
  if ((l === 10 && isFieldName(value, "keep-alive")) || (l === 5 && isFieldName(value, "close"))) {
    return named;
  }
  for (const token of value.split(",")) {
    const t = token.trim().toLowerCase();
    if (t !== "" && t !== "close" && t !== "keep-alive" && t !== "upgrade") {
      (named ??= new Set()).add(t);
    }
  }
  return named;
}

/** 0 unless field `i` of `h` is hop-by-hop: CONNECTION, UPGRADE or OTHER_HOP. */
function hopName(h: HeaderMap, i: number): number {
  switch (h.nameLengthAt(i)) {
    case 2:
      return h.nameIs(i, "te") ? OTHER_HOP : 0;
    case 7:
      return h.nameIs(i, "upgrade") ? UPGRADE : h.nameIs(i, "trailer") ? OTHER_HOP : 0;
    case 10:
      return h.nameIs(i, "connection") ? CONNECTION : h.nameIs(i, "keep-alive") ? OTHER_HOP : 0;
    case 16:
      return h.nameIs(i, "proxy-connection") ? OTHER_HOP : 0;
    case 17:
      return h.nameIs(i, "transfer-encoding") ? OTHER_HOP : 0;
    default:
      return 0;
  }
}

/** Options for the forwarding fields. */
export interface ForwardingOptions {
  /**
   * Set `X-Forwarded-For`.
   * @default {true}
   */
  xForwardedFor?: boolean;
  /**
   * Set `X-Forwarded-Proto` (`http` or `https`).
   * @default {true}
   */
  xForwardedProto?: boolean;
  /**
   * Set `X-Forwarded-Host` from the request's Host (without a Host, remove
   * an untrusted client's).
   * @default {true}
   */
  xForwardedHost?: boolean;
  /**
   * Pseudonym appended to `Via` (`1.1 <via>`), or `false` for none.
   * @default {"cirque"}
   */
  via?: string | false;
  /**
   * Addresses or CIDR ranges of proxies in front of us. From a trusted peer the
   * incoming `X-Forwarded-*` fields are kept (and the client address appended
   * to `X-Forwarded-For`); from anyone else they are replaced.
   * @default {[]}
   */
  trustedProxies?: string[];
}

/** The client facts the forwarding fields need. */
export interface ForwardingFacts {
  /** Client IP (no port, no brackets). */
  clientIp: string;
  /** Whether the client used TLS. */
  tls: boolean;
  /** The Host (or HTTP/2 authority) the client asked for. */
  host: string;
  /** `1.0`, `1.1` or `2`. */
  version: string;
}

/**
 * Applies forwarding fields per {@linkcode ForwardingOptions}. Build once, call
 * per request.
 *
 * @example
 * ```ts
 * import { forwardingFilter } from "@cirque/proxy/forwarding";
 * import { HeaderMap } from "@cirque/core/http-header";
 * import assert from "node:assert/strict";
 *
 * const apply = forwardingFilter({ trustedProxies: ["10.0.0.0/8"] });
 * const h = new HeaderMap([["X-Forwarded-For", "1.2.3.4"]]);
 * apply(h, { clientIp: "10.1.2.3", tls: false, host: "a.test", version: "1.1" });
 * assert.equal(h.get("x-forwarded-for"), "1.2.3.4, 10.1.2.3");
 * const spoofed = new HeaderMap([["X-Forwarded-For", "1.2.3.4"]]);
 * apply(spoofed, { clientIp: "192.0.2.9", tls: true, host: "a.test", version: "2" });
 * assert.equal(spoofed.get("x-forwarded-for"), "192.0.2.9");
 * assert.equal(spoofed.get("via"), "2 cirque");
 * ```
 */
export function forwardingFilter(
  options: ForwardingOptions = {},
): (headers: HeaderMap, facts: ForwardingFacts) => void {
  const xff = options.xForwardedFor ?? true;
  const xfp = options.xForwardedProto ?? true;
  const xfh = options.xForwardedHost ?? true;
  const via = options.via ?? "cirque";
  const trusted = (options.trustedProxies ?? []).map(parseCidr);
  const via11 = `1.1 ${via}`;
  return function applyForwarding(headers: HeaderMap, facts: ForwardingFacts): void {
    const trust = trusted.length > 0 && trusted.some((c) => cidrContains(c, facts.clientIp));
    if (xff) {
      const prior = trust ? headers.getAll("x-forwarded-for").join(", ") : "";
      headers.set("X-Forwarded-For", prior === "" ? facts.clientIp : `${prior}, ${facts.clientIp}`);
    }
    if (xfp && !(trust && headers.has("x-forwarded-proto"))) {
      headers.set("X-Forwarded-Proto", facts.tls ? "https" : "http");
    }
    if (xfh && !(trust && headers.has("x-forwarded-host"))) {
      // No Host (HTTP/1.0, or empty): an untrusted client's value must not pass either.
      if (facts.host !== "") headers.set("X-Forwarded-Host", facts.host);
      else if (!trust) headers.delete("x-forwarded-host");
    }
    if (via !== false) {
      const prior = headers.has("via") ? headers.getAll("via").join(", ") : "";
      const mine = facts.version === "1.1" ? via11 : `${facts.version} ${via}`;
      headers.set("Via", prior === "" ? mine : `${prior}, ${mine}`);
    }
  };
}

/** A parsed address range. */
interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addr);
  if (bytes === undefined) {
    throw new TypeError(`Cannot parse trusted proxy: "${text}" is not an IP address or CIDR`);
  }
  const max = bytes.length * 8;
  const bits = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new RangeError(`Cannot parse trusted proxy: prefix of "${text}" is not 0-${max}`);
  }
  return { bytes, bits };
}

function cidrContains(c: Cidr, ip: string): boolean {
  const b = parseIp(ip);
  if (b === undefined || b.length !== c.bytes.length) return false;
  let bits = c.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}
