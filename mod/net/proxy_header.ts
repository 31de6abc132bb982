/**
 * The PROXY protocol header (HAProxy's, versions 1 and 2) that a load
 * balancer sends first on each connection to say whom it is forwarding:
 * parsed here from the bytes received so far, with no I/O, so the reader
 * (`acceptor.ts`) can feed it a header that arrives in pieces. Every input
 * is bounded: a v1 line is at most 107 bytes, a v2 header at most
 * {@linkcode PROXY_HEADER_MAX_BYTES}; anything else is a `SyntaxError` as
 * soon as the bytes seen cannot start a valid header.
 *
 * What koan takes from a header is the client's address and port. A v2
 * LOCAL header (a proxy's own health check), v1 `UNKNOWN`, and v2 address
 * families other than IPv4 and IPv6 (AF_UNIX, AF_UNSPEC) carry none: the
 * socket's own peer stands. v2 TLVs are checked for framing and skipped.
 *
 * Spec: https://www.haproxy.org/download/3.0/doc/proxy-protocol.txt
 *
 * @module
 */

/** The longest v1 header, `PROXY ` to CRLF included (the spec's bound). */
export const PROXY_V1_MAX_BYTES = 107;

/**
 * The longest header koan reads: a v2 header's 16 fixed bytes and up to
 * 4080 of addresses and TLVs (216 for the largest address block, the rest
 * for TLVs such as a cloud balancer's endpoint id or TLS details).
 */
export const PROXY_HEADER_MAX_BYTES = 4096;

/** One end of the proxied connection. */
export interface ProxyAddress {
  /** IPv4 dotted quad, or IPv6 in its canonical text (RFC 5952). */
  address: string;
  port: number;
}

/** A complete, valid header. */
export interface ProxyHeader {
  version: 1 | 2;
  /**
   * The client, when the header names one (v1 TCP4/TCP6, v2 PROXY over
   * IPv4/IPv6); absent: keep the socket's peer.
   */
  source?: ProxyAddress;
  /** The address the client connected to, beside {@linkcode source}. */
  destination?: ProxyAddress;
  /** Bytes the header took: the connection's own bytes start here. */
  length: number;
}

/** What {@linkcode parseProxyHeader} makes of the bytes received so far. */
export type ProxyParse =
  | { done: true; header: ProxyHeader }
  | {
    done: false;
    /** Bytes needed in all before the header can be complete (a lower bound). */
    atLeast: number;
  };

const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
/** The 12 bytes every PROXY protocol v2 header starts with. */
export const V2_SIGNATURE: readonly number[] = [
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
];
const V2_FIXED = 16;
/** Address block sizes by v2 family: INET, INET6, UNIX. */
const V2_ADDRESS_BYTES = [0, 12, 36, 216] as const;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Parses a PROXY protocol header at the start of `bytes` (what has arrived
 * so far): complete, or how many bytes it needs at least. Bytes after the
 * header are the connection's own and are not looked at.
 *
 * @example Usage
 * ```ts
 * import { parseProxyHeader } from "./proxy_header.ts";
 * const bytes = new TextEncoder().encode(
 *   "PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\nGET / HTTP/1.1\r\n",
 * );
 * const parsed = parseProxyHeader(bytes);
 * if (!parsed.done || parsed.header.source?.address !== "192.0.2.7") {
 *   throw new Error("the client is 192.0.2.7");
 * }
 * if (parsed.header.length !== 45) throw new Error("the request follows");
 * ```
 *
 * @throws {SyntaxError} when the bytes cannot be (the start of) a valid
 * header: no signature, a malformed or overlong v1 line, a bad v2 version,
 * command, family, length or TLV.
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyParse {
  if (bytes.length === 0) return { done: false, atLeast: 1 };
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  throw new SyntaxError(
    `The connection does not start with a PROXY protocol header (first byte 0x${
      hex(bytes[0]!)
    })`,
  );
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/** Throws unless `bytes` starts as `expected` does (as far as both go). */
function expectPrefix(
  bytes: Uint8Array,
  expected: readonly number[],
  what: string,
): void {
  const n = Math.min(bytes.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== expected[i]) {
      throw new SyntaxError(
        `The ${what} is wrong at byte ${i} (0x${hex(bytes[i]!)})`,
      );
    }
  }
}

function parseV1(bytes: Uint8Array): ProxyParse {
  expectPrefix(bytes, V1_PREFIX, "PROXY protocol v1 signature");
  const limit = Math.min(bytes.length, PROXY_V1_MAX_BYTES);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const byte = bytes[i]!;
    if (byte === CR) {
      if (i + 1 >= bytes.length) return { done: false, atLeast: i + 2 };
      if (bytes[i + 1] !== LF) {
        throw new SyntaxError("The PROXY v1 line has a CR without LF");
      }
      end = i;
      break;
    }
    // The line is printable US-ASCII: stop at the first byte that is not,
    // rather than wait for 107 bytes of garbage.
    if (byte < 0x20 || byte > 0x7e) {
      throw new SyntaxError(
        `The PROXY v1 line holds a control or non-ASCII byte (0x${
          hex(byte)
        }) at ${i}`,
      );
    }
  }
  if (end < 0) {
    if (bytes.length >= PROXY_V1_MAX_BYTES) {
      throw new SyntaxError(
        `The PROXY v1 line is longer than ${PROXY_V1_MAX_BYTES} bytes`,
      );
    }
    return { done: false, atLeast: bytes.length + 1 };
  }
  const line = String.fromCharCode(...bytes.subarray(0, end));
  const length = end + 2;
  const fields = line.split(" ");
  const family = fields[1];
  if (family === "UNKNOWN") {
    return { done: true, header: { version: 1, length } };
  }
  if (family !== "TCP4" && family !== "TCP6") {
    throw new SyntaxError(
      `The PROXY v1 protocol is "${family ?? ""}", not TCP4, TCP6 or UNKNOWN`,
    );
  }
  if (fields.length !== 6) {
    throw new SyntaxError(
      `The PROXY v1 line has ${fields.length} fields, not 6: "${line}"`,
    );
  }
  const parse = family === "TCP4" ? textIPv4 : textIPv6;
  return {
    done: true,
    header: {
      version: 1,
      source: { address: parse(fields[2]!), port: textPort(fields[4]!) },
      destination: { address: parse(fields[3]!), port: textPort(fields[5]!) },
      length,
    },
  };
}

function parseV2(bytes: Uint8Array): ProxyParse {
  expectPrefix(bytes, V2_SIGNATURE, "PROXY protocol v2 signature");
  if (bytes.length < V2_FIXED) return { done: false, atLeast: V2_FIXED };
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) {
    throw new SyntaxError(
      `The PROXY v2 version is ${versionCommand >> 4}, not 2`,
    );
  }
  const command = versionCommand & 0x0f;
  if (command > 1) {
    throw new SyntaxError(
      `The PROXY v2 command is ${command}, not LOCAL (0) or PROXY (1)`,
    );
  }
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  if (family > 3 || transport > 2) {
    throw new SyntaxError(
      `The PROXY v2 family byte 0x${hex(bytes[13]!)} is not defined`,
    );
  }
  const payload = (bytes[14]! << 8) | bytes[15]!;
  const length = V2_FIXED + payload;
  if (length > PROXY_HEADER_MAX_BYTES) {
    throw new SyntaxError(
      `The PROXY v2 header is ${length} bytes, more than ${PROXY_HEADER_MAX_BYTES}`,
    );
  }
  if (bytes.length < length) return { done: false, atLeast: length };
  // LOCAL: the proxy speaking for itself; AF_UNSPEC: a protocol it does not
  // name. Whatever the block holds is skipped, and the socket's endpoints
  // stand.
  if (command === 0 || family === 0) {
    return { done: true, header: { version: 2, length } };
  }
  const addressBytes = V2_ADDRESS_BYTES[family as 0 | 1 | 2 | 3];
  if (payload < addressBytes) {
    throw new SyntaxError(
      `The PROXY v2 header's ${payload} bytes cannot hold its ${addressBytes}-byte address block`,
    );
  }
  checkTlvs(bytes.subarray(V2_FIXED + addressBytes, length));
  const header: ProxyHeader = { version: 2, length };
  // AF_UNIX names no address koan can use: keep the socket's.
  if (family === 1 || family === 2) {
    const size = family === 1 ? 4 : 16;
    const format = family === 1 ? binaryIPv4 : binaryIPv6;
    const at = V2_FIXED;
    const ports = at + 2 * size;
    header.source = {
      address: format(bytes.subarray(at, at + size)),
      port: (bytes[ports]! << 8) | bytes[ports + 1]!,
    };
    header.destination = {
      address: format(bytes.subarray(at + size, ports)),
      port: (bytes[ports + 2]! << 8) | bytes[ports + 3]!,
    };
  }
  return { done: true, header };
}

/** Checks that `tlvs` is a whole number of type-length-value entries. */
function checkTlvs(tlvs: Uint8Array): void {
  let at = 0;
  while (at < tlvs.length) {
    if (at + 3 > tlvs.length) {
      throw new SyntaxError(
        `The PROXY v2 header ends inside a TLV's type and length (${
          tlvs.length - at
        } bytes left)`,
      );
    }
    const type = tlvs[at]!;
    const size = (tlvs[at + 1]! << 8) | tlvs[at + 2]!;
    at += 3 + size;
    if (at > tlvs.length) {
      throw new SyntaxError(
        `The PROXY v2 TLV of type 0x${hex(type)} runs ${
          at - tlvs.length
        } bytes past the header`,
      );
    }
  }
}

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const DECIMAL_PORT = /^(?:0|[1-9][0-9]{0,4})$/;

function textPort(text: string): number {
  const port = DECIMAL_PORT.test(text) ? Number(text) : NaN;
  if (!(port <= 65535)) {
    throw new SyntaxError(`The PROXY v1 port "${text}" is not 0 to 65535`);
  }
  return port;
}

/** Checks a dotted quad: four decimal octets, no leading zeros (as inet_pton). */
function textIPv4(text: string): string {
  const parts = text.split(".");
  if (
    parts.length !== 4 ||
    !parts.every((part) => DECIMAL_OCTET.test(part) && Number(part) <= 255)
  ) {
    throw new SyntaxError(`The PROXY v1 address "${text}" is not IPv4`);
  }
  return text;
}

/** Parses IPv6 text to its canonical form, so one address is one key. */
function textIPv6(text: string): string {
  const words = ipv6Words(text);
  if (words === undefined) {
    throw new SyntaxError(`The PROXY v1 address "${text}" is not IPv6`);
  }
  return formatIPv6(words);
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** The eight 16-bit words of IPv6 `text`, or undefined when it is not one. */
function ipv6Words(text: string): number[] | undefined {
  if (text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes(".")) {
        // A trailing dotted quad: the last 32 bits.
        try {
          textIPv4(part);
        } catch (error) {
          if (error instanceof SyntaxError) return undefined;
          throw error;
        }
        const [a, b, c, d] = part.split(".").map(Number) as [
          number,
          number,
          number,
          number,
        ];
        out.push((a << 8) | b, (c << 8) | d);
      } else if (HEXTET.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

function binaryIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

function binaryIPv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  return formatIPv6(words);
}

/**
 * RFC 5952 text: lowercase, no leading zeros, the longest run of two or
 * more zero words (the first of equals) as `::`, and an IPv4-mapped
 * address with its dotted quad.
 */
function formatIPv6(words: number[]): string {
  if (
    words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff
  ) {
    const [hi, lo] = [words[6]!, words[7]!];
    return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = (from: number, to: number) =>
    words.slice(from, to).map((w) => w.toString(16)).join(":");
  return best < 0
    ? text(0, 8)
    : `${text(0, best)}::${text(best + bestLength, 8)}`;
}
