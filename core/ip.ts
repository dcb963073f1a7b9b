/**
 * IP address literals: strict parsing to bytes and RFC 5952 text. One
 * implementation for every package (load balancing, forwarding, rate limits).
 *
 * @example
 * ```ts
 * import { formatIpv6, parseIp } from "@cirque/core/ip";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseIp("192.0.2.1"), new Uint8Array([192, 0, 2, 1]));
 * assert.equal(formatIpv6(parseIp("[2001:db8:0:0:0:0:0:1]")!), "2001:db8::1");
 * assert.equal(parseIp("not-an-ip"), undefined);
 * ```
 *
 * @module
 */

/**
 * Parses dotted-quad IPv4 the strict way (no leading zeros, four parts).
 *
 * @example
 * ```ts
 * import { parseIpv4 } from "@cirque/core/ip";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseIpv4("010.0.0.1"), undefined);
 * ```
 */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/**
 * Parses an IPv6 literal (no brackets, no zone) into 16 bytes.
 *
 * @example
 * ```ts
 * import { parseIpv6 } from "@cirque/core/ip";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseIpv6("::1")?.[15], 1);
 * ```
 */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || !text.includes(":")) return undefined;
  let tail: Uint8Array | undefined;
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) !== -1) {
    tail = parseIpv4(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    body = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === undefined || rest === undefined) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return undefined;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    if (head.length !== 8) return undefined;
    groups = head;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 0xff;
  }
  if (tail !== undefined) out.set(tail, 12);
  return out;
}

/**
 * Formats IPv6 bytes as RFC 5952 text (lower-case, the longest run of two or
 * more zero groups as `::`), and IPv4-mapped addresses as `::ffff:a.b.c.d`,
 * as Rust's `Ipv6Addr` does.
 *
 * @example
 * ```ts
 * import { formatIpv6, parseIpv6 } from "@cirque/core/ip";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatIpv6(parseIpv6("0:0:0:0:0:ffff:c000:201")!), "::ffff:192.0.2.1");
 * ```
 */
export function formatIpv6(bytes: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestLen > 1) {
    return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
  }
  return hex(g);
}

/**
 * Parses an IPv4 or IPv6 address (IPv6 optionally in brackets, a zone
 * `%eth0` ignored) into 4 or 16 bytes, or `undefined`.
 *
 * @example
 * ```ts
 * import { parseIp } from "@cirque/core/ip";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseIp("[fe80::1%eth0]")?.length, 16);
 * ```
 */
export function parseIp(text: string): Uint8Array | undefined {
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  if (!text.includes(":")) return parseIpv4(text);
  const zone = text.indexOf("%");
  return parseIpv6(zone < 0 ? text : text.slice(0, zone));
}
