/**
 * The client behind trusted proxies, from `X-Forwarded-For` or
 * `Forwarded` (RFC 7239), as nginx's `real_ip` module finds it with
 * `real_ip_recursive on`: the list is read from the right (each proxy
 * appends the address it was connected from), addresses that are
 * themselves trusted proxies are skipped, and the first one that is not
 * is the client. What a client writes itself stays at the left of the
 * list, past that point, and is never believed.
 *
 * Only a connection whose socket peer is a trusted proxy
 * (`ConnectionInfo.trustedProxy`) is read this way; the walk skips the
 * listener's `trusted_proxies` (`ConnectionInfo.trusted`, or only the
 * peer itself when a model gives no set). Choices where the rules are
 * silent:
 *
 * - `X-Forwarded-For` is read when the request has one, else
 *   `Forwarded`: nginx, HAProxy's `option forwardfor`, Envoy and Traefik
 *   append to `X-Forwarded-For` and pass `Forwarded` through untouched,
 *   so reading `Forwarded` first would believe whatever a client wrote
 *   there. A proxy that writes only `Forwarded` must drop a client's
 *   `X-Forwarded-For`. Several lines of one header are one list, in order.
 * - An entry that is not an address stops the walk (malformed text,
 *   `unknown`, an obfuscated `_name`, a `Forwarded` element without
 *   `for=`): the client is the last trusted hop read, or the socket peer
 *   when that entry was the rightmost, as nginx keeps the address it had.
 * - When every entry is a trusted proxy, the leftmost is the client.
 * - Ports are kept when given (`192.0.2.7:4711`, `"[2001:db8::7]:4711"`)
 *   and obfuscated ports dropped; addresses are written canonically
 *   (IPv4-mapped IPv6 as IPv4), so one client is one rate-limit key.
 *
 * @module
 */
import { COLON, CR, HTAB, latin1, LF, SP, TCHAR } from "./chars.ts";
import { canonicalAddress } from "./ip.ts";

/** A set of addresses: the listener's `trusted_proxies`. */
export interface TrustedSet {
  /** Whether `address` (canonical, no port) is in the set. */
  has(address: string): boolean;
}

/** One hop of a forwarding list that names an address. */
export interface Hop {
  /** The address, canonical, without brackets. */
  address: string;
  /** The port, when the entry gave a numeric one. */
  port?: string;
}

/** The client a forwarding list names. */
export interface ForwardedClient extends Hop {
  /** As `ConnectionInfo.peer` writes a peer: `v4`, `v4:port`, `v6`, `[v6]:port`. */
  peer: string;
}

/** The two headers' values in a head, each header's lines joined with `,`. */
export interface ForwardingFields {
  /** Every `X-Forwarded-For` line, in order; undefined when none. */
  xForwardedFor?: string;
  /** Every `Forwarded` line, in order; undefined when none. */
  forwarded?: string;
}

const XFF = new TextEncoder().encode("x-forwarded-for");
const FORWARDED = new TextEncoder().encode("forwarded");

/** Whether `buf[start, end)` is `name` (lowercase) in any case. */
function nameIs(
  buf: Uint8Array,
  start: number,
  end: number,
  name: Uint8Array,
): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    let b = buf[start + i]!;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (b !== name[i]) return false;
  }
  return true;
}

/**
 * The forwarding headers of the head `buf[start, end)`, one the parser
 * has accepted (so its field lines are well formed).
 *
 * @example Usage
 * ```ts
 * import { forwardingFields } from "./forwarded.ts";
 * const head = new TextEncoder().encode(
 *   "GET / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\nHost: x\r\n" +
 *     "x-forwarded-for: 198.51.100.2\r\n\r\n",
 * );
 * const fields = forwardingFields(head, 0, head.length);
 * if (fields.xForwardedFor !== "192.0.2.1,198.51.100.2") throw new Error();
 * ```
 */
export function forwardingFields(
  buf: Uint8Array,
  start: number,
  end: number,
): ForwardingFields {
  const fields: ForwardingFields = {};
  // Field lines start after the request line's LF; the blank line ends them.
  let at = buf.indexOf(LF, start) + 1;
  while (at > 0 && at < end && buf[at] !== CR && buf[at] !== LF) {
    let lineEnd = buf.indexOf(LF, at);
    if (lineEnd < 0 || lineEnd >= end) break;
    const next = lineEnd + 1;
    if (buf[lineEnd - 1] === CR) lineEnd--;
    const colon = buf.indexOf(COLON, at);
    if (colon > at && colon < lineEnd) {
      const xff = nameIs(buf, at, colon, XFF);
      if (xff || nameIs(buf, at, colon, FORWARDED)) {
        let from = colon + 1;
        let to = lineEnd;
        while (from < to && (buf[from] === SP || buf[from] === HTAB)) from++;
        while (to > from && (buf[to - 1] === SP || buf[to - 1] === HTAB)) to--;
        const value = latin1(buf, from, to);
        if (xff) {
          fields.xForwardedFor = fields.xForwardedFor === undefined
            ? value
            : `${fields.xForwardedFor},${value}`;
        } else {
          fields.forwarded = fields.forwarded === undefined
            ? value
            : `${fields.forwarded},${value}`;
        }
      }
    }
    at = next;
  }
  return fields;
}

/**
 * An address with an optional port: `v4`, `v4:port`, `v6`, `[v6]`,
 * `[v6]:port`. Undefined when it is none of those.
 */
function addressHop(text: string): Hop | undefined {
  let host = text;
  let port: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return undefined;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined;
      port = rest.slice(1);
    }
    if (!host.includes(":")) return undefined;
  } else {
    const colon = text.indexOf(":");
    if (colon >= 0 && text.indexOf(":", colon + 1) < 0) {
      host = text.slice(0, colon);
      port = text.slice(colon + 1);
    }
  }
  if (port !== undefined && !isPort(port)) return undefined;
  const address = canonicalAddress(host);
  if (address === undefined) return undefined;
  return port === undefined ? { address } : { address, port };
}

function isPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) <= 65535;
}

/**
 * The entries of an `X-Forwarded-For` value, left to right; an entry
 * that is not an address (`unknown`, garbage) is undefined. Empty list
 * elements are skipped, as RFC 9110 §5.6.1 asks.
 *
 * @example Usage
 * ```ts
 * import { parseXForwardedFor } from "./forwarded.ts";
 * const hops = parseXForwardedFor("192.0.2.1:4711, [2001:db8::1], unknown");
 * if (hops[0]?.port !== "4711" || hops[1]?.address !== "2001:db8::1") throw new Error();
 * if (hops[2] !== undefined) throw new Error("unknown is no address");
 * ```
 */
export function parseXForwardedFor(value: string): (Hop | undefined)[] {
  const hops: (Hop | undefined)[] = [];
  for (const element of value.split(",")) {
    const text = element.replace(/^[ \t]+|[ \t]+$/g, "");
    if (text !== "") hops.push(addressHop(text));
  }
  return hops;
}

/** The `for=` value of one `Forwarded` element as a hop. */
function forHop(value: string): Hop | undefined {
  // RFC 7239 §6: node = nodename [ ":" node-port ]; an IPv6 nodename is
  // bracketed (and so must be quoted); node-port is a port or `_obf`.
  let node = value;
  let port: string | undefined;
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close < 0) return undefined;
    node = value.slice(0, close + 1);
    const rest = value.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return undefined;
      port = rest.slice(1);
    }
  } else {
    const colon = value.indexOf(":");
    if (colon >= 0) {
      node = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
  }
  if (port !== undefined) {
    if (/^_[A-Za-z0-9._-]+$/.test(port)) port = undefined;
    else if (!isPort(port)) return undefined;
  }
  // `unknown` and obfuscated names (`_hidden`) are no address.
  if (node.startsWith("[")) {
    const address = canonicalAddress(node.slice(1, -1));
    if (address === undefined || !node.slice(1, -1).includes(":")) {
      return undefined;
    }
    return port === undefined ? { address } : { address, port };
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(node)) return undefined;
  const address = canonicalAddress(node);
  if (address === undefined) return undefined;
  return port === undefined ? { address } : { address, port };
}

/**
 * The `for=` hops of a `Forwarded` value (RFC 7239 §4), left to right,
 * one per element; undefined for an element without a usable `for=`. A
 * syntax error makes its element and every one after it undefined: past
 * it, where elements begin cannot be told.
 *
 * @example Usage
 * ```ts
 * import { parseForwarded } from "./forwarded.ts";
 * const hops = parseForwarded(
 *   'for=192.0.2.43;proto=http, For="[2001:db8:cafe::17]:4711", for=_hidden',
 * );
 * if (hops[0]?.address !== "192.0.2.43") throw new Error();
 * if (hops[1]?.address !== "2001:db8:cafe::17" || hops[1].port !== "4711") throw new Error();
 * if (hops[2] !== undefined) throw new Error("obfuscated");
 * ```
 */
export function parseForwarded(value: string): (Hop | undefined)[] {
  const hops: (Hop | undefined)[] = [];
  let i = 0;
  const n = value.length;
  const ows = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const token = (): string => {
    const from = i;
    while (i < n && TCHAR[value.charCodeAt(i)] === 1) i++;
    return value.slice(from, i);
  };
  for (;;) {
    ows();
    if (i >= n) break;
    if (value[i] === ",") {
      i++; // an empty list element
      continue;
    }
    // One element: pairs separated by ";".
    let forValue: string | undefined;
    let bad = false;
    let seenFor = false;
    for (;;) {
      ows();
      const name = token().toLowerCase();
      if (name === "" || value[i] !== "=") {
        bad = true;
        break;
      }
      i++;
      let pairValue: string;
      if (value[i] === '"') {
        i++;
        let text = "";
        let closed = false;
        while (i < n) {
          const c = value[i]!;
          if (c === '"') {
            closed = true;
            i++;
            break;
          }
          if (c === "\\") {
            if (i + 1 >= n) break;
            text += value[i + 1];
            i += 2;
            continue;
          }
          text += c;
          i++;
        }
        if (!closed) {
          bad = true;
          break;
        }
        pairValue = text;
      } else {
        pairValue = token();
        if (pairValue === "") {
          bad = true;
          break;
        }
      }
      if (name === "for") {
        // Each parameter at most once per element (RFC 7239 §4).
        if (seenFor) bad = true;
        seenFor = true;
        forValue = pairValue;
      }
      ows();
      if (i < n && value[i] === ";") {
        i++;
        continue;
      }
      break;
    }
    if (bad || (i < n && value[i] !== ",")) {
      // Where the next element starts is unknown: none is believed.
      hops.push(undefined);
      return hops;
    }
    hops.push(forValue === undefined ? undefined : forHop(forValue));
    if (i < n) i++; // the ","
  }
  return hops;
}

/**
 * The client: the rightmost hop not in `trusted`, walking left over
 * trusted ones (see the module doc); undefined when the rightmost entry
 * is unusable or the list is empty, so the socket peer stands.
 *
 * @example Usage
 * ```ts
 * import { believedHop, parseXForwardedFor } from "./forwarded.ts";
 * const trusted = new Set(["10.0.0.2"]);
 * // The client wrote "1.2.3.4"; the proxies appended 203.0.113.9, then 10.0.0.2.
 * const hops = parseXForwardedFor("1.2.3.4, 203.0.113.9, 10.0.0.2");
 * if (believedHop(hops, trusted)?.address !== "203.0.113.9") throw new Error();
 * ```
 */
export function believedHop(
  hops: readonly (Hop | undefined)[],
  trusted: TrustedSet,
): Hop | undefined {
  let last: Hop | undefined;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    if (hop === undefined) return last;
    if (!trusted.has(hop.address)) return hop;
    last = hop;
  }
  return last;
}

/**
 * The client named by the forwarding headers of the head `buf[start,
 * end)`, for a connection from a trusted proxy; undefined when they name
 * none (no header, or an unusable rightmost entry).
 */
export function forwardedClient(
  buf: Uint8Array,
  range: { start: number; end: number; trusted: TrustedSet },
): ForwardedClient | undefined {
  const fields = forwardingFields(buf, range.start, range.end);
  const hops = fields.xForwardedFor !== undefined
    ? parseXForwardedFor(fields.xForwardedFor)
    : fields.forwarded !== undefined
    ? parseForwarded(fields.forwarded)
    : undefined;
  if (hops === undefined) return undefined;
  const hop = believedHop(hops, range.trusted);
  if (hop === undefined) return undefined;
  const v6 = hop.address.includes(":");
  const peer = hop.port === undefined
    ? hop.address
    : v6
    ? `[${hop.address}]:${hop.port}`
    : `${hop.address}:${hop.port}`;
  return { ...hop, peer };
}
