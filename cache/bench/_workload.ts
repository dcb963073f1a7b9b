/**
 * Seeded workload generators shared by the cache benchmarks: a small fast
 * PRNG (sfc32) and a Zipf sampler over ranks 1..n by inverse-CDF table.
 *
 * @module
 */

/** sfc32: a seeded 32-bit PRNG; returns floats in [0, 1). */
export function sfc32(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed | 0;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/**
 * `count` samples of a Zipf distribution over ranks 1..n with exponent `s`
 * (P(k) ∝ k^-s, as Rust's `rand_distr::Zipf`), drawn with a seeded PRNG.
 */
export function zipfSamples(n: number, s: number, count: number, seed: number): Uint32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) {
    sum += Math.pow(k, -s);
    cdf[k - 1] = sum;
  }
  for (let k = 0; k < n; k++) cdf[k] = cdf[k]! / sum;
  cdf[n - 1] = 1;
  const rand = sfc32(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const u = rand();
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    out[i] = lo + 1;
  }
  return out;
}
