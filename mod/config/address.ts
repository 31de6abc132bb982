/**
 * Listener addresses as users write them: `host:port`, `[v6]:port`,
 * `:port`, or `unix:/path` for a unix-domain socket.
 *
 * @module
 */

/** Longest unix socket path, in bytes (`sun_path` holds 108, with its NUL). */
export const UNIX_PATH_MAX = 107;

/**
 * Length in bytes of the temporary name (`.koan-` and six characters) a
 * unix socket is bound under, in the directory of its path, before it is
 * renamed into place (see `net/unix.ts`): the directory must leave room
 * for it.
 */
export const UNIX_STAGING_NAME_BYTES = 12;

/** A parsed listening address. */
export interface Address {
  /** IP or host name; `0.0.0.0` for `:port`; `""` for a unix socket. */
  hostname: string;
  /** 1..65535; 0 for a unix socket. */
  port: number;
  /** The socket file's absolute path, for `unix:/path` only. */
  path?: string;
}

/** The prefix of a unix-domain socket address. */
export const UNIX_PREFIX = "unix:";

const encoder = new TextEncoder();

function parseUnix(text: string): Address {
  const path = text.slice(UNIX_PREFIX.length);
  if (!path.startsWith("/")) {
    throw new RangeError(
      `"${text}" has no absolute path: write unix:/run/koan/http.sock`,
    );
  }
  if (path.includes("\0")) throw new RangeError(`"${text}" has a NUL byte`);
  if (path.endsWith("/")) {
    throw new RangeError(`"${text}" names a directory, not a socket file`);
  }
  const bytes = encoder.encode(path).length;
  if (bytes > UNIX_PATH_MAX) {
    throw new RangeError(
      `"${text}" is ${bytes} bytes long; a unix socket path may have ${UNIX_PATH_MAX}`,
    );
  }
  const directory = encoder.encode(path.slice(0, path.lastIndexOf("/"))).length;
  const room = UNIX_PATH_MAX - UNIX_STAGING_NAME_BYTES - 1;
  if (directory > room) {
    throw new RangeError(
      `"${text}" is in a directory of ${directory} bytes; koan binds the socket under a temporary name there first, which needs a directory of at most ${room}`,
    );
  }
  return { hostname: "", port: 0, path };
}

/**
 * Parses `host:port`, `[v6]:port`, `:port` or `unix:/path`.
 *
 * @example Usage
 * ```ts
 * import { parseAddress } from "./address.ts";
 * const a = parseAddress("[::1]:1060");
 * if (a.hostname !== "::1" || a.port !== 1060) throw new Error("bad parse");
 * const u = parseAddress("unix:/run/koan/http.sock");
 * if (u.path !== "/run/koan/http.sock") throw new Error("bad parse");
 * ```
 *
 * @throws {RangeError} when the text is not an address, the port is
 * outside 1..65535, or a unix path is relative or too long.
 */
export function parseAddress(text: string): Address {
  if (text.startsWith(UNIX_PREFIX)) return parseUnix(text);
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

/** Formats an address back as text: IPv6 in brackets, `unix:/path` for a unix socket. */
export function formatAddress(address: Address): string {
  if (address.path !== undefined) return `${UNIX_PREFIX}${address.path}`;
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/**
 * A client's target: `host:port`, `[v6]:port`, `:port` (this host) or a
 * bare host (the Zen port, 1060).
 *
 * @throws {RangeError} when the text is not an address, or is a unix
 * socket (the clients connect over TCP).
 */
export function clientAddress(
  text: string,
): { hostname: string; port: number } {
  if (text.startsWith(UNIX_PREFIX)) {
    throw new RangeError(
      `"${text}" is a unix socket; the client connects over TCP only`,
    );
  }
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
