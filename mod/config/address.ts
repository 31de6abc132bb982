/**
 * Listener addresses as users write them: `host:port`, `[v6]:port`, `:port`.
 *
 * @module
 */

/** A parsed listening address. */
export interface Address {
  /** IP or host name; `0.0.0.0` for `:port`. */
  hostname: string;
  /** 1..65535. */
  port: number;
}

/**
 * Parses `host:port`, `[v6]:port` or `:port`.
 *
 * @example Usage
 * ```ts
 * import { parseAddress } from "./address.ts";
 * const a = parseAddress("[::1]:1060");
 * if (a.hostname !== "::1" || a.port !== 1060) throw new Error("bad parse");
 * ```
 *
 * @throws {RangeError} when the text is not an address or the port is outside 1..65535.
 */
export function parseAddress(text: string): Address {
  let hostname: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new RangeError(`"${text}" is not [v6]:port`);
    }
    hostname = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!hostname.includes(":")) {
      throw new RangeError(`"${text}" has no IPv6 address inside []`);
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new RangeError(`"${text}" is not host:port`);
    hostname = text.slice(0, colon) || "0.0.0.0";
    portText = text.slice(colon + 1);
    if (hostname.includes(":")) {
      throw new RangeError(`"${text}": write IPv6 addresses as [v6]:port`);
    }
  }
  if (!/^\d{1,5}$/.test(portText)) {
    throw new RangeError(`"${text}" has no numeric port`);
  }
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    throw new RangeError(`port ${port} in "${text}" is outside 1..65535`);
  }
  return { hostname, port };
}

/** Formats an address back as text, bracketing IPv6. */
export function formatAddress(address: Address): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/**
 * A client's target: `host:port`, `[v6]:port`, `:port` (this host) or a
 * bare host (the Zen port, 1060).
 *
 * @throws {RangeError} when the text is not an address.
 */
export function clientAddress(
  text: string,
): { hostname: string; port: number } {
  const bare = !text.includes(":") ||
    (text.includes("::") && !text.startsWith("["));
  const address = parseAddress(
    bare ? (text.includes(":") ? `[${text}]:1060` : `${text}:1060`) : text,
  );
  return {
    hostname: address.hostname === "0.0.0.0" ? "127.0.0.1" : address.hostname,
    port: address.port,
  };
}
