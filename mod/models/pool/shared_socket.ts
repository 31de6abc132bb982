/**
 * The pool's one listening socket: bound by the master (or inherited from
 * systemd) and leased to every worker of a `threads` or `processes` pool,
 * and the worker count a platform allows.
 *
 * @module
 */
import { log } from "../../log/log.ts";
import {
  canShareSockets,
  leaseSocket,
  type SocketLease,
} from "../../net/fd_shared.ts";
import type { ModelContext } from "../contract.ts";
import { ConfigError } from "../../config/error.ts";

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
 * Leases the pool's shared socket for the listener — the socket systemd
 * passed for its address when there is one (adopted by the daemon, see
 * `fd_shared.ts`), else one bound now (a unix socket with the listener's
 * `socket_mode`) — or returns undefined where workers must bind their own
 * (no raw socket handles).
 *
 * @throws {Deno.errors.AddrInUse} and friends when it cannot be bound.
 * @throws {ConfigError} for a unix socket no pool here can serve.
 */
export function poolSocket(context: ModelContext): SocketLease | undefined {
  const { address, index, listener } = context.spec;
  if (address.path !== undefined) {
    if (!canShareSockets()) {
      throw new ConfigError(
        `listener[${index}].address`,
        `a ${listener.model} pool serves a unix socket only through raw socket handles, which this runtime lacks; use async`,
      );
    }
  }
  if (!canShareSockets()) return undefined;
  // `?? ""`: a config loaded without the key (older loaders) leaves it out.
  return leaseSocket(address, { socketMode: listener.socket_mode ?? "" });
}
