import assert from "node:assert/strict";
import { MAX_TIMER_MS } from "./deadline.ts";
import { ConnectionPool, type IdleGoneReason, type Poolable } from "./pool.ts";

class FakeConn implements Poolable {
  closed = false;
  onGone: ((r: IdleGoneReason) => void) | null = null;
  /** What watchIdle reports at release time. */
  atRelease: IdleGoneReason | null = null;
  /** Whether unwatchIdle succeeds. */
  usable = true;
  constructor(readonly name: string) {}
  close() {
    this.closed = true;
  }
  watchIdle(onGone: (r: IdleGoneReason) => void) {
    this.onGone = onGone;
    return this.atRelease;
  }
  unwatchIdle() {
    this.onGone = null;
    return this.usable;
  }
}

function setup(maxIdle = 128) {
  let now = 1000;
  const pool = new ConnectionPool<FakeConn>({ maxIdle, clock: () => now });
  return { pool, advance: (ms: number) => now += ms };
}

Deno.test("ConnectionPool", async (t) => {
  await t.step("per-key LIFO reuse, counters", async () => {
    const { pool } = setup();
    const a = new FakeConn("a");
    const b = new FakeConn("b");
    pool.countCreated();
    pool.countCreated();
    assert.equal(pool.put("k", a, 1000), true);
    assert.equal(pool.put("k", b, 1000), true);
    assert.equal(pool.take("other"), undefined);
    assert.equal(pool.take("k"), b);
    assert.equal(pool.take("k"), a);
    assert.equal(pool.take("k"), undefined);
    assert.deepEqual(pool.stats, {
      created: 2,
      reused: 2,
      evicted: 0,
      closedByPeer: 0,
      unexpectedData: 0,
      idleExpired: 0,
      idle: 0,
    });
    await pool.close();
  });

  await t.step("total bound evicts the least recently used across keys", async () => {
    const { pool } = setup(2);
    const c = [new FakeConn("1"), new FakeConn("2"), new FakeConn("3")];
    pool.put("k1", c[0]!, 1000);
    pool.put("k2", c[1]!, 1000);
    pool.put("k3", c[2]!, 1000);
    assert.equal(c[0]!.closed, true);
    assert.equal(c[1]!.closed, false);
    assert.equal(pool.take("k1"), undefined);
    assert.equal(pool.take("k2"), c[1]);
    assert.equal(pool.stats.evicted, 1);
    assert.equal(pool.size, 1);
    await pool.close();
  });

  await t.step("per-key bound evicts that key's oldest", async () => {
    const { pool } = setup();
    const a = new FakeConn("a");
    const b = new FakeConn("b");
    const other = new FakeConn("o");
    pool.put("x", other, 1000);
    pool.put("k", a, 1000, 1);
    pool.put("k", b, 1000, 1);
    assert.equal(a.closed, true);
    assert.equal(other.closed, false);
    assert.equal(pool.stats.evicted, 1);
    await pool.close();
  });

  await t.step("evicting a key's only idle entry keeps the new one takeable", async () => {
    const { pool } = setup();
    const a = new FakeConn("a");
    const b = new FakeConn("b");
    pool.put("k", a, 1000, 1);
    assert.equal(pool.put("k", b, 1000, 1), true); // per-key bound evicts a
    assert.equal(a.closed, true);
    assert.equal(pool.take("k"), b);
    assert.equal(pool.size, 0);
    const total = setup(1).pool;
    const c = new FakeConn("c");
    const d = new FakeConn("d");
    total.put("k", c, 1000);
    assert.equal(total.put("k", d, 1000), true); // total bound evicts c
    assert.equal(c.closed, true);
    assert.equal(total.take("k"), d);
    assert.equal(total.size, 0);
    await pool.close();
    await total.close();
  });

  await t.step("idle timeout: expired connections are never handed out", async () => {
    const { pool, advance } = setup();
    const a = new FakeConn("a");
    pool.put("k", a, 50);
    advance(49);
    const b = new FakeConn("b");
    pool.put("k", b, 50);
    advance(2);
    assert.equal(pool.take("k"), b);
    pool.put("k", b, 50);
    assert.equal(pool.sweep(), 1); // a expired at 1050
    assert.equal(a.closed, true);
    advance(100);
    assert.equal(pool.take("k"), undefined);
    assert.equal(b.closed, true);
    assert.equal(pool.stats.idleExpired, 2);
    await pool.close();
  });

  await t.step("the background sweep closes expired connections", async () => {
    const pool = new ConnectionPool<FakeConn>();
    const a = new FakeConn("a");
    const closed = Promise.withResolvers<void>();
    a.close = () => {
      a.closed = true;
      closed.resolve();
    };
    pool.put("k", a, 5);
    const keepAlive = setTimeout(() => {}, 5000); // the pool's own timer is unref'd
    await closed.promise;
    clearTimeout(keepAlive);
    assert.equal(pool.stats.idleExpired, 1);
    assert.equal(pool.size, 0);
    await pool.close();
  });

  await t.step("peer close or unexpected data while idle drops the connection", async () => {
    const { pool } = setup();
    const a = new FakeConn("a");
    const b = new FakeConn("b");
    pool.put("k", a, 1000);
    pool.put("k", b, 1000);
    a.onGone!("closed");
    b.onGone!("data");
    assert.equal(a.closed && b.closed, true);
    assert.equal(pool.take("k"), undefined);
    assert.equal(pool.stats.closedByPeer, 1);
    assert.equal(pool.stats.unexpectedData, 1);
    await pool.close();
  });

  await t.step("checked on release: unread bytes or a closed peer are refused", async () => {
    const { pool } = setup();
    const a = new FakeConn("a");
    a.atRelease = "data";
    assert.equal(pool.put("k", a, 1000), false);
    assert.equal(a.closed, true);
    const b = new FakeConn("b");
    b.atRelease = "closed";
    assert.equal(pool.put("k", b, 1000), false);
    assert.deepEqual([pool.stats.unexpectedData, pool.stats.closedByPeer], [1, 1]);
    await pool.close();
  });

  await t.step("checked on reuse: an unusable connection is skipped", async () => {
    const { pool } = setup();
    const a = new FakeConn("a");
    const b = new FakeConn("b");
    pool.put("k", a, 1000);
    pool.put("k", b, 1000);
    b.usable = false;
    assert.equal(pool.take("k"), a);
    assert.equal(b.closed, true);
    await pool.close();
  });

  await t.step("idle timeout 0 and maxIdle 0 disable pooling", async () => {
    const { pool } = setup();
    const a = new FakeConn("a");
    assert.equal(pool.put("k", a, 0), false);
    assert.equal(a.closed, true);
    const none = new ConnectionPool<FakeConn>({ maxIdle: 0 });
    const b = new FakeConn("b");
    assert.equal(none.put("k", b, 1000), false);
    assert.equal(b.closed, true);
    await pool.close();
    await none.close();
  });

  await t.step("close() closes every idle connection and refuses later ones", async () => {
    const { pool } = setup();
    const conns = [new FakeConn("a"), new FakeConn("b"), new FakeConn("c")];
    conns.forEach((c, i) => pool.put(`k${i % 2}`, c, 1000));
    await pool.close();
    assert.ok(conns.every((c) => c.closed));
    const late = new FakeConn("late");
    assert.equal(pool.put("k", late, 1000), false);
    assert.equal(late.closed, true);
  });

  await t.step("an idle timeout of 2^31 - 1 ms arms a timer that setTimeout can hold", async () => {
    // setTimeout fires at once for a longer delay: the sweep timer would spin every ms.
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    globalThis.setTimeout = ((f: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return real(f, ms);
    }) as typeof setTimeout;
    const { pool } = setup();
    try {
      pool.put("k", new FakeConn("a"), MAX_TIMER_MS);
    } finally {
      globalThis.setTimeout = real;
    }
    assert.ok(delays.length > 0 && delays.every((d) => d > 0 && d <= MAX_TIMER_MS), `${delays}`);
    await pool.close();
  });

  await t.step("rejects a negative bound", () => {
    assert.throws(() => new ConnectionPool({ maxIdle: -1 }), RangeError);
  });
});
