/**
 * Seeded, allocation-free 32-bit hashing of sketch keys (private to the package).
 *
 * The function is MurmurHash3 (x86, 32-bit) over the key's bytes. A string is
 * hashed as its UTF-16 code units read two at a time (the same value as
 * MurmurHash3 of the string's UTF-16LE encoding), so no `TextEncoder` buffer is
 * allocated per call. Not a cryptographic hash: an attacker who knows the seed
 * can aim keys at the same counters; pick a random seed where that matters.
 *
 * @module
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mix(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function tail(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  return h ^ k;
}

function finish(h: number, byteLength: number): number {
  h ^= byteLength;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** MurmurHash3-32 of the UTF-16LE encoding of `key`, computed from its code units, as a signed int32. */
export function hashString(key: string, seed: number): number {
  const n = key.length;
  let h = seed | 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    // mix() written out: this loop is the hottest code of the package.
    let k = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) h = tail(h, key.charCodeAt(i));
  return finish(h, n << 1);
}

/** MurmurHash3-32 of `key`, as a signed int32. */
export function hashBytes(key: Uint8Array, seed: number): number {
  const n = key.length;
  let h = seed | 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    h = mix(
      h,
      key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24),
    );
  }
  const rest = n - i;
  if (rest > 0) {
    let k = key[i]!;
    if (rest > 1) k |= key[i + 1]! << 8;
    if (rest > 2) k |= key[i + 2]! << 16;
    h = tail(h, k);
  }
  return finish(h, n);
}

/** The key of a sketch: a string (hashed by UTF-16 code units) or raw bytes. */
export type SketchKey = string | Uint8Array;

/** Hashes a string or byte key with `seed` to a signed 32-bit integer (`>>> 0` gives MurmurHash3's unsigned value). */
export function hashKey(key: SketchKey, seed: number): number {
  return typeof key === "string" ? hashString(key, seed) : hashBytes(key, seed);
}

/**
 * The second hash of double hashing (row `i` uses `h + i·step(h)`): an odd
 * number derived from `h` by a different mixer, so rows spread independently.
 */
export function step(h: number): number {
  let g = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  g ^= g >>> 12;
  g = Math.imul(g, 0x297a2d39);
  g ^= g >>> 15;
  return g | 1;
}
