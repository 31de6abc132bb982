/**
 * The pool's one listening socket: bound by the master (or inherited from
 * systemd) and leased to every worker of a `threads` or `processes` pool,
 * and the worker count a platform allows.
 *
 * @module
 */
import { formatAddress } from "../../config/address.ts";
import { log } from "../../log/log.ts";
import {
  canShareSockets,
  leaseSocket,
  type SocketLease,
} from "../../net/fd_shared.ts";
import { inheritedFd } from "../../net/listen.ts";
import type { ModelContext } from "../contract.ts";

/** Worker count for this platform, logging a fallback. */
export function effectiveWorkers(
  requested: number,
  kind: "thread" | "process",
  name: string,
  shared = false,
): number {
  if (shared || Deno.build.os === "linux" || requested <= 1) return requested;
  log("model").info(
    "{name}: SO_REUSEPORT does not spread connections on {os}; using one accepting {kind} instead of {requested}",
    { name, os: Deno.build.os, kind, requested },
  );
  return 1;
}

/**
 * Leases the pool's shared socket for the listener, or undefined where
 * workers must bind their own: no raw socket handles, or an inherited
 * socket the daemon already serves in the master.
 *
 * @throws {Deno.errors.AddrInUse} and friends when it cannot be bound.
 */
export function poolSocket(context: ModelContext): SocketLease | undefined {
  if (!canShareSockets()) return undefined;
  const address = context.spec.address;
  const fd = inheritedFd(address);
  if (fd === undefined) return leaseSocket(address);
  try {
    return leaseSocket(address, { inheritedFd: fd });
  } catch (error) {
    log("model").warn(
      "{address}: cannot share the inherited socket (fd {fd}) with workers: {error}",
      { address: formatAddress(address), fd, error: (error as Error).message },
    );
    return undefined;
  }
}
