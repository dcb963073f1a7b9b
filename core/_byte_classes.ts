// Internal: byte classes of HTTP/1.1 heads, shared by the parser (reading)
// and the connector (checking what it writes), so both apply one rule.

/** 1 for tchar (RFC 9110 §5.6.2): the bytes of a token, such as a field name or a method. */
export const TCHAR: Uint8Array = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  TCHAR[c] = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
      "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))
    ? 1
    : 0;
}

/** 1 for bytes allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
export const VCHAR: Uint8Array = new Uint8Array(256);
for (let c = 0; c < 256; c++) VCHAR[c] = c === 9 || (c >= 32 && c !== 127) ? 1 : 0;
