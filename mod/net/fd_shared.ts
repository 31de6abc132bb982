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
 * @module
 */
import { type Address, formatAddress } from "../config/address.ts";
import {
  bindListeningFd,
  closeFd,
  type RawTcp,
  rawTcp,
  SERVER,
} from "./fd_tcp.ts";

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
}

const table = new Map<string, Entry>();

/** True where pools can share one socket (raw TCP handles, not Windows). */
export function canShareSockets(): boolean {
  return rawTcp() !== undefined;
}

function hold(fd: number): RawTcp {
  const TCP = rawTcp()!;
  const handle = new TCP(SERVER);
  const opened = handle.open(fd);
  if (opened !== 0) {
    throw new Error(`fd ${fd} is not a listening TCP socket (${opened})`);
  }
  return handle;
}

/**
 * Leases the listening socket for `address`: the one held already (bound
 * earlier, or inherited and adopted with {@linkcode adoptInheritedSocket}),
 * or a newly bound one. The socket closes with the last lease: a plain
 * `close(2)` of this process's descriptor, so a parent that holds its own
 * (systemd) keeps it listening and its queue waiting.
 *
 * @throws {Deno.errors.AddrInUse} and friends when it cannot be bound.
 */
export function leaseSocket(address: Address): SocketLease {
  const key = formatAddress(address);
  let entry = table.get(key);
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
    },
  };
}

/** A listening socket adopted by {@linkcode adoptInheritedSocket}. */
export interface AdoptedSocket {
  /** Its local address, as listeners write it (`127.0.0.1:1060`, `[::]:1060`). */
  address: string;
  /**
   * The adopter's lease: the socket stays held (and leasable by any model)
   * until it and every model's lease are released.
   */
  lease: SocketLease;
}

/**
 * Adopts an inherited listening TCP socket (systemd's `LISTEN_FDS`) into
 * the shared-socket table under its local address, without accepting from
 * it: each model that serves the address leases it as it would a socket
 * of its own. The descriptor is moved to a close-on-exec duplicate (the
 * passed one is closed, with `close(2)` only), so child processes do not
 * inherit a copy they would keep open.
 *
 * @throws {Error} when `fd` is no open socket, {@linkcode TypeError} when
 * it is one but not TCP (a unix socket), {@linkcode Deno.errors.AlreadyExists}
 * when a socket for its address is held already.
 */
export function adoptInheritedSocket(fd: number): AdoptedSocket {
  const passed = hold(fd);
  const name: Record<string, unknown> = {};
  const status = passed.getsockname(name);
  const { address, port, family } = name;
  if (
    status !== 0 || typeof address !== "string" || typeof port !== "number" ||
    (family !== "IPv4" && family !== "IPv6")
  ) {
    passed.close();
    throw new TypeError(
      `fd ${fd} is not a TCP socket${status === 0 ? "" : ` (${status})`}`,
    );
  }
  const key = formatAddress({ hostname: address, port });
  if (table.has(key)) {
    passed.close();
    throw new Deno.errors.AlreadyExists(
      `fd ${fd}: a socket for ${key} is held already`,
    );
  }
  const copy = passed.fdForIpc();
  let handle = passed;
  if (copy >= 0) {
    handle = hold(copy);
    passed.close();
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
