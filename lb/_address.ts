// Parsing of backend address strings ("host:port", "[v6]:port", "unix:/path").

import { parseIpv4, parseIpv6 } from "@cirque/core/ip";

export { formatIpv6, parseIpv4, parseIpv6 } from "@cirque/core/ip";

/** A parsed backend address. */
export interface ParsedAddress {
  /** "ipv4", "ipv6", a DNS "name", or a "unix" socket path. */
  kind: "ipv4" | "ipv6" | "name" | "unix";
  /** Host without brackets (IPv6), or the socket path for "unix". */
  host: string;
  /** Port number, or undefined when the address has none. */
  port: number | undefined;
  /** The 4 or 16 address bytes for IP kinds. */
  bytes: Uint8Array | undefined;
}

function parsePort(text: string, address: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) {
    throw new TypeError(`Cannot parse address "${address}": invalid port "${text}"`);
  }
  return Number(text);
}

/** Parses a backend address; throws `TypeError` for malformed input. */
export function parseAddress(address: string): ParsedAddress {
  if (address.length === 0) throw new TypeError("Cannot parse address: it is empty");
  if (address.startsWith("unix:")) {
    return { kind: "unix", host: address.slice(5), port: undefined, bytes: undefined };
  }
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    const bytes = close === -1 ? undefined : parseIpv6(address.slice(1, close));
    if (bytes === undefined) {
      throw new TypeError(`Cannot parse address "${address}": invalid IPv6 literal`);
    }
    const rest = address.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      throw new TypeError(`Cannot parse address "${address}": junk after "]"`);
    }
    const port = rest === "" ? undefined : parsePort(rest.slice(1), address);
    return { kind: "ipv6", host: address.slice(1, close), port, bytes };
  }
  const colons = address.split(":").length - 1;
  if (colons > 1) {
    const bytes = parseIpv6(address);
    if (bytes === undefined) {
      throw new TypeError(`Cannot parse address "${address}": invalid IPv6 literal`);
    }
    return { kind: "ipv6", host: address, port: undefined, bytes };
  }
  const [host, portText] = colons === 1 ? address.split(":") as [string, string] : [address];
  if (host === "") throw new TypeError(`Cannot parse address "${address}": empty host`);
  const port = portText === undefined ? undefined : parsePort(portText, address);
  const v4 = parseIpv4(host);
  if (v4 !== undefined) return { kind: "ipv4", host, port, bytes: v4 };
  if (!/^[A-Za-z0-9_.-]+$/.test(host)) {
    throw new TypeError(`Cannot parse address "${address}": invalid host "${host}"`);
  }
  return { kind: "name", host, port, bytes: undefined };
}
