/**
 * A ketama consistent-hash ring that reproduces nginx's
 * `hash $key consistent` exactly, or pingora-ketama with
 * `{ compat: "pingora" }`.
 *
 * @example
 * ```ts
 * import { Continuum } from "@cirque/lb/ketama";
 * import assert from "node:assert/strict";
 *
 * const ring = new Continuum([
 *   { address: "127.0.0.1:7777", weight: 1 },
 *   { address: "127.0.0.1:7778", weight: 1 },
 * ]);
 * assert.equal(ring.node("/some/path"), "127.0.0.1:7778");
 * ```
 *
 * @module
 */

import {
  CRC32_INIT,
  crc32Final,
  crc32Update,
  crc32UpdateString,
  crc32UpdateU32,
} from "./_crc32.ts";
import { formatIpv6, parseAddress } from "./_address.ts";

/** One server on the ring. */
export interface ContinuumBucket {
  /** The server as written in nginx's `server` line (`host:port`, `[v6]:port`, `host`). */
  address: string;
  /** Positive integer weight; the server gets `weight × pointsPerWeight` points. */
  weight: number;
}

/** Options of {@linkcode Continuum}. */
export interface ContinuumOptions {
  /**
   * Which implementation to reproduce. `"nginx"` hashes each address as nginx
   * hashes its config text (host and port split at the last `:`, IPv6 with
   * its brackets, an omitted port hashed as empty, hostnames as written).
   * `"pingora"` hashes as pingora-ketama: the address must be an IP literal
   * with a port; IPv6 is printed without brackets in canonical form and the
   * port as a decimal number.
   * @default {"nginx"}
   */
  compat?: "nginx" | "pingora";
  /**
   * Ring points per unit of weight.
   * @default {160}
   */
  pointsPerWeight?: number;
}

/** The number of ring points per weight unit used by nginx and pingora-ketama. */
export const DEFAULT_POINTS_PER_WEIGHT = 160;

// A point is sorted as `hash * NODE_SPACE + bucketIndex`: exact in a float64
// (2^32 * 2^21 = 2^53), and equal hashes order by configuration order.
const NODE_SPACE = 2 ** 21;

/** The CRC register after "host\0port" for one bucket. */
function baseState(address: string, compat: "nginx" | "pingora"): number {
  if (compat === "pingora") {
    const parsed = parseAddress(address);
    if ((parsed.kind !== "ipv4" && parsed.kind !== "ipv6") || parsed.port === undefined) {
      throw new TypeError(
        `Cannot add "${address}" to a pingora-compatible ring: expected an IP address with a port`,
      );
    }
    const host = parsed.kind === "ipv6" ? formatIpv6(parsed.bytes!) : parsed.host;
    let state = crc32UpdateString(CRC32_INIT, host);
    state = crc32Update(state, new Uint8Array(1));
    return crc32UpdateString(state, String(parsed.port));
  }
  // nginx (ngx_http_upstream_init_chash): "unix:" prefix stripped; else scan
  // from the end over digits, a ':' splits host and port, anything else means
  // there is no port.
  let host = address;
  let port = "";
  if (address.length >= 5 && address.slice(0, 5).toLowerCase() === "unix:") {
    host = address.slice(5);
  } else {
    for (let j = 0; j < address.length; j++) {
      const c = address.charCodeAt(address.length - j - 1);
      if (c === 0x3a) {
        host = address.slice(0, address.length - j - 1);
        port = address.slice(address.length - j);
        break;
      }
      if (c < 0x30 || c > 0x39) break;
    }
  }
  let state = crc32UpdateString(CRC32_INIT, host);
  state = crc32Update(state, new Uint8Array(1));
  return crc32UpdateString(state, port);
}

/**
 * A consistent-hash ring of servers.
 *
 * @example Weighted ring (pingora-ketama's crate example)
 * ```ts
 * import { Continuum } from "@cirque/lb/ketama";
 * import assert from "node:assert/strict";
 *
 * const ring = new Continuum([
 *   { address: "127.0.0.1:12345", weight: 1 },
 *   { address: "127.0.0.2:12345", weight: 2 },
 *   { address: "127.0.0.3:12345", weight: 3 },
 * ]);
 * assert.equal(ring.node("some_key"), "127.0.0.3:12345");
 * assert.equal(ring.node("last_key"), "127.0.0.2:12345");
 * ```
 */
export class Continuum {
  #addresses: string[];
  #hashes: Uint32Array;
  #buckets: Uint32Array;

  /** Builds the ring; throws `RangeError` for a weight that is not a positive integer. */
  constructor(buckets: readonly ContinuumBucket[], options: ContinuumOptions = {}) {
    const compat = options.compat ?? "nginx";
    const perWeight = options.pointsPerWeight ?? DEFAULT_POINTS_PER_WEIGHT;
    if (!Number.isInteger(perWeight) || perWeight < 1) {
      throw new RangeError(`Cannot build a ring: pointsPerWeight ${perWeight} is not positive`);
    }
    if (buckets.length >= NODE_SPACE) {
      throw new RangeError(`Cannot build a ring: ${buckets.length} buckets is too many`);
    }
    let total = 0;
    for (const b of buckets) {
      if (!Number.isInteger(b.weight) || b.weight < 1) {
        throw new RangeError(
          `Cannot add "${b.address}" to a ring: weight ${b.weight} is not a positive integer`,
        );
      }
      total += b.weight * perWeight;
    }
    this.#addresses = buckets.map((b) => b.address);
    const keys = new Float64Array(total);
    let n = 0;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      const base = baseState(b.address, compat);
      let prev = 0;
      for (let j = b.weight * perWeight; j > 0; j--) {
        const h = crc32Final(crc32UpdateU32(base, prev));
        keys[n++] = h * NODE_SPACE + i;
        prev = h;
      }
    }
    keys.sort();
    const hashes = new Uint32Array(total);
    const nodes = new Uint32Array(total);
    let m = 0;
    for (let i = 0; i < total; i++) {
      const k = keys[i]!;
      const h = Math.floor(k / NODE_SPACE);
      if (m > 0 && hashes[m - 1] === h) continue; // equal point: the first-configured server keeps it
      hashes[m] = h;
      nodes[m] = k - h * NODE_SPACE;
      m++;
    }
    this.#hashes = hashes.subarray(0, m);
    this.#buckets = nodes.subarray(0, m);
  }

  /** The number of distinct points on the ring. */
  get size(): number {
    return this.#hashes.length;
  }

  /**
   * The ring position a key maps to: the first point whose hash is ≥ CRC32(key),
   * wrapping to 0. Returns -1 on an empty ring.
   */
  pointIndex(key: string | Uint8Array): number {
    const hashes = this.#hashes;
    if (hashes.length === 0) return -1;
    const h = crc32Final(
      typeof key === "string" ? crc32UpdateString(CRC32_INIT, key) : crc32Update(CRC32_INIT, key),
    );
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === hashes.length ? 0 : lo;
  }

  /** The index (in the constructor's list) of the bucket owning ring point `point`. */
  bucketAt(point: number): number {
    return this.#buckets[point % this.#buckets.length]!;
  }

  /**
   * The server for a key: its `address` exactly as given, or `undefined` when
   * the ring is empty.
   *
   * @example
   * ```ts
   * import { Continuum } from "@cirque/lb/ketama";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Continuum([]).node("k"), undefined);
   * ```
   */
  node(key: string | Uint8Array): string | undefined {
    const p = this.pointIndex(key);
    return p === -1 ? undefined : this.#addresses[this.#buckets[p]!];
  }

  /**
   * Walks the ring from the key's point: one address per point, forever
   * (an address repeats as the walk passes its other points). Yields nothing
   * on an empty ring. Break out of the loop yourself.
   *
   * @example Failover order
   * ```ts
   * import { Continuum } from "@cirque/lb/ketama";
   * import assert from "node:assert/strict";
   *
   * const ring = new Continuum([7777, 7778, 7779].map((p) => ({
   *   address: `127.0.0.1:${p}`,
   *   weight: 1,
   * })));
   * const first: string[] = [];
   * for (const address of ring.nodeIter("doghash")) {
   *   first.push(address);
   *   if (first.length === 3) break;
   * }
   * assert.deepEqual(first, ["127.0.0.1:7778", "127.0.0.1:7779", "127.0.0.1:7779"]);
   * ```
   */
  *nodeIter(key: string | Uint8Array): Generator<string, void, undefined> {
    let p = this.pointIndex(key);
    if (p === -1) return;
    const n = this.#buckets.length;
    while (true) {
      yield this.#addresses[this.#buckets[p]!]!;
      p = p + 1 === n ? 0 : p + 1;
    }
  }
}
