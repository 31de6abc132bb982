/**
 * Whether a connection comes from this machine's loopback, judged by the
 * peer address its transport reports (`ConnectionInfo.peer`),
 * never by anything the client sends (`X-Forwarded-For`, `Host`): the
 * gate in front of the admin routes (`[http] admin = "loopback"`).
 *
 * Loopback is 127.0.0.0/8, `::1`, and 127.0.0.0/8 mapped into IPv6
 * (`::ffff:127.0.0.1`, what a dual-stack socket reports). Anything that
 * is not an address — `"stdin"` under an inetd that names no peer, a Unix
 * socket's path, an empty string — is not loopback: a model that cannot
 * say where a client is gets the answer for a stranger.
 *
 * @module
 */
/** The 32-bit value of a dotted IPv4 address; -1 when `text` is not one. */
function ipv4(text: string): number {
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
function ipv6(text: string): number[] | undefined {
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

/** The address part of a peer: `[v6]:port`, `v4:port`, or a bare address. */
function hostOf(peer: string): string {
  if (peer.startsWith("[")) {
    const close = peer.indexOf("]");
    return close < 0 ? "" : peer.slice(1, close);
  }
  const colon = peer.indexOf(":");
  // One colon: v4:port. More: a bare IPv6 address (as REMOTE_ADDR has it).
  if (colon >= 0 && peer.indexOf(":", colon + 1) < 0) {
    return peer.slice(0, colon);
  }
  return peer;
}

/**
 * Whether `peer` (`"127.0.0.1:4242"`, `"[::1]:4242"`, a bare address) is
 * a loopback address; false for anything else, `"stdin"` included.
 *
 * @example Usage
 * ```ts
 * import { isLoopbackPeer } from "./loopback.ts";
 * if (!isLoopbackPeer("[::ffff:127.0.0.1]:4242")) throw new Error("mapped");
 * if (isLoopbackPeer("192.0.2.1:4242")) throw new Error("not loopback");
 * if (isLoopbackPeer("stdin")) throw new Error("unknown is not loopback");
 * ```
 */
export function isLoopbackPeer(peer: string): boolean {
  let host = hostOf(peer);
  const zone = host.indexOf("%");
  if (zone >= 0) host = host.slice(0, zone);
  if (!host.includes(":")) {
    const v4 = ipv4(host);
    return v4 >= 0 && Math.floor(v4 / 0x1000000) === 127;
  }
  const groups = ipv6(host);
  if (groups === undefined) return false;
  const zeros = groups.slice(0, 5).every((group) => group === 0);
  if (!zeros) return false;
  if (groups[5] === 0 && groups[6] === 0) return groups[7] === 1; // ::1
  // ::ffff:127.x.y.z, IPv4-mapped.
  return groups[5] === 0xffff && groups[6]! >> 8 === 127;
}
