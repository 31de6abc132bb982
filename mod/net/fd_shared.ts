/**
 * One listening socket for a whole worker pool (the seeds' srv_threaded
 * and prefork servers: every worker accepts from the same kernel queue).
 * The master binds it — or adopts an inherited descriptor (systemd socket
 * activation) — and holds it without accepting; each worker thread gets a
 * duplicate descriptor of its own, each child process gets it as fd 3.
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
  inherited: boolean;
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
 * Leases the listening socket for `address`: the one held already, the
 * inherited descriptor `inheritedFd` if given, or a newly bound one.
 *
 * @throws {Deno.errors.AddrInUse} and friends when it cannot be bound.
 */
export function leaseSocket(
  address: Address,
  options: { inheritedFd?: number } = {},
): SocketLease {
  const key = formatAddress(address);
  let entry = table.get(key);
  if (!entry) {
    const inherited = options.inheritedFd !== undefined;
    const fd = options.inheritedFd ??
      bindListeningFd(address.hostname, address.port);
    let handle: RawTcp;
    try {
      handle = hold(fd);
    } catch (error) {
      if (!inherited) closeFd(fd, SERVER);
      throw error;
    }
    entry = { handle, fd, leases: 0, inherited };
    table.set(key, entry);
  }
  const held = entry;
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
      if (held.leases > 0 || held.inherited) return;
      if (table.get(key) === held) table.delete(key);
      held.handle.close();
    },
  };
}

/** Leases held on the pool socket for `address` (0 when none). */
export function socketLeases(address: Address | string): number {
  const key = typeof address === "string" ? address : formatAddress(address);
  return table.get(key)?.leases ?? 0;
}
