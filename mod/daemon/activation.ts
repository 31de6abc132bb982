/**
 * systemd socket activation (sd_listen_fds(3)): adopt the listening sockets
 * passed from fd 3 on (`LISTEN_FDS`, for us only when `LISTEN_PID` is our
 * pid), name them by protocol (`LISTEN_FDNAMES`, from `FileDescriptorName=`
 * in the .socket unit: `zen`, `http` or `echo`), and turn them into the
 * listeners the daemon serves.
 *
 * An adopted socket is held, not accepted from, in the shared-socket
 * table (`net/fd_shared.ts`): every model leases it as it would lease its
 * own socket — a pool shares it among its workers, a model that accepts in
 * this isolate polls a duplicate — so any model can serve it. Where raw
 * socket handles are unavailable it is adopted through `node:net` instead
 * and only models that accept in this isolate can serve it.
 *
 * A unix-domain socket (`ListenStream=/run/koan/http.sock`) is adopted the
 * same way under `unix:/path`, its path read with getsockname(2) through
 * the C library (`--allow-ffi` for it, which the compiled binary and the
 * installed launcher have). Its file is systemd's: koan never removes it.
 *
 * koan only ever closes its own descriptors (never `shutdown(2)`): the
 * parent's copy (systemd's) keeps the socket listening, so clients that
 * connect while koan stops or restarts wait in its queue for the next one.
 *
 * @module
 */
import {
  type Address,
  formatAddress,
  parseAddress,
} from "../config/address.ts";
import {
  buildConfig,
  ConfigError,
  type LoadedConfig,
  type LoadOptions,
} from "../config/load.ts";
import { type ListenerConfig, PROTOCOL_NAMES } from "../config/settings.ts";
import type { ProtocolName } from "../protocols/contract.ts";
import { adoptListener } from "../net/node_source.ts";
import { unixSocketPath } from "../net/unix.ts";
import {
  closeInherited,
  inheritedFd,
  leaseCount,
  registerInherited,
} from "../net/listen.ts";
import {
  adoptInheritedSocket,
  canShareSockets,
  inheritedSocketFd,
  type SocketLease,
  socketLeases,
} from "../net/fd_shared.ts";

/** The first passed file descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** What the environment says was passed. */
export interface ListenFds {
  /** The descriptors, from 3 on. */
  fds: number[];
  /** One name per descriptor (`""` when systemd gave none). */
  names: string[];
}

/**
 * Reads `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES`. Returns
 * `undefined` when nothing was passed to this process.
 *
 * @example Usage
 * ```ts
 * import { listenFdsFromEnv } from "./activation.ts";
 * const env: Record<string, string> = { LISTEN_FDS: "2", LISTEN_PID: "42", LISTEN_FDNAMES: "zen:http" };
 * const passed = listenFdsFromEnv((name) => env[name], 42);
 * if (passed?.fds.join() !== "3,4" || passed.names[1] !== "http") throw new Error("bad parse");
 * ```
 *
 * @throws {ConfigError} when the variables are malformed.
 */
export function listenFdsFromEnv(
  env: (name: string) => string | undefined,
  pid: number,
): ListenFds | undefined {
  const count = env("LISTEN_FDS");
  if (count === undefined || count === "") return undefined;
  const listenPid = env("LISTEN_PID");
  // The variables may have been inherited from a parent they were meant for.
  if (listenPid !== undefined && listenPid !== String(pid)) return undefined;
  if (!/^\d{1,4}$/.test(count)) {
    throw new ConfigError("LISTEN_FDS", `must be a count (got "${count}")`);
  }
  const n = Number(count);
  if (n === 0) return undefined;
  const fds = Array.from({ length: n }, (_, i) => LISTEN_FDS_START + i);
  const given = env("LISTEN_FDNAMES");
  const names = given === undefined ? [] : given.split(":");
  if (given !== undefined && names.length !== n) {
    throw new ConfigError(
      "LISTEN_FDNAMES",
      `names ${names.length} descriptors but LISTEN_FDS is ${n}`,
    );
  }
  return { fds, names: fds.map((_, i) => names[i] ?? "") };
}

/** A socket adopted from systemd. */
export interface InheritedSocket {
  fd: number;
  /** `FileDescriptorName=`, or `""`. */
  name: string;
  /** Local address, formatted as listeners write it. */
  address: string;
  /** The protocol its name asks for; undefined when the name is not one. */
  protocol?: ProtocolName;
}

function protocolOfName(name: string): ProtocolName | undefined {
  return (PROTOCOL_NAMES as readonly string[]).includes(name)
    ? name as ProtocolName
    : undefined;
}

/** The adopter's leases on the sockets adopted through the shared-socket table. */
const holds: SocketLease[] = [];

/**
 * Adopts every passed socket, enters it in the socket tables (so a
 * listener at its address accepts from it, whatever its model) and removes
 * the variables from the environment so that child processes do not take
 * them for theirs.
 *
 * @throws {ConfigError} when a passed descriptor is not a listening TCP
 * or unix socket (or a unix one whose path cannot be read).
 */
export async function adoptListenFds(
  passed: ListenFds,
): Promise<InheritedSocket[]> {
  const sockets: InheritedSocket[] = [];
  const shared = canShareSockets();
  for (const [i, fd] of passed.fds.entries()) {
    const name = passed.names[i] ?? "";
    let address: string;
    try {
      if (shared) {
        const adopted = adoptInheritedSocket(fd, {
          unixPath: () => unixSocketPath(fd),
        });
        holds.push(adopted.lease);
        address = adopted.address;
      } else {
        const adopted = await adoptListener(fd);
        registerInherited(adopted.address, adopted.source, fd);
        address = adopted.address;
      }
    } catch (error) {
      throw new ConfigError(
        "LISTEN_FDS",
        `fd ${fd}${
          name ? ` ("${name}")` : ""
        } is not a listening TCP or unix socket koan can serve: ${
          (error as Error).message
        }`,
      );
    }
    const socket: InheritedSocket = { fd, name, address };
    const protocol = protocolOfName(name);
    if (protocol) socket.protocol = protocol;
    sockets.push(socket);
  }
  for (const name of ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]) {
    Deno.env.delete(name);
  }
  return sockets;
}

/** The descriptor systemd passed for `address`, if it was passed. */
export function inheritedSocket(address: Address | string): number | undefined {
  return inheritedSocketFd(address) ?? inheritedFd(address);
}

/**
 * True when some listener accepts from the inherited socket for `address`
 * (it holds a lease on it besides the adopter's own).
 */
export function inheritedInUse(address: Address | string): boolean {
  return socketLeases(address) > 1 || leaseCount(address) > 0;
}

/**
 * True when a pooled model (`threads`, `processes`) can serve the
 * inherited sockets: its workers share the one socket the daemon holds.
 */
export function poolsServeInherited(): boolean {
  return canShareSockets();
}

/**
 * Gives up this process's hold on every inherited socket: from now on it
 * stays open only while a listener still accepts from it, and closes (this
 * process's copy only) when the last one stops. The daemon calls it when a
 * stop begins, so koan stops taking connections at once and the ones that
 * arrive meanwhile wait in systemd's copy for the next start.
 */
export function releaseInherited(): void {
  for (const lease of holds.splice(0)) lease.release();
  closeInherited();
}

function sameAddress(a: string, b: string): boolean {
  try {
    return formatAddress(parseAddress(a)) === formatAddress(parseAddress(b));
  } catch (error) {
    // parseAddress() throws RangeError for text that is not an address:
    // then the two are not the same address.
    if (!(error instanceof RangeError)) throw error;
    return false;
  }
}

/** The result of {@linkcode activationListeners}. */
export interface ActivationPlan {
  listeners: ListenerConfig[];
  /** One log line each. */
  notes: string[];
}

/**
 * The listeners to serve when sockets were passed. With listener flags on
 * the command line those are served as given (a flag whose address is an
 * inherited socket's accepts from it). Otherwise exactly the passed
 * sockets are served: each takes its protocol from its name (or from a
 * config listener at the same address), and its model, workers and
 * concurrency from the config listener at the same address, else the
 * first unused one of the same protocol, else the defaults (`--model`,
 * `--workers` apply).
 *
 * @throws {ConfigError} when a socket's protocol cannot be told.
 */
export async function activationListeners(
  loaded: LoadedConfig,
  inherited: readonly InheritedSocket[],
  options: LoadOptions,
): Promise<ActivationPlan> {
  const { config } = loaded;
  const notes: string[] = [];
  if (options.overrides?.listeners?.length) {
    for (const socket of inherited) {
      if (
        !config.listener.some((l) => sameAddress(l.address, socket.address))
      ) {
        notes.push(
          `socket-activated fd ${socket.fd} (${socket.address}) is not used: the command line names the listeners`,
        );
      }
    }
    return { listeners: config.listener, notes };
  }
  const used = new Set<number>();
  const listeners: ListenerConfig[] = [];
  for (const socket of inherited) {
    const protocol = socket.protocol ??
      config.listener.find((l) => sameAddress(l.address, socket.address))
        ?.protocol;
    if (!protocol) {
      throw new ConfigError(
        "LISTEN_FDNAMES",
        `fd ${socket.fd} (${socket.address}) is named "${socket.name}"; name it ${
          PROTOCOL_NAMES.join(", ")
        } (FileDescriptorName= in the .socket unit) or give a listener at its address`,
      );
    }
    const pick = (test: (l: ListenerConfig) => boolean) =>
      config.listener.findIndex((l, i) =>
        !used.has(i) && l.protocol === protocol && test(l)
      );
    let index = pick((l) => sameAddress(l.address, socket.address));
    if (index < 0) index = pick(() => true);
    const base = index >= 0
      ? config.listener[index]!
      : await defaultListener(protocol, socket.address, options);
    if (index >= 0) used.add(index);
    listeners.push({ ...base, protocol, address: socket.address });
  }
  // Without a config file the built-in default listeners stand in; saying
  // they are not served would only confuse.
  config.listener.forEach((listener, i) => {
    if (!used.has(i) && loaded.path !== undefined) {
      notes.push(
        `listener[${i}] (${listener.protocol} ${listener.address}) is not served: socket activation passed the sockets to serve`,
      );
    }
  });
  return { listeners, notes };
}

async function defaultListener(
  protocol: ProtocolName,
  address: string,
  options: LoadOptions,
): Promise<ListenerConfig> {
  const overrides: NonNullable<LoadOptions["overrides"]> = {
    listeners: [{ protocol, address }],
  };
  if (options.overrides?.model !== undefined) {
    overrides.model = options.overrides.model;
  }
  if (options.overrides?.workers !== undefined) {
    overrides.workers = options.overrides.workers;
  }
  return (await buildConfig({}, overrides)).config.listener[0]!;
}
