/**
 * Byte classes from RFC 9110/9112 and RFC 3986 as 256-entry lookup tables,
 * so the parser checks a byte with one array load instead of a regex or a
 * chain of comparisons.
 *
 * @module
 */

/** Carriage return. */
export const CR = 0x0d;
/** Line feed. */
export const LF = 0x0a;
/** Space. */
export const SP = 0x20;
/** Horizontal tab. */
export const HTAB = 0x09;
/** `:` */
export const COLON = 0x3a;
/** `,` */
export const COMMA = 0x2c;
/** `;` */
export const SEMICOLON = 0x3b;
/** `=` */
export const EQUALS = 0x3d;
/** `"` */
export const DQUOTE = 0x22;
/** `\` */
export const BACKSLASH = 0x5c;

/**
 * Whether `byte` is OWS (RFC 9110 §5.6.3): SP or HTAB, nothing else. Not
 * `String.prototype.trim`'s whitespace: U+00A0 (byte 0xA0 read as latin1),
 * U+FEFF and the rest are field content, so that koan and a peer that
 * trims only OWS read the same list elements.
 */
export function isOws(byte: number | undefined): boolean {
  return byte === SP || byte === HTAB;
}

function table(test: (byte: number) => boolean): Uint8Array {
  const out = new Uint8Array(256);
  for (let byte = 0; byte < 256; byte++) out[byte] = test(byte) ? 1 : 0;
  return out;
}

function isAlnum(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a);
}

/** `tchar` (RFC 9110 §5.6.2): the bytes of a token (method, field name). */
export const TCHAR: Uint8Array = table((byte) =>
  isAlnum(byte) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(byte))
);

/**
 * Bytes allowed inside a field value: VCHAR, obs-text, SP and HTAB
 * (RFC 9110 §5.5). CR, LF, NUL, other controls and DEL are not.
 */
export const FIELD_VALUE: Uint8Array = table((byte) =>
  byte === SP || byte === HTAB || (byte >= 0x21 && byte !== 0x7f)
);

/**
 * `qdtext` (RFC 9110 §5.6.4): the bytes a quoted-string holds unescaped,
 * SP, HTAB, VCHAR but `"` and `\`, and obs-text. The byte after a `\`
 * (quoted-pair) may be any of {@linkcode FIELD_VALUE}.
 */
export const QDTEXT: Uint8Array = table((byte) =>
  FIELD_VALUE[byte] === 1 && byte !== DQUOTE && byte !== BACKSLASH
);

/**
 * Bytes allowed in a request-target: visible ASCII except `#` (a fragment
 * is never sent). Anything else (controls, spaces, DEL, non-ASCII) is 400.
 */
export const TARGET: Uint8Array = table((byte) =>
  byte >= 0x21 && byte <= 0x7e && byte !== 0x23
);

/** Bytes of a Host `reg-name` or IPv4 address (RFC 3986 §3.2.2), `%` included. */
export const HOST_NAME: Uint8Array = table((byte) =>
  isAlnum(byte) || "-._~%!$&'()*+,;=".includes(String.fromCharCode(byte))
);

/** Bytes inside a Host `IP-literal` (`[v6]`, `[vF.x]`). */
export const HOST_LITERAL: Uint8Array = table((byte) =>
  isAlnum(byte) || "-._~!$&'()*+,;=:".includes(String.fromCharCode(byte))
);

/** Value of a hex digit, or -1. */
export function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** Decodes bytes `[start, end)` as Latin-1 (every byte one code unit). */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start === 1) return String.fromCharCode(bytes[start]!);
  let text = "";
  // Chunked so a long value cannot overflow the argument stack.
  for (let at = start; at < end; at += 4096) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(at, Math.min(end, at + 4096)) as unknown as number[],
    );
  }
  return text;
}
