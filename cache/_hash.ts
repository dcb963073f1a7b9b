/**
 * Fast 32-bit key hashing for the TinyLFU sketch (private to the package).
 *
 * Numbers, strings (UTF-16 code units), bigints and byte arrays are hashed by
 * value without allocating; other objects and symbols get a per-process id.
 *
 * @module
 */

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const IDS = new WeakMap<WeakKey, number>();
let nextId = 1;

/** MurmurHash3's 32-bit finaliser: a bijection that spreads every input bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function hashString(s: string, seed: number): number {
  let h = seed ^ s.length;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) h = mixWord(h, s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
  if (i < n) h = mixWord(h, s.charCodeAt(i));
  return fmix32(h);
}

function hashBytes(b: Uint8Array, seed: number): number {
  let h = seed ^ b.length;
  const n = b.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    h = mixWord(h, b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
  }
  let k = 0;
  for (let s = 0; i < n; i++, s += 8) k |= b[i]! << s;
  return fmix32(mixWord(h, k));
}

function hashBigInt(b: bigint, seed: number): number {
  let h = seed ^ 0x2545f491;
  for (let i = 0; i < 64; i++) {
    h = mixWord(h, Number(BigInt.asUintN(32, b)));
    b >>= 32n;
    if (b === 0n || b === -1n) break;
  }
  return fmix32(h);
}

/** Hashes any key to an unsigned 32-bit integer, mixed with `seed`. */
export function hashKey(key: unknown, seed: number): number {
  if (typeof key === "number") {
    if ((key | 0) === key) return fmix32(key ^ seed);
    F64[0] = key;
    return fmix32(mixWord(mixWord(seed, U32[0]!), U32[1]!));
  }
  if (typeof key === "string") return hashString(key, seed);
  if (typeof key === "bigint") return hashBigInt(key, seed);
  if (typeof key === "boolean") return fmix32((key ? 0x5bd1e995 : 0x1b873593) ^ seed);
  if (key === undefined || key === null) {
    return fmix32((key === null ? 0x27d4eb2f : 0x165667b1) ^ seed);
  }
  if (key instanceof Uint8Array) return hashBytes(key, seed);
  if (ArrayBuffer.isView(key)) {
    return hashBytes(new Uint8Array(key.buffer, key.byteOffset, key.byteLength), seed);
  }
  let id = IDS.get(key as WeakKey);
  if (id === undefined) {
    id = nextId++;
    IDS.set(key as WeakKey, id);
  }
  return fmix32(id ^ seed ^ 0x3c6ef372);
}

/** A random 32-bit seed, so that hash flooding cannot be prepared in advance. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
