/**
 * Scratch buffers shared by many connections: a connection holds one only
 * while a write that uses it is in flight, so idle connections keep none.
 *
 * @module
 */

/**
 * A free list of byte buffers. A connection takes one to build outgoing bytes
 * (a response head and first body bytes, a request head, chunk frames) and
 * gives it back once every write that reads from it has completed, so memory
 * follows the writes in flight, not the connections open (as nginx frees its
 * buffers between keep-alive requests).
 *
 * @example
 * ```ts
 * import { BufferPool } from "@cirque/core/buffers";
 * import assert from "node:assert/strict";
 *
 * const pool = new BufferPool();
 * const buf = pool.take(300); // at least 300 bytes
 * // … fill it, `await conn.write(buf.subarray(0, n))` …
 * pool.give(buf); // only after the write completed
 * assert.equal(pool.take(100), buf);
 * ```
 */
export class BufferPool {
  readonly #free: Uint8Array[] = [];
  readonly #maxBytes: number;
  readonly #largest: number;
  #freeBytes = 0;

  /**
   * Keeps free buffers of at most `largest` bytes each, `maxBytes` in all.
   *
   * @param maxBytes Bytes kept in free buffers. @default {4194304} (4 MiB)
   * @param largest Largest buffer kept, in bytes. @default {266240} (260 KiB)
   */
  constructor(maxBytes = 4 * 1024 * 1024, largest = 260 * 1024) {
    this.#maxBytes = maxBytes;
    this.#largest = largest;
  }

  /** Free buffers right now. */
  get size(): number {
    return this.#free.length;
  }

  /** Bytes in free buffers right now. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A free buffer of at least `n` bytes (4 KiB at least), or a new one. */
  take(n: number): Uint8Array {
    const b = this.#free.pop();
    if (b !== undefined) {
      this.#freeBytes -= b.length;
      if (b.length >= n) return b;
    }
    // A smaller free buffer is dropped: the one that replaces it serves both sizes.
    return new Uint8Array(Math.max(n, 4096, b === undefined ? 0 : b.length * 2));
  }

  /** Returns a buffer that no pending write reads from any more. */
  give(b: Uint8Array): void {
    const l = b.length;
    if (l > 0 && l <= this.#largest && this.#freeBytes + l <= this.#maxBytes) {
      this.#free.push(b);
      this.#freeBytes += l;
    }
  }
}
