/**
 * One listening socket for a whole worker pool (the seeds' srv_threaded
 * and prefork servers: every worker accepts from the same kernel queue).
 * The master binds it — or adopts an inherited descriptor (systemd socket
 * activation, {@linkcode adoptInheritedSocket}) — and holds it without
 * accepting; each worker thread gets a duplicate descriptor of its own,
 * each child process gets one over its IPC channel. A listener served in
 * the master (`async`, `iterative`, the per-connection models) leases the
 * same socket through `listen.ts`, so every model serves an inherited
 * socket the same way.
 *
 * A second lease for an address already held here shares the same socket,
 * so a reload that restarts a pooled listener (more workers, threads to
 * processes) hands the new pool the old kernel queue: no client that
 * connected during the switch is reset.
 *
 * A unix-domain socket (`unix:/path`) is shared the same way, in `Pipe`
 * handles: bound as `unix.ts` says (staged, a stale file replaced) and its
 * file removed with the last lease, unless systemd passed it.
 *
 * @module
 */
import { type Address, formatAddress, UNIX_PREFIX } from "../config/address.ts";
import {
  bindListeningFd,
  bindListeningPipe,
  closeFd,
  rawPipe,
  type RawTcp,
  rawTcp,
  SERVER,
  type TcpHandle,
} from "./fd_tcp.ts";
import {
  placeSocket,
  removeSocketFile,
  setSocketMode,
  type SocketFile,
} from "./unix.ts";

/** A lease on a pool's listening socket. */
export interface SocketLease {
  /** The master's descriptor (pass it to a child's stdio; do not close it). */
  readonly fd: number;
  /** A new descriptor of the socket for a worker thread, which owns it. */
  dup(): number;
  /** Gives the lease back; the socket closes with the last one (unless inherited). */
  release(): void;
}

interface Entry {
  /** Opened (never listen()ed) handle: owns the fd and makes duplicates. */
  handle: RawTcp;
  fd: number;
  leases: number;
  /** The descriptor it was passed on (systemd's fd 3...), if inherited. */
  inheritedFd?: number;
  /** A unix socket bound here: its file goes with the last lease. */
  file?: SocketFile;
}

const table = new Map<string, Entry>();

/** True where pools can share one socket (raw TCP handles, not Windows). */
export function canShareSockets(): boolean {
  return rawTcp() !== undefined;
}

function hold(fd: number): TcpHandle {
  const TCP = rawTcp()!;
  const handle = new TCP(SERVER);
  const opened = handle.open(fd);
  if (opened !== 0) {
    throw new Error(`fd ${fd} is not a listening TCP socket (${opened})`);
  }
  return handle;
}

function holdPipe(fd: number): RawTcp {
  const Pipe = rawPipe();
  if (!Pipe) throw new Error("raw pipe handles are not available");
  const handle = new Pipe(SERVER);
  const opened = handle.open(fd);
  if (opened !== 0) {
    throw new Error(`fd ${fd} is not a listening unix socket (${opened})`);
  }
  return handle;
}

function bindUnix(path: string, mode: string): Entry {
  const { bound, file } = placeSocket(path, {
    mode,
    bind: (at) => bindListeningPipe(at),
    discard: ({ fd, binder }) => {
      binder.close();
      closeFd(fd, SERVER);
    },
  });
  // The binding handle would unlink the path it bound when closed: that
  // was the staging name, renamed to `path` by now.
  bound.binder.close();
  try {
    return { handle: holdPipe(bound.fd), fd: bound.fd, leases: 0, file };
  } catch (error) {
    closeFd(bound.fd, SERVER);
    removeSocketFile(file);
    throw error;
  }
}

/** Options for {@linkcode leaseSocket}. */
export interface LeaseOptions {
  /** A unix socket's mode (`socket_mode`, octal text); "" leaves the umask's. @default {""} */
  socketMode?: string;
}

/**
 * Leases the listening socket for `address`: the one held already (bound
 * earlier, or inherited and adopted with {@linkcode adoptInheritedSocket}),
 * or a newly bound one. The socket closes with the last lease: a plain
 * `close(2)` of this process's descriptor, so a parent that holds its own
 * (systemd) keeps it listening and its queue waiting.
 *
 * @throws {Deno.errors.AddrInUse} and friends when it cannot be bound.
 * @throws {ConfigError} naming a unix socket's path that cannot be used.
 */
export function leaseSocket(
  address: Address,
  options: LeaseOptions = {},
): SocketLease {
  const key = formatAddress(address);
  let entry = table.get(key);
  if (entry?.file) setSocketMode(entry.file, options.socketMode ?? "");
  if (!entry && address.path !== undefined) {
    entry = bindUnix(address.path, options.socketMode ?? "");
    table.set(key, entry);
  }
  if (!entry) {
    const fd = bindListeningFd(address.hostname, address.port);
    let handle: RawTcp;
    try {
      handle = hold(fd);
    } catch (error) {
      closeFd(fd, SERVER);
      throw error;
    }
    entry = { handle, fd, leases: 0 };
    table.set(key, entry);
  }
  return leaseOf(key, entry);
}

function leaseOf(key: string, held: Entry): SocketLease {
  held.leases++;
  let released = false;
  return {
    fd: held.fd,
    dup(): number {
      if (released) throw new Deno.errors.BadResource("Lease released");
      const fd = held.handle.fdForIpc();
      if (fd < 0) {
        throw new Error(`cannot duplicate the socket for ${key} (EMFILE?)`);
      }
      return fd;
    },
    release(): void {
      if (released) return;
      released = true;
      held.leases--;
      if (held.leases > 0) return;
      if (table.get(key) === held) table.delete(key);
      held.handle.close();
      if (held.file) removeSocketFile(held.file);
    },
  };
}

/** A listening socket adopted by {@linkcode adoptInheritedSocket}. */
export interface AdoptedSocket {
  /** Its local address, as listeners write it (`127.0.0.1:1060`, `[::]:1060`, `unix:/run/koan/http.sock`). */
  address: string;
  /**
   * The adopter's lease: the socket stays held (and leasable by any model)
   * until it and every model's lease are released.
   */
  lease: SocketLease;
}

/** Options for {@linkcode adoptInheritedSocket}. */
export interface AdoptOptions {
  /**
   * The path of the unix socket on the descriptor, asked only when it is
   * not TCP (`unix.ts`'s `unixSocketPath`); throws saying why it cannot
   * tell. Without it only TCP sockets are adopted.
   */
  unixPath?: () => string;
}

/**
 * Adopts an inherited listening socket (systemd's `LISTEN_FDS`), TCP or
 * unix, into the shared-socket table under its local address (a unix one
 * as `unix:/path`), without accepting from it: each model that serves the
 * address leases it as it would a socket of its own. The descriptor is
 * moved to a close-on-exec duplicate (the passed one is closed, with
 * `close(2)` only), so child processes do not inherit a copy they would
 * keep open. An inherited unix socket's file is systemd's: never removed.
 *
 * @throws {Error} when `fd` is no open socket, {@linkcode TypeError} when
 * it is one but neither TCP nor (with `unixPath`) a unix socket whose
 * path can be read, {@linkcode Deno.errors.AlreadyExists} when a socket
 * for its address is held already.
 */
export function adoptInheritedSocket(
  fd: number,
  options: AdoptOptions = {},
): AdoptedSocket {
  const passed = hold(fd);
  const name: Record<string, unknown> = {};
  const status = passed.getsockname(name);
  const { address, port, family } = name;
  const tcp = status === 0 && typeof address === "string" &&
    typeof port === "number" && (family === "IPv4" || family === "IPv6");
  let key: string;
  try {
    if (tcp) key = formatAddress({ hostname: address, port });
    else if (options.unixPath) key = `${UNIX_PREFIX}${options.unixPath()}`;
    else {
      throw new TypeError(
        `fd ${fd} is not a TCP socket${status === 0 ? "" : ` (${status})`}`,
      );
    }
    if (table.has(key)) {
      throw new Deno.errors.AlreadyExists(
        `fd ${fd}: a socket for ${key} is held already`,
      );
    }
  } catch (error) {
    passed.close();
    throw error;
  }
  const copy = passed.fdForIpc();
  let handle: RawTcp = passed;
  if (copy >= 0) {
    try {
      handle = tcp ? hold(copy) : holdPipe(copy);
    } finally {
      passed.close();
    }
  } else if (!tcp) {
    passed.close();
    throw new Error(
      `fd ${fd}: cannot duplicate the socket for ${key} (EMFILE?)`,
    );
  }
  const entry: Entry = {
    handle,
    fd: copy >= 0 ? copy : fd,
    leases: 0,
    inheritedFd: fd,
  };
  table.set(key, entry);
  return { address: key, lease: leaseOf(key, entry) };
}

/** The descriptor the socket for `address` was inherited on, if it was. */
export function inheritedSocketFd(
  address: Address | string,
): number | undefined {
  const key = typeof address === "string" ? address : formatAddress(address);
  return table.get(key)?.inheritedFd;
}

/** Leases held on the pool socket for `address` (0 when none). */
export function socketLeases(address: Address | string): number {
  const key = typeof address === "string" ? address : formatAddress(address);
  return table.get(key)?.leases ?? 0;
}
