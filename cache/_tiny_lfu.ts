/**
 * TinyLFU frequency sketch (private): a count-min sketch of 8-bit saturating
 * counters, aged by halving every counter after `8 × estimatedSize` increments.
 *
 * @module
 */

import { fmix32 } from "./_hash.ts";

/** The sketch behind TinyUFO's admission decisions. Fields are plain for speed. */
export class TinyLfu {
  /** Number of rows (hash functions): `max(⌈log₂ n⌉, 2)`. */
  readonly rows: number;
  /** Counters per row: `max(⌈e·n⌉, 16)`. */
  readonly slots: number;
  /** `rows × slots` counters, row-major (padded to whole 32-bit words). */
  readonly table: Uint8Array;
  /** The same memory as 32-bit words, for ageing four counters at a time. */
  readonly words: Uint32Array;
  /** Per-row hash salt. */
  readonly salts: Int32Array;
  /** Per-row odd multiplier. */
  readonly mults: Int32Array;
  /** `slots / 2³²`, for range reduction above 65,536 slots. */
  readonly scale: number;
  /** Increments since the last ageing. */
  window = 0;
  /** Increments between two ageings. */
  readonly windowLimit: number;

  /** Sizes the sketch as `optimal_paras(items)` in Pingora's tinyufo. */
  constructor(estimatedSize: number) {
    this.slots = Math.max(Math.ceil(Math.E * estimatedSize), 16);
    this.rows = Math.max(Math.ceil(Math.log2(estimatedSize)), 2);
    const bytes = this.rows * this.slots;
    this.table = new Uint8Array(bytes + ((4 - (bytes & 3)) & 3));
    this.words = new Uint32Array(this.table.buffer);
    this.windowLimit = estimatedSize * 8;
    // Row r hashes with its own salt and odd multiplier; the slot comes from the
    // product's high bits (multiply-shift range reduction: 16-bit integer arithmetic up
    // to 65,536 slots, floating point above), so rows are independent.
    this.scale = this.slots / 4294967296;
    this.salts = new Int32Array(this.rows);
    this.mults = new Int32Array(this.rows);
    for (let r = 0; r < this.rows; r++) {
      this.salts[r] = fmix32(0x7f4a7c15 + r);
      this.mults[r] = fmix32(0x2545f491 ^ Math.imul(r + 1, 0x9e3779b9)) | 1;
    }
  }

  /** Counts one more occurrence of `hash`; returns the new estimate. */
  incr(hash: number): number {
    if (this.window++ === this.windowLimit) {
      this.window = 0;
      this.age();
    }
    const table = this.table, salts = this.salts, mults = this.mults;
    const slots = this.slots, rows = this.rows;
    let min = 255;
    if (slots <= 0x10000) {
      for (let r = 0, base = 0; r < rows; r++, base += slots) {
        const x = Math.imul(hash ^ salts[r]!, mults[r]!);
        const i = base + (Math.imul(x >>> 16, slots) >>> 16);
        let c = table[i]!;
        if (c < 255) table[i] = ++c;
        if (c < min) min = c;
      }
    } else {
      const scale = this.scale;
      for (let r = 0, base = 0; r < rows; r++, base += slots) {
        const x = Math.imul(hash ^ salts[r]!, mults[r]!);
        const i = base + ((x >>> 0) * scale | 0);
        let c = table[i]!;
        if (c < 255) table[i] = ++c;
        if (c < min) min = c;
      }
    }
    return min;
  }

  /** The estimated count of `hash`. */
  get(hash: number): number {
    const table = this.table, salts = this.salts, mults = this.mults;
    const slots = this.slots, rows = this.rows;
    let min = 255;
    if (slots <= 0x10000) {
      for (let r = 0, base = 0; r < rows; r++, base += slots) {
        const x = Math.imul(hash ^ salts[r]!, mults[r]!);
        const c = table[base + (Math.imul(x >>> 16, slots) >>> 16)]!;
        if (c < min) min = c;
      }
    } else {
      const scale = this.scale;
      for (let r = 0, base = 0; r < rows; r++, base += slots) {
        const x = Math.imul(hash ^ salts[r]!, mults[r]!);
        const c = table[base + ((x >>> 0) * scale | 0)]!;
        if (c < min) min = c;
      }
    }
    return min;
  }

  /**
   * Counts one more occurrence of `hash` and tells whether the estimated count of
   * `other` is then above that of `hash` (TinyLFU's admission test), in one pass.
   */
  incrAndCompare(hash: number, other: number): boolean {
    if (this.window++ === this.windowLimit) {
      this.window = 0;
      this.age();
    }
    const table = this.table, salts = this.salts, mults = this.mults;
    const slots = this.slots, rows = this.rows;
    let min = 255, otherMin = 255;
    if (slots <= 0x10000) {
      for (let r = 0, base = 0; r < rows; r++, base += slots) {
        const s = salts[r]!, m = mults[r]!;
        const i = base + (Math.imul(Math.imul(hash ^ s, m) >>> 16, slots) >>> 16);
        const j = base + (Math.imul(Math.imul(other ^ s, m) >>> 16, slots) >>> 16);
        let c = table[i]!;
        if (c < 255) table[i] = ++c;
        if (c < min) min = c;
        const o = table[j]!;
        if (o < otherMin) otherMin = o;
      }
    } else {
      const scale = this.scale;
      for (let r = 0, base = 0; r < rows; r++, base += slots) {
        const s = salts[r]!, m = mults[r]!;
        const i = base + ((Math.imul(hash ^ s, m) >>> 0) * scale | 0);
        const j = base + ((Math.imul(other ^ s, m) >>> 0) * scale | 0);
        let c = table[i]!;
        if (c < 255) table[i] = ++c;
        if (c < min) min = c;
        const o = table[j]!;
        if (o < otherMin) otherMin = o;
      }
    }
    return otherMin > min;
  }

  /** Bytes used by the counters. */
  get byteLength(): number {
    return this.table.byteLength;
  }

  /** Halves every counter. */
  age(): void {
    const w = this.words;
    for (let i = 0; i < w.length; i++) w[i] = (w[i]! >>> 1) & 0x7f7f7f7f;
  }
}
