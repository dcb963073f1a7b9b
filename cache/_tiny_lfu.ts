/**
 * TinyLFU frequency sketch (private): a count-min sketch of 8-bit saturating
 * counters, aged by halving every counter after `8 × estimatedSize` increments.
 *
 * @module
 */

import { fmix32 } from "./_hash.ts";

/** The sketch behind TinyUFO's admission decisions. */
export class TinyLfu {
  readonly rows: number;
  readonly slots: number;
  #table: Uint8Array;
  #words: Uint32Array;
  #window = 0;
  #windowLimit: number;

  /** Sizes the sketch as `optimal_paras(items)` in Pingora's tinyufo. */
  constructor(estimatedSize: number) {
    this.slots = Math.max(Math.ceil(Math.E * estimatedSize), 16);
    this.rows = Math.max(Math.ceil(Math.log2(estimatedSize)), 2);
    const bytes = this.rows * this.slots;
    this.#table = new Uint8Array(bytes + ((4 - (bytes & 3)) & 3));
    this.#words = new Uint32Array(this.#table.buffer);
    this.#windowLimit = estimatedSize * 8;
  }

  /** Counts one more occurrence of `hash`; returns the new estimate. */
  incr(hash: number): number {
    if (this.#window++ === this.#windowLimit) {
      this.#window = 0;
      this.#age();
    }
    const table = this.#table;
    const slots = this.slots;
    let min = 255;
    for (let r = 0, base = 0; r < this.rows; r++, base += slots) {
      const i = base + fmix32(hash + Math.imul(r, 0x9e3779b9)) % slots;
      let c = table[i]!;
      if (c < 255) table[i] = ++c;
      if (c < min) min = c;
    }
    return min;
  }

  /** The estimated count of `hash`. */
  get(hash: number): number {
    const table = this.#table;
    const slots = this.slots;
    let min = 255;
    for (let r = 0, base = 0; r < this.rows; r++, base += slots) {
      const c = table[base + fmix32(hash + Math.imul(r, 0x9e3779b9)) % slots]!;
      if (c < min) min = c;
    }
    return min;
  }

  /** Bytes used by the counters. */
  get byteLength(): number {
    return this.#table.byteLength;
  }

  #age(): void {
    const w = this.#words;
    for (let i = 0; i < w.length; i++) w[i] = (w[i]! >>> 1) & 0x7f7f7f7f;
  }
}
