// Parsing of backend address strings ("host:port", "[v6]:port", "unix:/path").

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

/** Parses dotted-quad IPv4 the strict way (no leading zeros, four parts). */
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

/** Parses an IPv6 literal (no brackets, no zone) into 16 bytes. */
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

/** Formats IPv6 bytes as Rust's `Ipv6Addr` Display does (RFC 5952 style). */
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
