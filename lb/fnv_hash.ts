/**
 * {@linkcode FnvHash}: weighted selection by the FNV-1a 64-bit hash of a key.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { BackendIter, BackendSelection } from "./backend_selection.ts";
import { buildWeighted, EMPTY_TABLE, mod64, type WeightedTable } from "./_weighted.ts";

const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;

// FNV-1a 64 on 32-bit halves: h ^= byte; h *= 0x100000001b3 (= 2^40 + 0x1b3).
// The result lands in OUT ([hi, lo]): a typed array, so storing 32-bit values
// allocates nothing (module-level numbers above 2^30 would be boxed).
const OUT = new Uint32Array(2);

function fnvBytes(hi: number, lo: number, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) {
    const x = (lo ^ bytes[i]!) >>> 0;
    const low = x * 0x1b3;
    lo = low >>> 0;
    hi = (Math.imul(hi, 0x1b3) + (low - lo) / 4294967296 + (x << 8)) >>> 0;
  }
  OUT[0] = hi;
  OUT[1] = lo;
}

const ENCODER = new TextEncoder();

function fnvString(text: string): void {
  let hi = OFFSET_HI;
  let lo = OFFSET_LO;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return fnvBytes(OFFSET_HI, OFFSET_LO, ENCODER.encode(text));
    const x = (lo ^ c) >>> 0;
    const low = x * 0x1b3;
    lo = low >>> 0;
    hi = (Math.imul(hi, 0x1b3) + (low - lo) / 4294967296 + (x << 8)) >>> 0;
  }
  OUT[0] = hi;
  OUT[1] = lo;
}

function fnvKey(data: string | Uint8Array): void {
  if (typeof data === "string") fnvString(data);
  else fnvBytes(OFFSET_HI, OFFSET_LO, data);
}

/**
 * FNV-1a 64 of bytes or of a string's UTF-8 encoding, as `[hi, lo]` 32-bit halves.
 *
 * @example
 * ```ts
 * import { fnv1a64 } from "@cirque/lb/fnv-hash";
 * import assert from "node:assert/strict";
 *
 * const [hi, lo] = fnv1a64("a");
 * assert.equal(((BigInt(hi) << 32n) | BigInt(lo)).toString(16), "af63dc4c8601ec8c");
 * ```
 */
export function fnv1a64(data: string | Uint8Array): [hi: number, lo: number] {
  fnvKey(data);
  return [OUT[0]!, OUT[1]!];
}

// FNV-1a 64 of the 8 little-endian bytes of the u64 (hi, lo), into OUT.
function fnvU64(hi: number, lo: number): void {
  let h = OFFSET_HI;
  let l = OFFSET_LO;
  for (let i = 0; i < 8; i++) {
    const byte = i < 4 ? (lo >>> (i * 8)) & 0xff : (hi >>> ((i - 4) * 8)) & 0xff;
    const x = (l ^ byte) >>> 0;
    const low = x * 0x1b3;
    l = low >>> 0;
    h = (Math.imul(h, 0x1b3) + (low - l) / 4294967296 + (x << 8)) >>> 0;
  }
  OUT[0] = h;
  OUT[1] = l;
}

// The 64-bit state is kept as four 16-bit small integers: fields holding
// 32-bit values would be boxed on every update.
class FnvIter implements BackendIter {
  #table: WeightedTable;
  #h1: number;
  #h0: number;
  #l1: number;
  #l0: number;
  #first = true;

  constructor(table: WeightedTable, key: string | Uint8Array) {
    this.#table = table;
    fnvKey(key);
    this.#h1 = OUT[0]! >>> 16;
    this.#h0 = OUT[0]! & 0xffff;
    this.#l1 = OUT[1]! >>> 16;
    this.#l0 = OUT[1]! & 0xffff;
  }

  next(): Backend | undefined {
    const { backends, weighted } = this.#table;
    if (backends.length === 0) return undefined;
    const hi = ((this.#h1 << 16) | this.#h0) >>> 0;
    const lo = ((this.#l1 << 16) | this.#l0) >>> 0;
    if (this.#first) {
      this.#first = false;
      return backends[weighted[mod64(hi, lo, weighted.length)]!];
    }
    fnvU64(hi, lo);
    const nhi = OUT[0]!;
    const nlo = OUT[1]!;
    this.#h1 = nhi >>> 16;
    this.#h0 = nhi & 0xffff;
    this.#l1 = nlo >>> 16;
    this.#l0 = nlo & 0xffff;
    return backends[mod64(nhi, nlo, backends.length)];
  }
}

/**
 * Pingora's `FNVHash`: the first pick is `weighted[fnv(key) % totalWeight]`;
 * each fallback re-hashes the previous 64-bit value (8 little-endian bytes)
 * and picks `backends[h % count]`, ignoring weights.
 *
 * @example
 * ```ts
 * import { FnvHash } from "@cirque/lb/fnv-hash";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const fnv = new FnvHash();
 * fnv.build([
 *   new Backend("1.1.1.1:80"),
 *   new Backend("1.0.0.1:80", { weight: 10 }),
 *   new Backend("1.0.0.255:80"),
 * ]);
 * assert.equal(fnv.select("test3").next()?.address, "1.0.0.255:80");
 * ```
 */
export class FnvHash implements BackendSelection {
  #table: WeightedTable = EMPTY_TABLE;

  /** Replaces the backend set. */
  build(backends: readonly Backend[]): void {
    this.#table = buildWeighted(backends);
  }

  /** Starts the failover sequence for `key`. */
  select(key: string | Uint8Array): BackendIter {
    return new FnvIter(this.#table, key);
  }
}
