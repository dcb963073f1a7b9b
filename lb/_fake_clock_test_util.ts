// A manual clock for LoadBalancer tests: time moves only when the test says.
import type { LoadBalancerClock } from "./load_balancer.ts";

export class FakeClock implements LoadBalancerClock {
  t = 0;
  sleeps = 0;
  #sleepers: { until: number; resolve: () => void }[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#sleepers.push({ until: this.t + ms, resolve });
      signal.addEventListener("abort", () => resolve(), { once: true });
      this.sleeps++;
      this.#waiters = this.#waiters.filter((w) => {
        if (this.sleeps < w.count) return true;
        w.resolve();
        return false;
      });
    });
  }

  /** Resolves once `sleep()` has been called `count` times in total. */
  sleeping(count: number): Promise<void> {
    if (this.sleeps >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Moves time forward and wakes the sleepers that are due. */
  advance(ms: number): void {
    this.t += ms;
    this.#sleepers = this.#sleepers.filter((s) => {
      if (s.until > this.t) return true;
      s.resolve();
      return false;
    });
  }
}
