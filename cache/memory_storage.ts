/**
 * {@linkcode MemoryStorage}: an in-memory {@linkcode Storage} weighted by
 * bytes and evicting through {@linkcode TinyUfo}.
 *
 * @module
 */

import type { CacheMeta } from "./cache_meta.ts";
import type { ByteRange } from "./range.ts";
import type { CacheHit, MissHandler, MissOptions, Storage } from "./storage.ts";
import { TinyUfo } from "./tinyufo.ts";

/** Options of {@linkcode MemoryStorage}. */
export interface MemoryStorageOptions {
  /**
   * Total bytes kept (bodies plus an estimate of the heads), counting the
   * bodies still being written: finished entries are evicted to make room for
   * them; a known size is reserved whole up front (refused if it does not
   * fit), and when the writes in progress alone would exceed it the newest
   * write of unknown size is dropped (its response passes through uncached).
   * @default {134217728}
   */
  maxBytes?: number;
  /**
   * Largest body stored; larger responses are refused (known size) or
   * dropped when they outgrow it while streaming.
   * @default {8388608}
   */
  maxObjectSize?: number;
  /**
   * Expected mean object size, to size TinyUFO's frequency sketch.
   * @default {16384}
   */
  meanObjectSize?: number;
}

class Entry {
  readonly key: string;
  meta: CacheMeta;
  chunks: Uint8Array[] = [];
  size = 0;
  done = false;
  error: unknown = undefined;
  failed = false;
  dropped = false;
  /** Bytes counted toward the storage's in-flight total while it is written. */
  reserved = 0;
  /** Body bytes reserved up front (the size hint); writes reserve only beyond it. */
  prepaid = 0;
  #wake: (() => void)[] = [];

  constructor(key: string, meta: CacheMeta) {
    this.key = key;
    this.meta = meta;
  }

  wait(): Promise<void> {
    return new Promise((ok) => this.#wake.push(ok));
  }

  notify(): void {
    const w = this.#wake;
    this.#wake = [];
    for (const f of w) f();
  }

  get weight(): number {
    return this.size + headWeight(this.meta);
  }
}

/** The estimated bytes of a stored head. */
function headWeight(meta: CacheMeta): number {
  let h = 64;
  for (const p of meta.headers.pairs) h += p[0].length + p[1].length + 4;
  return h;
}

class MemoryHit implements CacheHit {
  readonly #e: Entry;
  readonly meta: CacheMeta;

  constructor(e: Entry) {
    this.#e = e;
    this.meta = e.meta;
  }

  get complete(): boolean {
    return this.#e.done;
  }

  get size(): number | null {
    return this.#e.done ? this.#e.size : null;
  }

  body(range?: ByteRange): ReadableStream<Uint8Array> {
    const e = this.#e;
    if (e.done) {
      const chunks = range === undefined ? e.chunks : slice(e.chunks, range);
      let i = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (i < chunks.length) c.enqueue(chunks[i++]!);
          if (i >= chunks.length) c.close();
        },
      }, { highWaterMark: 0 });
    }
    if (range !== undefined) throw new TypeError("Cannot read a range: the entry is incomplete");
    // The reader follows the writer by byte offset: when the entry completes,
    // `_admit` replaces its chunks by one contiguous buffer, and a reader still
    // behind must go on from the same byte, not from a chunk index.
    let list = e.chunks;
    let i = 0; // next chunk of `list`
    let base = 0; // offset of `list[i]` in the body
    let off = 0; // bytes delivered
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        for (;;) {
          if (e.chunks !== list) {
            list = e.chunks;
            i = 0;
            base = 0;
            while (i < list.length && base + list[i]!.byteLength <= off) {
              base += list[i++]!.byteLength;
            }
          }
          if (i < list.length) {
            const chunk = list[i]!;
            const out = off === base ? chunk : chunk.subarray(off - base);
            base += chunk.byteLength;
            i++;
            off += out.byteLength;
            c.enqueue(out);
            return;
          }
          if (e.failed) {
            c.error(e.error ?? new Error("cache write failed"));
            return;
          }
          if (e.done) {
            c.close();
            return;
          }
          await e.wait();
        }
      },
    }, { highWaterMark: 0 });
  }
}

function slice(chunks: readonly Uint8Array[], r: ByteRange): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (const c of chunks) {
    const s = off, e = off + c.byteLength;
    off = e;
    if (e <= r.start) continue;
    if (s >= r.end) break;
    out.push(c.subarray(Math.max(0, r.start - s), Math.min(c.byteLength, r.end - s)));
  }
  return out;
}

class MemoryMiss implements MissHandler {
  readonly #s: MemoryStorage;
  readonly #key: string;
  readonly #e: Entry;
  readonly #max: number;

  constructor(s: MemoryStorage, key: string, e: Entry, max: number) {
    this.#s = s;
    this.#key = key;
    this.#e = e;
    this.#max = max;
  }

  write(chunk: Uint8Array): boolean {
    const e = this.#e;
    if (e.done || e.failed) return false;
    if (e.size + chunk.byteLength > this.#max) {
      this.abort(new RangeError(`Cannot cache: the response outgrew ${this.#max} bytes`));
      return false;
    }
    if (chunk.byteLength === 0) return true;
    // Counted before it is kept; false when the storage dropped this write for room.
    const over = Math.min(chunk.byteLength, e.size + chunk.byteLength - e.prepaid);
    if (over > 0 && !this.#s._reserve(e, over)) return false;
    // Copy: the producer may reuse its buffer.
    e.chunks.push(chunk.slice());
    e.size += chunk.byteLength;
    e.notify();
    return true;
  }

  finish(): Promise<number> {
    const e = this.#e;
    if (e.failed) return Promise.reject(e.error);
    if (!e.done) {
      e.done = true;
      e.notify();
      this.#s._admit(this.#key, e);
    }
    return Promise.resolve(e.size);
  }

  abort(reason?: unknown): void {
    this.#s._fail(this.#e, reason ?? new Error("cache write aborted"));
  }
}

/**
 * Keeps cached responses in memory. Complete entries live in a
 * {@linkcode TinyUfo} weighted by bytes; entries being written are visible to
 * lookups at once, so concurrent readers stream them as they arrive.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "@cirque/cache/memory-storage";
 * import { CacheMeta } from "@cirque/cache/cache-meta";
 * import assert from "node:assert/strict";
 *
 * const storage = new MemoryStorage({ maxBytes: 1 << 20 });
 * const meta = new CacheMeta({ status: 200, headers: [], requestTime: 0, responseTime: 0, freshnessLifetime: 1000 });
 * const miss = await storage.getMissHandler("k", meta);
 * miss!.write(new TextEncoder().encode("hello"));
 * await miss!.finish();
 * const hit = await storage.lookup("k");
 * assert.equal(await new Response(hit!.body()).text(), "hello");
 * assert.equal(await new Response(hit!.body({ start: 1, end: 3 })).text(), "el");
 * ```
 */
export class MemoryStorage implements Storage {
  readonly #ufo: TinyUfo<string, Entry>;
  readonly #writing = new Map<string, Entry>();
  /** Entries being written, oldest first, and the bytes they hold (`Entry.reserved`). */
  readonly #active = new Set<Entry>();
  #inFlight = 0;
  readonly #maxBytes: number;
  readonly #maxObject: number;

  /** Creates an empty storage. */
  constructor(options: MemoryStorageOptions = {}) {
    const maxBytes = options.maxBytes ?? 128 * 1024 * 1024;
    this.#maxObject = options.maxObjectSize ?? 8 * 1024 * 1024;
    if (!(maxBytes >= 1)) throw new RangeError(`Cannot create MemoryStorage: maxBytes ${maxBytes}`);
    if (!(this.#maxObject >= 0)) {
      throw new RangeError(`Cannot create MemoryStorage: maxObjectSize ${this.#maxObject}`);
    }
    this.#maxBytes = Math.floor(maxBytes);
    const mean = options.meanObjectSize ?? 16 * 1024;
    this.#ufo = new TinyUfo({
      weightLimit: Math.floor(maxBytes),
      estimatedSize: Math.max(16, Math.ceil(maxBytes / mean)),
    });
  }

  /** Largest body stored, bytes. */
  get maxObjectSize(): number {
    return this.#maxObject;
  }

  /** Bytes held by complete entries. */
  get weight(): number {
    return this.#ufo.weight;
  }

  /** Bytes held by entries still being written (bodies so far plus heads). */
  get inFlightWeight(): number {
    return this.#inFlight;
  }

  /** Number of complete entries. */
  get size(): number {
    return this.#ufo.size;
  }

  /** See {@linkcode Storage.lookup}. */
  lookup(key: string): Promise<CacheHit | null> {
    const e = this.#writing.get(key) ?? this.#ufo.get(key);
    return Promise.resolve(e === undefined ? null : new MemoryHit(e));
  }

  /** See {@linkcode Storage.getMissHandler}. */
  getMissHandler(
    key: string,
    meta: CacheMeta,
    options: MissOptions = {},
  ): Promise<MissHandler | null> {
    const hint = options.sizeHint;
    if (hint !== undefined && hint !== null && hint > this.#maxObject) return Promise.resolve(null);
    const e = new Entry(key, meta);
    // A known size is reserved whole now, so that an accepted entry, which
    // readers may stream at once, is never dropped for room later.
    e.prepaid = hint ?? 0;
    this.#active.add(e);
    e.reserved = e.prepaid + headWeight(meta);
    this.#inFlight += e.reserved;
    if (this.#inFlight > this.#maxBytes) {
      this.#end(e);
      return Promise.resolve(null);
    }
    this.#makeRoom();
    this.#writing.set(key, e);
    return Promise.resolve(new MemoryMiss(this, key, e, this.#maxObject));
  }

  /** See {@linkcode Storage.purge}. */
  purge(key: string): Promise<boolean> {
    let found = false;
    const w = this.#writing.get(key);
    if (w !== undefined) {
      w.dropped = true;
      this.#writing.delete(key);
      found = true;
    }
    if (this.#ufo.remove(key) !== undefined) found = true;
    return Promise.resolve(found);
  }

  /** See {@linkcode Storage.updateMeta}. */
  updateMeta(key: string, meta: CacheMeta): Promise<boolean> {
    const e = this.#ufo.peek(key);
    if (e === undefined) return Promise.resolve(false);
    e.meta = meta;
    return Promise.resolve(true);
  }

  /**
   * @internal Counts `n` more bytes of `e` toward `maxBytes`: evicts finished
   * entries to make room, and if the bytes being written alone exceed it,
   * drops the newest writes of unknown size (nobody reads those before they
   * are complete). False when `e` itself was dropped.
   */
  _reserve(e: Entry, n: number): boolean {
    e.reserved += n;
    this.#inFlight += n;
    this.#makeRoom();
    // Each round drops one write, so at most #active.size rounds.
    while (this.#inFlight > this.#maxBytes && this.#active.size > 0) {
      let victim = e;
      for (const a of this.#active) if (a.prepaid === 0) victim = a;
      this.#fail(
        victim,
        new RangeError(`Cannot cache: responses being written exceed ${this.#maxBytes} bytes`),
      );
      if (victim === e) return false;
    }
    return true;
  }

  /** Evicts finished entries until they fit beside the bytes being written. */
  #makeRoom(): void {
    const room = this.#maxBytes - this.#inFlight;
    if (this.#ufo.weight > room) this.#ufo.evictTo(room);
  }

  /** @internal Fails a write: readers of it see `reason`; its bytes are released. */
  _fail(e: Entry, reason: unknown): void {
    this.#fail(e, reason);
  }

  #fail(e: Entry, reason: unknown): void {
    if (e.done || e.failed) return;
    e.failed = true;
    e.error = reason;
    e.chunks = [];
    e.notify();
    this.#end(e);
    if (this.#writing.get(e.key) === e) this.#writing.delete(e.key);
  }

  #end(e: Entry): void {
    this.#inFlight -= e.reserved;
    e.reserved = 0;
    this.#active.delete(e);
  }

  /** @internal Moves a finished entry into the eviction-managed set. */
  _admit(key: string, e: Entry): void {
    this.#end(e);
    if (this.#writing.get(key) === e) this.#writing.delete(key);
    if (e.dropped) return;
    if (e.chunks.length > 1) {
      // One contiguous buffer: fewer chunks on every hit.
      const all = new Uint8Array(e.size);
      let off = 0;
      for (const c of e.chunks) {
        all.set(c, off);
        off += c.byteLength;
      }
      e.chunks = [all];
    }
    this.#ufo.put(key, e, e.weight);
    // The bytes still being written keep their room.
    this.#makeRoom();
  }
}
