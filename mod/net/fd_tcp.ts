/**
 * The raw TCP handles under `node:net` (Deno 2.9's libuv-compatible
 * `tcp_wrap` binding), for what neither `Deno.listen` nor the public
 * `node:net` API can do: hold a listening socket as a file descriptor,
 * duplicate it for a worker thread or a child process, accept from it only
 * when asked, and move an accepted connection to another isolate.
 *
 * Facts this relies on (checked against Deno 2.9.6, see `fd_accept.ts`):
 * - `new TCP(SERVER).open(fd)` takes ownership of `fd` (no dup); closing
 *   the handle closes `fd` with a plain `close(2)`, never `shutdown(2)`,
 *   so other descriptors of the same socket keep it listening;
 * - `fdForIpc()` returns a new close-on-exec duplicate owned by the caller;
 * - a handle that was never `listen()`ed does not poll, so it never
 *   accepts: the master can hold the socket without taking connections;
 * - an isolate's fd table refuses to adopt a descriptor it already tracks
 *   (EEXIST), which is why the master binds here and not with
 *   `Deno.listen`, whose socket it could not duplicate.
 *
 * @module
 */
import process from "node:process";
import { getSystemErrorName } from "node:util";

/** A `tcp_wrap` TCP handle: only the members koan uses. */
export interface RawTcp {
  open(fd: number): number;
  bindWithFlags(host: string, port: number, flags: number): number;
  bind6(host: string, port: number, flags: number): number;
  listen(backlog: number): number;
  accept(client: RawTcp): number;
  fdForIpc(): number;
  getsockname(out: Record<string, unknown>): number;
  close(callback?: () => void): void;
  onconnection: ((status: number) => void) | null;
}

/** `new TCP(kind)`: `SOCKET` (0) for a connection, `SERVER` (1) for a listener. */
export type RawTcpConstructor = new (kind: 0 | 1) => RawTcp;

/** Handle kind for a connection. */
export const SOCKET = 0;
/** Handle kind for a listening socket. */
export const SERVER = 1;
/** `bindWithFlags` flag: SO_REUSEPORT (uv's UV_TCP_REUSEPORT). */
const REUSEPORT = 4;
/** Listen backlog, as `Deno.listen` and libuv use. */
export const BACKLOG = 511;

let constructor: RawTcpConstructor | null | undefined;

/**
 * The `TCP` handle constructor, or undefined where this runtime does not
 * expose it (then the pooled models bind a socket per worker instead).
 */
export function rawTcp(): RawTcpConstructor | undefined {
  if (constructor === undefined) {
    constructor = null;
    try {
      const binding = (process as unknown as {
        binding(name: string): { TCP?: RawTcpConstructor };
      }).binding("tcp_wrap");
      const TCP = binding.TCP;
      if (
        typeof TCP === "function" &&
        typeof TCP.prototype.fdForIpc === "function" &&
        typeof TCP.prototype.open === "function" &&
        Deno.build.os !== "windows"
      ) {
        constructor = TCP;
      }
    } catch {
      // A feature probe: any error here means this runtime has no usable
      // tcp_wrap binding, which is the question asked (Deno 2.9.6 throws a
      // plain Error "No such module"; a runtime without process.binding, a
      // TypeError).
    }
  }
  return constructor ?? undefined;
}

/** The Deno error a negative uv status code stands for, with its name. */
export function uvError(status: number, what: string): Error {
  // getSystemErrorName() throws RangeError (ERR_OUT_OF_RANGE) for anything
  // but a negative integer and returns undefined for an unknown errno
  // (checked on Deno 2.9.6), so ask only for what it can answer.
  const known = Number.isInteger(status) && status < 0
    ? getSystemErrorName(status) as string | undefined
    : undefined;
  const name = known ?? `error ${status}`;
  const message = `${what}: ${name} (os error ${-status})`;
  switch (name) {
    case "EADDRINUSE":
      return new Deno.errors.AddrInUse(message);
    case "EADDRNOTAVAIL":
      return new Deno.errors.AddrNotAvailable(message);
    case "EACCES":
    case "EPERM":
      return new Deno.errors.PermissionDenied(message);
    case "EBADF":
      return new Deno.errors.BadResource(message);
    default:
      return new Error(message);
  }
}

/**
 * Binds `hostname:port` with SO_REUSEADDR and SO_REUSEPORT and puts it in
 * the listening state; returns its descriptor, owned by the caller. No
 * handle of this isolate polls it, so nothing is accepted here.
 *
 * @throws {Deno.errors.AddrInUse} and friends when it cannot be bound.
 */
export function bindListeningFd(hostname: string, port: number): number {
  const TCP = rawTcp();
  if (!TCP) throw new Error("raw TCP handles are not available");
  const handle = new TCP(SERVER);
  try {
    const bound = hostname.includes(":")
      ? handle.bind6(hostname, port, REUSEPORT)
      : handle.bindWithFlags(hostname, port, REUSEPORT);
    if (bound !== 0) throw uvError(bound, `cannot bind ${hostname}:${port}`);
    // listen() also reports a bind error that uv defers (EADDRINUSE). The
    // handle is closed below in this same turn, before the event loop
    // could poll it, so whatever connects meanwhile waits in the queue.
    handle.onconnection = () => {};
    const listening = handle.listen(BACKLOG);
    if (listening !== 0) {
      throw uvError(listening, `cannot listen on ${hostname}:${port}`);
    }
    const fd = handle.fdForIpc();
    if (fd < 0) throw new Error(`cannot duplicate the socket for ${port}`);
    return fd;
  } finally {
    handle.close();
  }
}

/**
 * Closes a descriptor this isolate owns but holds in no handle (a spare
 * listening dup, or a connection that could not be handed over). For a
 * connection, other descriptors of the socket keep it open.
 */
export function closeFd(fd: number, kind: typeof SOCKET | typeof SERVER) {
  const TCP = rawTcp();
  if (!TCP || fd < 0) return;
  const handle = new TCP(kind);
  if (handle.open(fd) === 0) handle.close();
}

/**
 * Stops polling a listening handle but keeps its socket: closes the handle
 * and returns a duplicate descriptor to reopen it from later. Returns
 * undefined, leaving the handle open, when no descriptor is left (EMFILE).
 */
export function parkListener(listener: RawTcp): number | undefined {
  const spare = listener.fdForIpc();
  if (spare < 0) return undefined;
  listener.onconnection = null;
  listener.close();
  return spare;
}
