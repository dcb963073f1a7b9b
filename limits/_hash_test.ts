import assert from "node:assert/strict";
import { hashBytes, hashKey, hashString } from "./_hash.ts";

// MurmurHash3_x86_32 reference values (Austin Appleby's SMHasher algorithm;
// the commonly published vectors for the 32-bit variant).
const VECTORS: [number[] | string, number, number][] = [
  [[], 0, 0x00000000],
  [[], 1, 0x514e28b7],
  [[], 0xffffffff, 0x81f16f39],
  [[0xff, 0xff, 0xff, 0xff], 0, 0x76293b50],
  [[0x21, 0x43, 0x65, 0x87], 0, 0xf55b516b],
  [[0x21, 0x43, 0x65, 0x87], 0x5082edee, 0x2362f9de],
  [[0x21, 0x43, 0x65], 0, 0x7e4a8634],
  [[0x21, 0x43], 0, 0xa0f7b07a],
  [[0x21], 0, 0x72661cf4],
  [[0, 0, 0, 0], 0, 0x2362f9de],
  ["Hello, world!", 0x9747b28c, 0x24884cba],
  ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
];

function utf16le(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    out[2 * i] = s.charCodeAt(i) & 255;
    out[2 * i + 1] = s.charCodeAt(i) >> 8;
  }
  return out;
}

Deno.test("hashBytes is MurmurHash3_x86_32", async (t) => {
  for (const [input, seed, want] of VECTORS) {
    await t.step(`${JSON.stringify(input)} seed ${seed.toString(16)}`, () => {
      const bytes = typeof input === "string"
        ? new TextEncoder().encode(input)
        : Uint8Array.from(input);
      assert.equal(hashBytes(bytes, seed) >>> 0, want);
    });
  }
});

Deno.test("hashString equals MurmurHash3 of the UTF-16LE encoding, without encoding", async (t) => {
  for (const s of ["", "a", "ab", "abc", "203.0.113.7", "2001:db8::1", "clé", "日本語", "💡x"]) {
    await t.step(JSON.stringify(s), () => {
      for (const seed of [0, 1, 0x9747b28c]) {
        assert.equal(hashString(s, seed), hashBytes(utf16le(s), seed));
      }
    });
  }
});

Deno.test("hashKey depends on the seed and spreads near keys", () => {
  assert.notEqual(hashKey("k", 1), hashKey("k", 2));
  const seen = new Set<number>();
  for (let i = 0; i < 10_000; i++) seen.add(hashKey(`10.0.${i >> 8}.${i & 255}`, 0));
  assert.equal(seen.size, 10_000);
});
