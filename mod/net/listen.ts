/**
 * Opening the socket a listener accepts from. Every model gets its
 * {@linkcode AcceptSource} here, so bind options (SO_REUSEPORT), inherited
 * sockets (systemd socket activation) and reload hand-overs are handled in
 * one place.
 *
 * Sockets bound here are kept in a table per isolate, keyed by address: a
 * second {@linkcode openSource} for an address already open leases the same
 * socket (see `shared_source.ts`), which is how a reload moves a listener
 * to another model in this isolate without closing the kernel's accept
 * queue. Sockets adopted from systemd are entered in the table too, so a
 * listener whose address matches one is served from it instead of binding.
 *
 * A `unix:/path` address is bound by `Deno.listen` too, staged and checked
 * as `unix.ts` says, and its file is removed when the socket closes.
 *
 * @module
 */
import { type Address, formatAddress } from "../config/address.ts";
import { type AcceptSource, denoSource } from "./acceptor.ts";
import { SharedSource } from "./shared_source.ts";
import { canShareSockets, leaseSocket, socketLeases } from "./fd_shared.ts";
import { FdAcceptSource } from "./fd_accept.ts";
import {
  checkSocketPath,
  placeSocket,
  removeSocketFile,
  setSocketMode,
  type SocketFile,
  unixSource,
} from "./unix.ts";

/** Options for {@linkcode openSource}. */
export interface OpenOptions {
  /** Set SO_REUSEPORT so siblings and a reload's successor share the port. @default {false} */
  reusePort?: boolean;
  /** A unix socket's mode (`socket_mode`, octal text); "" leaves the umask's. @default {""} */
  socketMode?: string;
}

interface Entry {
  shared: SharedSource;
  /** File descriptor it was adopted from, for inherited sockets. */
  fd?: number;
  /** The socket file bound here, for a unix socket. */
  file?: SocketFile;
}

const table = new Map<string, Entry>();
let alwaysReusePort = false;

/**
 * Makes every later bind in this isolate set SO_REUSEPORT, whatever the
 * caller asks. The daemon turns this on after it has checked each address
 * with {@linkcode probeAddress} (so a port held by another program is
 * still reported), because a reload may start a model whose workers bind
 * their own sockets beside the one it replaces.
 */
export function setAlwaysReusePort(on: boolean): void {
  alwaysReusePort = on;
}

/**
 * Binds `address` and returns a source to accept from — or a lease on the
 * socket already open for `address` in this isolate (bound earlier or
 * inherited).
 *
 * @throws {Deno.errors.AddrInUse} and friends when the address cannot be bound.
 */
export function openSource(
  address: Address,
  options: OpenOptions = {},
): AcceptSource {
  const key = formatAddress(address);
  const entry = table.get(key);
  if (entry && !entry.shared.closed) {
    if (entry.file) setSocketMode(entry.file, options.socketMode ?? "");
    return entry.shared.lease();
  }
  if (socketLeases(address) > 0 && canShareSockets()) {
    // A worker pool holds this address (a reload is moving the listener
    // from a pool to this isolate): accept from the pool's very socket, so
    // the kernel queue survives the switch and no waiting client is reset.
    const lease = leaseSocket(address);
    const source = new FdAcceptSource({ fd: lease.dup(), concurrency: 0 });
    const shared = new SharedSource({
      accept: () => source.accept(),
      takePending: () => source.takePending(),
      close() {
        source.close();
        lease.release();
      },
    }, {
      onClose: () => {
        if (table.get(key)?.shared === shared) table.delete(key);
      },
    });
    table.set(key, { shared });
    return shared.lease();
  }
  if (address.path !== undefined) return bindUnix(address.path, key, options);
  const listener = Deno.listen({
    transport: "tcp",
    hostname: address.hostname,
    port: address.port,
    reusePort: alwaysReusePort || (options.reusePort ?? false),
  });
  const shared = new SharedSource(denoSource(listener), {
    onClose: () => {
      if (table.get(key)?.shared === shared) table.delete(key);
    },
  });
  table.set(key, { shared });
  return shared.lease();
}

function bindUnix(
  path: string,
  key: string,
  options: OpenOptions,
): AcceptSource {
  const { bound: listener, file } = placeSocket(path, {
    mode: options.socketMode ?? "",
    bind: (at) => Deno.listen({ transport: "unix", path: at }),
    discard: (listener) => listener.close(),
  });
  const shared = new SharedSource(unixSource(listener, path), {
    onClose: () => {
      if (table.get(key)?.shared === shared) table.delete(key);
      removeSocketFile(file);
    },
  });
  table.set(key, { shared, file });
  return shared.lease();
}

/**
 * Checks that nobody holds `address`, by binding it without SO_REUSEPORT
 * and closing it again. Two daemons (or a daemon and anything else) must
 * not silently share a port through SO_REUSEPORT. For a unix socket,
 * {@linkcode checkSocketPath}: a stale socket file passes (it is replaced
 * at bind), a live one or anything that is not a socket does not.
 *
 * @throws {Deno.errors.AddrInUse} when the address is taken.
 * @throws {ConfigError} naming a unix socket's path that cannot be used.
 */
export async function probeAddress(address: Address): Promise<void> {
  if (address.path !== undefined) return await checkSocketPath(address.path);
  const listener = Deno.listen({
    transport: "tcp",
    hostname: address.hostname,
    port: address.port,
  });
  listener.close();
}

/**
 * Enters an adopted listening socket (systemd `LISTEN_FDS`) under its
 * address. It stays open when no listener uses it, since it cannot be
 * bound again; {@linkcode closeInherited} closes it at exit.
 */
export function registerInherited(
  address: string,
  source: AcceptSource,
  fd: number,
): void {
  const shared = new SharedSource(source, { keepOpen: true });
  table.set(address, { shared, fd });
}

/** The inherited socket's fd for `address`, if the address was inherited. */
export function inheritedFd(address: Address | string): number | undefined {
  const key = typeof address === "string" ? address : formatAddress(address);
  return table.get(key)?.fd;
}

/** Leases held on the socket for `address` in this isolate (0 when none is open). */
export function leaseCount(address: Address | string): number {
  const key = typeof address === "string" ? address : formatAddress(address);
  return table.get(key)?.shared.leases ?? 0;
}

/** Closes the inherited sockets (at exit, after the listeners drained). */
export function closeInherited(): void {
  for (const [key, entry] of table) {
    if (entry.fd === undefined) continue;
    entry.shared.close();
    table.delete(key);
  }
}
