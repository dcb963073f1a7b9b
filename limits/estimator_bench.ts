/**
 * `deno bench -A limits/estimator_bench.ts`: per-key counting on 100,000
 * distinct client-IP keys, one pass over all keys per iteration (divide the
 * time by 100,000 for one operation). The `Map<string, number>` counter is the
 * baseline: exact, but its memory grows with the number of keys (about 2.9 MB
 * of table plus the key strings for 100k keys), where the sketches stay at a
 * fixed 16 KiB (Estimator) and 32 KiB (Rate, two windows).
 */
import { Estimator } from "./estimator.ts";
import { Rate } from "./rate.ts";
import { RateLimiter } from "./rate_limiter.ts";

const KEYS = 100_000;
// Flat strings, as a socket address or header value is; template literals would make cons strings.
const keys: string[] = Array.from(
  { length: KEYS },
  (_, i) => ["10", (i >> 16) & 255, (i >> 8) & 255, i & 255].join("."),
);

const map = new Map<string, number>();
const sketch = new Estimator();
const rate = new Rate(1000);

Deno.bench("Map<string, number> counter", { group: "count 100k keys", baseline: true }, () => {
  for (let i = 0; i < KEYS; i++) {
    const k = keys[i]!;
    map.set(k, (map.get(k) ?? 0) + 1);
  }
});

Deno.bench("Estimator.incr (4 × 1024)", { group: "count 100k keys" }, () => {
  for (let i = 0; i < KEYS; i++) sketch.incr(keys[i]!);
});

// Per-window counting: both sides read the clock once per call, as a proxy must.
const windowed = new Map<string, number>();
let windowedStart = performance.now();
Deno.bench("Map<string, number> per-window counter", {
  group: "count per 1 s window, 100k keys",
  baseline: true,
}, () => {
  for (let i = 0; i < KEYS; i++) {
    const now = performance.now();
    if (now - windowedStart >= 1000) {
      windowed.clear();
      windowedStart = now;
    }
    const k = keys[i]!;
    windowed.set(k, (windowed.get(k) ?? 0) + 1);
  }
});

Deno.bench("Rate.observe (2 × 4 × 1024)", { group: "count per 1 s window, 100k keys" }, () => {
  for (let i = 0; i < KEYS; i++) rate.observe(keys[i]!);
});

// Most of a windowed count is the clock read: Date.now() is cheaper than the
// monotonic performance.now() (the default), at the price of following wall-clock steps.
const wallRate = new Rate(1000, { clock: Date.now });
Deno.bench("Rate.observe (clock: Date.now)", { group: "count per 1 s window, 100k keys" }, () => {
  for (let i = 0; i < KEYS; i++) wallRate.observe(keys[i]!);
});

// A limiter decision per request; the Map version is a fixed window cleared at each boundary.
const LIMIT = 1_000_000;
const fixed = new RateLimiter(LIMIT, { algorithm: "fixed" });
const sliding = new RateLimiter(LIMIT);
const windows = new Map<string, number>();
let windowStart = performance.now();
Deno.bench("Map fixed-window check", { group: "limit 100k keys", baseline: true }, () => {
  for (let i = 0; i < KEYS; i++) {
    const now = performance.now();
    if (now - windowStart >= 1000) {
      windows.clear();
      windowStart = now;
    }
    const k = keys[i]!;
    const n = (windows.get(k) ?? 0) + 1;
    if (n <= LIMIT) windows.set(k, n);
  }
});

Deno.bench("RateLimiter.check (fixed)", { group: "limit 100k keys" }, () => {
  for (let i = 0; i < KEYS; i++) fixed.check(keys[i]!);
});

Deno.bench("RateLimiter.check (sliding)", { group: "limit 100k keys" }, () => {
  for (let i = 0; i < KEYS; i++) sliding.check(keys[i]!);
});
