/**
 * {@linkcode FnvHash}: weighted selection by the FNV-1a 64-bit hash of a key.
 *
 * @example
 * ```ts
 * import { FnvHash } from "@cirque/lb/fnv-hash";
 * import { Backend } from "@cirque/lb/backend";
 * import assert from "node:assert/strict";
 *
 * const fnv = new FnvHash();
 * fnv.build(["127.0.0.1:1", "127.0.0.1:2"].map((a) => new Backend(a)));
 * assert.equal(fnv.select("user-42").next(), fnv.select("user-42").next());
 * ```
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import type { BackendIter, BackendSelection } from "./backend_selection.ts";
import { buildWeighted, EMPTY_TABLE, mod64, type WeightedTable } from "./_weighted.ts";

const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;

// One FNV-1a 64 round: h ^= byte; h *= 0x100000001b3 (= 2^40 + 0x1b3), on 32-bit halves.
// Writes the result into `out` ([hi, lo]).
function fnvByte(hi: number, lo: number, byte: number, out: Uint32Array): void {
  lo = (lo ^ byte) >>> 0;
  const low = lo * 0x1b3;
  const loOut = low >>> 0;
  const carry = Math.floor(low / 4294967296);
  out[0] = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0;
  out[1] = loOut;
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
 * assert.equal(((BigInt(hi!) << 32n) | BigInt(lo!)).toString(16), "af63dc4c8601ec8c");
 * ```
 */
export function fnv1a64(data: string | Uint8Array): Uint32Array {
  const out = new Uint32Array(2);
  fnvInto(data, out);
  return out;
}

const ENCODER = new TextEncoder();

function fnvInto(data: string | Uint8Array, out: Uint32Array): void {
  out[0] = OFFSET_HI;
  out[1] = OFFSET_LO;
  if (typeof data === "string") {
    let ascii = true;
    for (let i = 0; i < data.length; i++) {
      if (data.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      for (let i = 0; i < data.length; i++) fnvByte(out[0]!, out[1]!, data.charCodeAt(i), out);
      return;
    }
    data = ENCODER.encode(data);
  }
  for (let i = 0; i < data.length; i++) fnvByte(out[0]!, out[1]!, data[i]!, out);
}

// FNV-1a 64 of the 8 little-endian bytes of the u64 in `state`, in place.
function fnvU64(state: Uint32Array): void {
  const hi = state[0]!;
  const lo = state[1]!;
  state[0] = OFFSET_HI;
  state[1] = OFFSET_LO;
  for (let i = 0; i < 4; i++) fnvByte(state[0]!, state[1]!, (lo >>> (i * 8)) & 0xff, state);
  for (let i = 0; i < 4; i++) fnvByte(state[0]!, state[1]!, (hi >>> (i * 8)) & 0xff, state);
}

class FnvIter implements BackendIter {
  #table: WeightedTable;
  #state = new Uint32Array(2);
  #first = true;

  constructor(table: WeightedTable, key: string | Uint8Array) {
    this.#table = table;
    fnvInto(key, this.#state);
  }

  next(): Backend | undefined {
    const { backends, weighted } = this.#table;
    if (backends.length === 0) return undefined;
    const s = this.#state;
    if (this.#first) {
      this.#first = false;
      return backends[weighted[mod64(s[0]!, s[1]!, weighted.length)]!];
    }
    fnvU64(s);
    return backends[mod64(s[0]!, s[1]!, backends.length)];
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
