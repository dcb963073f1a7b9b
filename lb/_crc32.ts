// CRC-32/ISO-HDLC (zlib, reflected polynomial 0xEDB88320), written for
// incremental use: `crc32Update(state, ...)` works on the raw register, callers
// start from `CRC32_INIT` and finish with `crc32Final`.

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC register before any byte. */
export const CRC32_INIT = 0xffffffff;

/** Feeds bytes into a CRC register. */
export function crc32Update(state: number, bytes: Uint8Array): number {
  let c = state;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** Feeds the four little-endian bytes of a 32-bit value into a CRC register. */
export function crc32UpdateU32(state: number, value: number): number {
  let c = state;
  c = TABLE[(c ^ value) & 0xff]! ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 8)) & 0xff]! ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 16)) & 0xff]! ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 24)) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** Feeds the UTF-8 encoding of a string into a CRC register without allocating. */
export function crc32UpdateString(state: number, text: string): number {
  let c = state;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      c = TABLE[(c ^ code) & 0xff]! ^ (c >>> 8);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else code = 0xfffd;
    } else if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    if (code < 0x800) {
      c = TABLE[(c ^ (0xc0 | (code >> 6))) & 0xff]! ^ (c >>> 8);
      c = TABLE[(c ^ (0x80 | (code & 0x3f))) & 0xff]! ^ (c >>> 8);
    } else if (code < 0x10000) {
      c = TABLE[(c ^ (0xe0 | (code >> 12))) & 0xff]! ^ (c >>> 8);
      c = TABLE[(c ^ (0x80 | ((code >> 6) & 0x3f))) & 0xff]! ^ (c >>> 8);
      c = TABLE[(c ^ (0x80 | (code & 0x3f))) & 0xff]! ^ (c >>> 8);
    } else {
      c = TABLE[(c ^ (0xf0 | (code >> 18))) & 0xff]! ^ (c >>> 8);
      c = TABLE[(c ^ (0x80 | ((code >> 12) & 0x3f))) & 0xff]! ^ (c >>> 8);
      c = TABLE[(c ^ (0x80 | ((code >> 6) & 0x3f))) & 0xff]! ^ (c >>> 8);
      c = TABLE[(c ^ (0x80 | (code & 0x3f))) & 0xff]! ^ (c >>> 8);
    }
  }
  return c >>> 0;
}

/** Finishes a CRC register into the checksum. */
export function crc32Final(state: number): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** CRC-32 of bytes or of a string's UTF-8 encoding. */
export function crc32(data: string | Uint8Array): number {
  return crc32Final(
    typeof data === "string" ? crc32UpdateString(CRC32_INIT, data) : crc32Update(CRC32_INIT, data),
  );
}
