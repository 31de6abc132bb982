/**
 * Whether a connection comes from this machine's loopback, judged by the
 * peer address its transport reports (`ConnectionInfo.peer`),
 * never by anything the client sends (`X-Forwarded-For`, `Host`): the
 * gate in front of the admin routes (`[http] admin = "loopback"`).
 *
 * Loopback is 127.0.0.0/8, `::1`, and 127.0.0.0/8 mapped into IPv6
 * (`::ffff:127.0.0.1`, what a dual-stack socket reports), and a client
 * of a unix-domain listener (peer `"unix"`): it is on this machine, and
 * the socket file's mode decides who may connect. Anything else that is
 * not an address — `"stdin"` under an inetd that names no peer, an empty
 * string — is not loopback: a model that cannot say where a client is
 * gets the answer for a stranger.
 *
 * @module
 */
import { peerAddress } from "../request_rate.ts";
import { ipv4, ipv6 } from "./ip.ts";

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
 * if (!isLoopbackPeer("unix")) throw new Error("a unix socket is local");
 * ```
 */
export function isLoopbackPeer(peer: string): boolean {
  if (peer === "unix") return true;
  let host = peerAddress(peer);
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
