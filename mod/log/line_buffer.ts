/**
 * A growable byte buffer that log lines are appended to field by field,
 * with the escapings access-log formats need: nginx's default (`"`, `\`
 * and bytes outside printable ASCII as `\xHH`) and JSON string escaping.
 * Appending copies bytes; nothing is allocated unless the buffer grows.
 *
 * @module
 */

const HEX = new TextEncoder().encode("0123456789ABCDEF");
const encoder = new TextEncoder();

/** Bytes appended to one after another; `bytes.subarray(0, length)` is the content. */
export class LineBuffer {
  /** The storage; valid up to {@linkcode LineBuffer.length}. */
  bytes: Uint8Array;
  /** Bytes used. */
  length = 0;

  /** `size`: initial capacity in bytes. */
  constructor(size = 4096) {
    this.bytes = new Uint8Array(size);
  }

  /** The content, a view (valid until the next append or clear). */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** Forgets the content, keeps the storage. */
  clear(): void {
    this.length = 0;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** Appends bytes as they are. */
  put(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    if (n > 32) {
      this.bytes.set(bytes, this.length);
    } else {
      // A loop beats the call into TypedArray#set for a few bytes.
      const into = this.bytes;
      const at = this.length;
      for (let i = 0; i < n; i++) into[at + i] = bytes[i]!;
    }
    this.length += n;
  }

  /** Appends one byte. */
  byte(value: number): void {
    this.ensure(1);
    this.bytes[this.length++] = value;
  }

  /** Appends `text` as UTF-8, unescaped. */
  text(text: string): void {
    this.ensure(text.length * 3);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        at += encoder.encodeInto(text.slice(i), bytes.subarray(at)).written;
        this.length = at;
        return;
      }
      bytes[at++] = c;
    }
    this.length = at;
  }

  /**
   * Appends `text` as UTF-8 with only control characters and DEL escaped
   * as `\xHH`, so that no value can break a line in two.
   */
  plain(text: string): void {
    this.ensure(text.length * 4);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f) {
        bytes[at++] = c;
      } else if (c < 0x80) {
        at = hex(bytes, at, c);
      } else {
        let end = i + 1;
        while (end < text.length && text.charCodeAt(end) >= 0x80) end++;
        at += encoder.encodeInto(text.slice(i, end), bytes.subarray(at))
          .written;
        i = end - 1;
      }
    }
    this.length = at;
  }

  /**
   * Appends `text` escaped as nginx escapes variables (`escape=default`):
   * `"`, `\`, control characters, DEL and every byte of 0x80 and up as
   * `\xHH`. Characters up to U+00FF stand for one byte each (header values
   * are decoded as Latin-1); characters above are escaped per UTF-8 byte.
   */
  escaped(text: string): void {
    this.ensure(text.length * 12);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
        bytes[at++] = c;
        continue;
      }
      if (c <= 0xff) {
        at = hex(bytes, at, c);
        continue;
      }
      const code = text.codePointAt(i)!;
      if (code > 0xffff) i++;
      for (const b of encoder.encode(String.fromCodePoint(code))) {
        at = hex(bytes, at, b);
      }
    }
    this.length = at;
  }

  /**
   * Appends `text` as the inside of a JSON string: `"` and `\` escaped,
   * control characters as `\n`, `\t`, ... or `\u00XX`; characters from
   * DEL to U+00FF as `\u00XX` (Latin-1 header bytes stay valid UTF-8
   * JSON); the rest as UTF-8.
   */
  json(text: string): void {
    this.ensure(text.length * 6);
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f) {
        if (c === 0x22 || c === 0x5c) bytes[at++] = 0x5c;
        bytes[at++] = c;
      } else if (c === 0x0a) {
        bytes[at++] = 0x5c;
        bytes[at++] = 0x6e;
      } else if (c === 0x0d) {
        bytes[at++] = 0x5c;
        bytes[at++] = 0x72;
      } else if (c === 0x09) {
        bytes[at++] = 0x5c;
        bytes[at++] = 0x74;
      } else if (c <= 0xff) {
        // \u00XX
        bytes[at++] = 0x5c;
        bytes[at++] = 0x75;
        bytes[at++] = 0x30;
        bytes[at++] = 0x30;
        bytes[at++] = HEX[c >> 4]!;
        bytes[at++] = HEX[c & 0xf]!;
      } else {
        const end = nextAscii(text, i);
        at += encoder.encodeInto(text.slice(i, end), bytes.subarray(at))
          .written;
        i = end - 1;
      }
    }
    this.length = at;
  }

  /** Appends a whole number ≥ 0 in decimal. */
  uint(value: number): void {
    if (value < 10) {
      this.byte(0x30 + value);
      return;
    }
    if (!Number.isSafeInteger(value)) {
      this.text(String(value));
      return;
    }
    this.ensure(16);
    const bytes = this.bytes;
    let digits = 1;
    for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
    const end = this.length + digits;
    let at = end;
    for (let v = value; at > this.length; v = Math.floor(v / 10)) {
      bytes[--at] = 0x30 + (v % 10);
    }
    this.length = end;
  }

  /** Appends `thousandths / 1000` with three decimals: `1234` → `1.234`. */
  milli(thousandths: number): void {
    const whole = Math.floor(thousandths / 1000);
    const rest = thousandths - whole * 1000;
    this.uint(whole);
    this.ensure(4);
    const bytes = this.bytes;
    bytes[this.length++] = 0x2e;
    bytes[this.length++] = 0x30 + Math.floor(rest / 100);
    bytes[this.length++] = 0x30 + (Math.floor(rest / 10) % 10);
    bytes[this.length++] = 0x30 + (rest % 10);
  }
}

function hex(bytes: Uint8Array, at: number, b: number): number {
  bytes[at] = 0x5c;
  bytes[at + 1] = 0x78;
  bytes[at + 2] = HEX[b >> 4]!;
  bytes[at + 3] = HEX[b & 0xf]!;
  return at + 4;
}

/** Index of the first character from `i` on that JSON escaping handles itself. */
function nextAscii(text: string, i: number): number {
  let end = i;
  while (end < text.length && text.charCodeAt(end) > 0xff) end++;
  return end;
}
