/**
 * IP address text: IPv4 dotted quads and IPv6 (RFC 4291 text forms, an
 * embedded IPv4 tail included), parsed without a library, and written
 * back in one canonical form (RFC 5952) so that one client is one key
 * however a header spelled it.
 *
 * @module
 */
/** The 32-bit value of a dotted IPv4 address; -1 when `text` is not one. */
export function ipv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) return -1;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return -1;
    const octet = Number(part);
    if (octet > 255) return -1;
    value = value * 256 + octet;
  }
  return value;
}

/** The eight 16-bit groups of an IPv6 address; undefined when `text` is not one. */
export function ipv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string): number[] | undefined => {
    if (half === "") return [];
    const groups: number[] = [];
    const fields = half.split(":");
    for (const [i, field] of fields.entries()) {
      if (i === fields.length - 1 && field.includes(".")) {
        const v4 = ipv4(field);
        if (v4 < 0) return undefined;
        groups.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-f]{1,4}$/i.test(field)) {
        groups.push(parseInt(field, 16));
      } else return undefined;
    }
    return groups;
  };
  const head = groupsOf(halves[0]!);
  if (head === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const tail = groupsOf(halves[1]!);
  if (tail === undefined || head.length + tail.length > 7) return undefined;
  return [
    ...head,
    ...new Array(8 - head.length - tail.length).fill(0),
    ...tail,
  ];
}

/**
 * `text` as one canonical address: IPv4 as a dotted quad without leading
 * zeros, IPv4-mapped IPv6 as its IPv4 address, other IPv6 in RFC 5952's
 * form (lowercase, the longest run of zero groups as `::`); undefined
 * when `text` is not an address (a zone, `%eth0`, included).
 *
 * @example Usage
 * ```ts
 * import { canonicalAddress } from "./ip.ts";
 * if (canonicalAddress("2001:DB8:0:0:0::1") !== "2001:db8::1") throw new Error();
 * if (canonicalAddress("::ffff:192.0.2.7") !== "192.0.2.7") throw new Error();
 * if (canonicalAddress("192.0.2.256") !== undefined) throw new Error();
 * ```
 */
export function canonicalAddress(text: string): string | undefined {
  if (!text.includes(":")) {
    const v4 = ipv4(text);
    return v4 < 0 ? undefined : dotted(v4);
  }
  const groups = ipv6(text);
  if (groups === undefined) return undefined;
  if (
    groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff
  ) {
    return dotted(groups[6]! * 65536 + groups[7]!);
  }
  // The longest run of two or more zero groups, the first of equals.
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((group) => group.toString(16)).join(":");
  return bestAt < 0
    ? hex(0, 8)
    : `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

function dotted(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256)
    .join(".");
}
