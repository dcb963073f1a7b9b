/**
 * A pool of idle upstream connections, keyed by reuse key, bounded in total
 * with least-recently-used eviction across keys.
 *
 * @module
 */

import { coarseNow, MAX_TIMER_MS } from "./deadline.ts";

/** Why an idle connection stopped being usable. */
export type IdleGoneReason = "closed" | "data";

/**
 * What the pool needs from a connection. The connection watches itself while
 * idle (for example with a pending read) and reports when the peer closed it
 * or sent bytes nobody asked for.
 */
export interface Poolable {
  /** Closes the connection (idempotent). */
  close(): void;
  /**
   * Called when the connection becomes idle in the pool. Returns a reason if
   * the connection is already unusable (then the pool drops it at once), else
   * `null` and later calls `onGone` at most once if it becomes unusable.
   */
  watchIdle(onGone: (reason: IdleGoneReason) => void): IdleGoneReason | null;
  /**
   * Called when the pool hands the connection out. Returns `false` if the
   * connection turned out unusable (the pool then drops it and tries the next).
   */
  unwatchIdle(): boolean;
}

/** Options of {@linkcode ConnectionPool}. */
export interface ConnectionPoolOptions {
  /**
   * Most idle connections over all keys; the least recently used is evicted.
   * @default {128}
   */
  maxIdle?: number;
  /**
   * Clock in milliseconds, injectable for tests. The default is
   * `performance.now()` read at most once per millisecond ({@linkcode coarseNow}).
   * @default {coarseNow}
   */
  clock?: () => number;
}

/** Counters of a {@linkcode ConnectionPool}. */
export interface PoolStats {
  /** Connections the owner created (reported with {@linkcode ConnectionPool.countCreated}). */
  created: number;
  /**
   * Connections handed out again: from the pool, or passed by the owner
   * straight to a waiting request ({@linkcode ConnectionPool.countReused}).
   */
  reused: number;
  /** Idle connections closed to make room (total or per-key bound). */
  evicted: number;
  /** Idle connections the peer closed. */
  closedByPeer: number;
  /** Idle connections dropped because bytes arrived or were left unread. */
  unexpectedData: number;
  /** Idle connections closed after their idle timeout. */
  idleExpired: number;
  /** Connections idle right now. */
  idle: number;
}

interface Entry<C> {
  key: string;
  conn: C;
  expires: number;
  /** Neighbours in the LRU list (least recently released first). */
  prev: Entry<C> | null;
  next: Entry<C> | null;
  /** Still idle in the pool (not taken, evicted or gone). */
  live: boolean;
}

/**
 * Idle connections by reuse key: per key a LIFO list (the most recently used
 * connection is handed out first, so surplus connections age out), across
 * keys a total bound with LRU eviction, an idle timeout per connection and a
 * background sweep that closes expired connections.
 *
 * A connection the peer closed, or on which unexpected bytes are waiting, is
 * never handed out: the pool asks the connection on release
 * ({@linkcode Poolable.watchIdle}) and on reuse ({@linkcode Poolable.unwatchIdle}),
 * and drops it as soon as its idle watch reports.
 *
 * @example
 * ```ts
 * import { ConnectionPool, type Poolable } from "@cirque/core/pool";
 * import assert from "node:assert/strict";
 *
 * class Fake implements Poolable {
 *   closed = false;
 *   close() { this.closed = true; }
 *   watchIdle() { return null; }
 *   unwatchIdle() { return true; }
 * }
 * const pool = new ConnectionPool<Fake>({ maxIdle: 1 });
 * const a = new Fake();
 * const b = new Fake();
 * pool.put("k1", a, 60_000);
 * pool.put("k2", b, 60_000); // evicts a, the least recently used
 * assert.equal(a.closed, true);
 * assert.equal(pool.take("k2"), b);
 * assert.equal(pool.take("k2"), undefined);
 * assert.equal(pool.stats.evicted, 1);
 * await pool.close();
 * ```
 */
export class ConnectionPool<C extends Poolable> {
  readonly #maxIdle: number;
  readonly #clock: () => number;
  readonly #byKey = new Map<string, Entry<C>[]>();
  // An intrusive list rather than a Set: a Set's table is rebuilt as entries
  // come and go, and once the pool is long-lived each rebuild is allocated in
  // V8's old space, which grows until a full collection.
  #oldest: Entry<C> | null = null;
  #newest: Entry<C> | null = null;
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;
  #stats: PoolStats = {
    created: 0,
    reused: 0,
    evicted: 0,
    closedByPeer: 0,
    unexpectedData: 0,
    idleExpired: 0,
    idle: 0,
  };

  /** Creates an empty pool. */
  constructor(options: ConnectionPoolOptions = {}) {
    const max = options.maxIdle ?? 128;
    if (!(max >= 0)) throw new RangeError(`Cannot create pool: maxIdle ${max} is negative`);
    this.#maxIdle = max;
    this.#clock = options.clock ?? coarseNow;
  }

  /** A snapshot of the counters. */
  get stats(): PoolStats {
    return { ...this.#stats, idle: this.#size };
  }

  /** Idle connections right now. */
  get size(): number {
    return this.#size;
  }

  /** Counts a connection the owner created (for {@linkcode PoolStats.created}). */
  countCreated(): void {
    this.#stats.created++;
  }

  /** Counts a connection the owner reused without pooling it (for {@linkcode PoolStats.reused}). */
  countReused(): void {
    this.#stats.reused++;
  }

  /**
   * Hands out the most recently released usable connection for `key`, or
   * `undefined`. Expired and unusable connections met on the way are closed.
   */
  take(key: string): C | undefined {
    const list = this.#byKey.get(key);
    if (list === undefined) return undefined;
    const now = this.#clock();
    let e: Entry<C> | undefined;
    while ((e = list.pop()) !== undefined) {
      this.#unlink(e);
      if (e.expires <= now) {
        this.#stats.idleExpired++;
        e.conn.close();
        continue;
      }
      if (!e.conn.unwatchIdle()) {
        this.#stats.closedByPeer++;
        e.conn.close();
        continue;
      }
      this.#stats.reused++;
      return e.conn;
    }
    return undefined;
  }

  /**
   * Releases `conn` as idle under `key` for at most `idleTimeout`
   * milliseconds, keeping at most `maxPerKey` idle connections for the key.
   * Returns whether the connection was kept (otherwise it was closed).
   */
  put(key: string, conn: C, idleTimeout: number, maxPerKey: number = Infinity): boolean {
    if (this.#closed || !(idleTimeout > 0) || !(maxPerKey > 0) || this.#maxIdle === 0) {
      conn.close();
      return false;
    }
    const e: Entry<C> = {
      key,
      conn,
      expires: this.#clock() + idleTimeout,
      prev: null,
      next: null,
      live: false,
    };
    const gone = conn.watchIdle((reason) => this.#gone(e, reason));
    if (gone !== null) {
      if (gone === "data") this.#stats.unexpectedData++;
      else this.#stats.closedByPeer++;
      conn.close();
      return false;
    }
    let list = this.#byKey.get(key);
    if ((list !== undefined && list.length >= maxPerKey) || this.#size >= this.#maxIdle) {
      if (list !== undefined) { while (list.length >= maxPerKey) this.#evict(list[0]!); }
      while (this.#size >= this.#maxIdle) this.#evict(this.#oldest!);
      list = this.#byKey.get(key); // evicting a key's last entry deleted its list
    }
    if (list === undefined) this.#byKey.set(key, list = []);
    list.push(e);
    this.#link(e);
    if (e.expires < this.#timerAt) this.#schedule(e.expires);
    return true;
  }

  /** Closes idle connections whose idle timeout has passed; returns how many. */
  sweep(): number {
    const now = this.#clock();
    let n = 0;
    let next = Infinity;
    for (let e = this.#oldest, after: Entry<C> | null; e !== null; e = after) {
      after = e.next;
      if (e.expires <= now) {
        this.#remove(e);
        this.#stats.idleExpired++;
        e.conn.close();
        n++;
      } else if (e.expires < next) next = e.expires;
    }
    if (next !== Infinity) this.#schedule(next);
    return n;
  }

  /** Closes every idle connection; later releases close their connection. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let e = this.#oldest; e !== null; e = e.next) {
      e.live = false;
      e.conn.close();
    }
    this.#oldest = this.#newest = null;
    this.#size = 0;
    this.#byKey.clear();
    return Promise.resolve();
  }

  #evict(e: Entry<C>): void {
    this.#remove(e);
    this.#stats.evicted++;
    e.conn.close();
  }

  /** Appends `e` as the most recently released entry. */
  #link(e: Entry<C>): void {
    e.live = true;
    e.prev = this.#newest;
    e.next = null;
    if (this.#newest !== null) this.#newest.next = e;
    else this.#oldest = e;
    this.#newest = e;
    this.#size++;
  }

  #unlink(e: Entry<C>): void {
    if (!e.live) return;
    e.live = false;
    const { prev, next } = e;
    if (prev !== null) prev.next = next;
    else this.#oldest = next;
    if (next !== null) next.prev = prev;
    else this.#newest = prev;
    e.prev = e.next = null;
    this.#size--;
  }

  #remove(e: Entry<C>): void {
    this.#unlink(e);
    const list = this.#byKey.get(e.key);
    if (list === undefined) return;
    const i = list.indexOf(e);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(e.key);
  }

  #gone(e: Entry<C>, reason: IdleGoneReason): void {
    if (!e.live) return;
    this.#remove(e);
    if (reason === "data") this.#stats.unexpectedData++;
    else this.#stats.closedByPeer++;
    e.conn.close();
  }

  #schedule(at: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    // Capped: a longer timer fires at once (an idle timeout near 2³¹ ms would spin);
    // one that fires early sweeps nothing and schedules the rest.
    const delay = Math.min(Math.max(0, at - this.#clock()) + 1, MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.sweep();
    }, delay);
    Deno.unrefTimer(this.#timer);
  }
}
