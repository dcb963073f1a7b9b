/**
 * The cache storage interface. A {@linkcode Storage} keeps response heads
 * ({@linkcode CacheMeta}) and bodies under string keys; the HTTP cache logic
 * on top of it is the same for every storage.
 *
 * @example A storage that stores nothing
 * ```ts
 * import type { Storage } from "@cirque/cache/storage";
 *
 * const none: Storage = {
 *   lookup: () => Promise.resolve(null),
 *   getMissHandler: () => Promise.resolve(null),
 *   purge: () => Promise.resolve(false),
 *   updateMeta: () => Promise.resolve(false),
 * };
 * ```
 *
 * @module
 */

import type { CacheMeta } from "./cache_meta.ts";
import type { ByteRange } from "./range.ts";

/** A stored (or still being stored) response found by {@linkcode Storage.lookup}. */
export interface CacheHit {
  /** The stored head and times. */
  readonly meta: CacheMeta;
  /** Whether the whole body is stored (false while a writer is still filling it). */
  readonly complete: boolean;
  /** Body size in bytes when {@linkcode CacheHit.complete}, else `null`. */
  readonly size: number | null;
  /**
   * Streams the body, or the slice `range` of it (complete entries only).
   * Reading an entry still being written yields bytes as they arrive and
   * errors if the writer fails.
   */
  body(range?: ByteRange): ReadableStream<Uint8Array>;
}

/** Writes one response body into a storage, streaming. */
export interface MissHandler {
  /**
   * Appends a chunk. Returns `false` when the storage gave up on this object
   * (e.g. it outgrew the maximum object size): stop writing; the entry is
   * dropped and readers of it see an error.
   */
  write(chunk: Uint8Array): boolean | Promise<boolean>;
  /** Marks the body complete and admits the entry; resolves to its size. */
  finish(): Promise<number>;
  /** Drops the partial entry; readers of it see `reason` as an error. */
  abort(reason?: unknown): void;
}

/** Options of {@linkcode Storage.getMissHandler}. */
export interface MissOptions {
  /** The body size if known (`Content-Length`), so over-size objects are refused up front. */
  sizeHint?: number | null;
}

/**
 * Where cached responses live. Implementations must pass the storage
 * conformance suite (`storage_conformance.ts`, run from a `_test.ts`).
 */
export interface Storage {
  /** The entry stored under `key` (complete, or still being written), or `null`. */
  lookup(key: string): Promise<CacheHit | null>;
  /**
   * Starts writing the response for `key`. Readers looking the key up from
   * now on see the new entry and stream it as it arrives. `null` when the
   * storage refuses the object (too large).
   */
  getMissHandler(key: string, meta: CacheMeta, options?: MissOptions): Promise<MissHandler | null>;
  /** Removes `key` (also an entry still being written); resolves whether something was removed. */
  purge(key: string): Promise<boolean>;
  /** Replaces the head of a stored entry (after a 304); resolves whether it existed. */
  updateMeta(key: string, meta: CacheMeta): Promise<boolean>;
}
