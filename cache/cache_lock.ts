/**
 * {@linkcode CacheLock}: one writer per cache key. Concurrent misses for a
 * key make one upstream request; the others wait for the writer and then
 * read the new entry, or go upstream themselves if it gives up.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";

/**
 * Why a wait ended (Pingora's `LockStatus`): `done` → look the key up again;
 * `transient-error` → compete to become the writer; `give-up` (the response
 * was uncacheable) → go upstream without the cache; `wait-timeout` → go
 * upstream without the cache; `age-timeout` (the writer held the lock too
 * long) → compete again.
 */
export type LockStatus = "done" | "transient-error" | "give-up" | "wait-timeout" | "age-timeout";

/** How a writer releases its lock. */
export type ReleaseStatus = "done" | "transient-error" | "give-up";

/** Options of {@linkcode CacheLock}. */
export interface CacheLockOptions {
  /**
   * A writer holding the lock longer than this (ms) loses it: waiters are
   * released with `age-timeout` and the next request becomes the writer.
   * @default {10000}
   */
  ageTimeout?: number;
  /**
   * Time source for the timeouts.
   * @default {systemClock}
   */
  clock?: Clock;
}

class Core {
  status: LockStatus | null = null;
  readonly waiters: Set<(s: LockStatus) => void> = new Set();
  timer: unknown = undefined;

  settle(s: LockStatus): void {
    if (this.status !== null) return;
    this.status = s;
    for (const w of this.waiters) w(s);
    this.waiters.clear();
  }
}

/**
 * The writer's side of a lock. Release it exactly once; a writer that never
 * releases is released by the age timeout.
 *
 * @example
 * ```ts
 * import { CacheLock } from "@cirque/cache/cache-lock";
 * import assert from "node:assert/strict";
 *
 * const lock = new CacheLock();
 * const w = lock.lock("k");
 * assert.equal(w.kind, "write");
 * if (w.kind === "write") w.permit.release("done");
 * assert.equal(lock.lock("k").kind, "write");
 * ```
 */
export class WritePermit {
  readonly #lock: CacheLock;
  readonly #key: string;
  readonly #core: Core;

  /** @internal Created by {@linkcode CacheLock.lock}. */
  constructor(lock: CacheLock, key: string, core: Core) {
    this.#lock = lock;
    this.#key = key;
    this.#core = core;
  }

  /** Whether the permit was released (by the writer or the age timeout). */
  get released(): boolean {
    return this.#core.status !== null;
  }

  /** Releases the lock and wakes the waiters with `status`. Idempotent. */
  release(status: ReleaseStatus): void {
    this.#lock._release(this.#key, this.#core, status);
  }
}

/**
 * A reader's side of a lock: wait for the writer.
 *
 * @example
 * ```ts
 * import { CacheLock } from "@cirque/cache/cache-lock";
 * import { ManualClock } from "@cirque/cache/clock";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const lock = new CacheLock({ clock });
 * lock.lock("k");
 * const r = lock.lock("k");
 * if (r.kind !== "read") throw new Error("expected a reader");
 * const waited = r.lock.wait(100);
 * clock.advance(100);
 * assert.equal(await waited, "wait-timeout");
 * ```
 */
export class ReadLock {
  readonly #core: Core;
  readonly #clock: Clock;

  /** @internal Created by {@linkcode CacheLock.lock}. */
  constructor(core: Core, clock: Clock) {
    this.#core = core;
    this.#clock = clock;
  }

  /** Waits at most `timeout` ms for the writer; resolves why the wait ended. */
  wait(timeout: number): Promise<LockStatus> {
    const core = this.#core;
    if (core.status !== null) return Promise.resolve(core.status);
    if (timeout <= 0) return Promise.resolve("wait-timeout");
    return new Promise((resolve) => {
      const clock = this.#clock;
      const done = (s: LockStatus) => {
        clock.clearTimeout(timer);
        core.waiters.delete(done);
        resolve(s);
      };
      const timer = clock.setTimeout(() => done("wait-timeout"), timeout);
      core.waiters.add(done);
    });
  }
}

/** What {@linkcode CacheLock.lock} returns. */
export type Locked = { kind: "write"; permit: WritePermit } | { kind: "read"; lock: ReadLock };

/**
 * Per-key writer locks with a lock age timeout.
 *
 * @example
 * ```ts
 * import { CacheLock } from "@cirque/cache/cache-lock";
 * import assert from "node:assert/strict";
 *
 * const lock = new CacheLock();
 * const writer = lock.lock("k");
 * const reader = lock.lock("k");
 * assert.equal(reader.kind, "read");
 * if (writer.kind !== "write" || reader.kind !== "read") throw new Error("unexpected");
 * const status = reader.lock.wait(1000);
 * writer.permit.release("give-up");
 * assert.equal(await status, "give-up");
 * ```
 */
export class CacheLock {
  readonly #locks = new Map<string, Core>();
  readonly #ageTimeout: number;
  readonly #clock: Clock;

  /** Creates an empty lock table. */
  constructor(options: CacheLockOptions = {}) {
    this.#ageTimeout = options.ageTimeout ?? 10_000;
    this.#clock = options.clock ?? systemClock;
    if (!(this.#ageTimeout > 0)) {
      throw new RangeError(
        `Cannot create CacheLock: ageTimeout ${this.#ageTimeout} is not positive`,
      );
    }
  }

  /** Number of keys currently locked. */
  get size(): number {
    return this.#locks.size;
  }

  /** Becomes the writer of `key`, or a reader of the current writer. */
  lock(key: string): Locked {
    const existing = this.#locks.get(key);
    if (existing !== undefined && existing.status === null) {
      return { kind: "read", lock: new ReadLock(existing, this.#clock) };
    }
    const core = new Core();
    core.timer = this.#clock.setTimeout(() => {
      if (this.#locks.get(key) === core) this.#locks.delete(key);
      core.settle("age-timeout");
    }, this.#ageTimeout);
    this.#locks.set(key, core);
    return { kind: "write", permit: new WritePermit(this, key, core) };
  }

  /** @internal */
  _release(key: string, core: Core, status: ReleaseStatus): void {
    if (core.status !== null) return;
    this.#clock.clearTimeout(core.timer);
    if (this.#locks.get(key) === core) this.#locks.delete(key);
    core.settle(status);
  }
}
