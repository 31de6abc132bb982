/**
 * The raw stream handles under `node:net` (Deno 2.9's libuv-compatible
 * `tcp_wrap` and `pipe_wrap` bindings), for what neither `Deno.listen` nor
 * the public `node:net` API can do: hold a listening socket as a file
 * descriptor, duplicate it for a worker thread or a child process, accept
 * from it only when asked, and move an accepted connection to another
 * isolate. TCP sockets take `TCP` handles, unix-domain sockets `Pipe`
 * handles: a `TCP` handle opened on a unix socket accepts and drops every
 * connection (measured on Deno 2.9.6: the client reads EPIPE).
 *
 * Facts this relies on (checked against Deno 2.9.6, see `fd_accept.ts`):
 * - `new TCP(SERVER).open(fd)` (and `Pipe`'s) takes ownership of `fd` (no
 *   dup); closing the handle closes `fd` with a plain `close(2)`, never
 *   `shutdown(2)`, so other descriptors of the same socket keep it
 *   listening;
 * - `fdForIpc()` returns a new close-on-exec duplicate owned by the caller;
 * - a handle that was never `listen()`ed does not poll, so it never
 *   accepts: the master can hold the socket without taking connections;
 * - an isolate's fd table refuses to adopt a descriptor it already tracks
 *   (EEXIST), which is why the master binds here and not with
 *   `Deno.listen`, whose socket it could not duplicate;
 * - a `Pipe` that `bind()`s a path unlinks that path when it is closed
 *   (libuv's behaviour), so `net/unix.ts` binds under a temporary name and
 *   renames the socket into place before closing the binding handle.
 *
 * @module
 */
import process from "node:process";
import { getSystemErrorName } from "node:util";

/**
 * A stream handle, `tcp_wrap`'s `TCP` or (for a unix-domain socket)
 * `pipe_wrap`'s `Pipe`: the members both have and koan uses.
 */
export interface RawTcp {
  open(fd: number): number;
  listen(backlog: number): number;
  accept(client: RawTcp): number;
  fdForIpc(): number;
  close(callback?: () => void): void;
  onconnection: ((status: number) => void) | null;
}

/** A `tcp_wrap` TCP handle: {@linkcode RawTcp} and the members only TCP has. */
export interface TcpHandle extends RawTcp {
  bindWithFlags(host: string, port: number, flags: number): number;
  bind6(host: string, port: number, flags: number): number;
  getsockname(out: Record<string, unknown>): number;
}

/** A `pipe_wrap` Pipe handle: {@linkcode RawTcp} and binding a path. */
export interface PipeHandle extends RawTcp {
  bind(path: string): number;
}

/** `new TCP(kind)`: `SOCKET` (0) for a connection, `SERVER` (1) for a listener. */
export type RawTcpConstructor = new (kind: 0 | 1) => TcpHandle;

/** `new Pipe(kind)`, with the same kinds as {@linkcode RawTcpConstructor}. */
export type RawPipeConstructor = new (kind: 0 | 1) => PipeHandle;

/** Handle kind for a connection. */
export const SOCKET = 0;
/** Handle kind for a listening socket. */
export const SERVER = 1;
/** `bindWithFlags` flag: SO_REUSEPORT (uv's UV_TCP_REUSEPORT). */
const REUSEPORT = 4;
/** Listen backlog, as `Deno.listen` and libuv use. */
export const BACKLOG = 511;
/** uv's status for EINVAL: `getsockname()` on a socket that is not TCP. */
const EINVAL = -22;

let constructor: RawTcpConstructor | null | undefined;
let pipeConstructor: RawPipeConstructor | null | undefined;

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

/**
 * The `Pipe` handle constructor (unix-domain sockets), or undefined where
 * this runtime does not expose it or has no raw TCP handles either: the
 * two are used together.
 */
export function rawPipe(): RawPipeConstructor | undefined {
  if (pipeConstructor === undefined) {
    pipeConstructor = null;
    if (rawTcp() === undefined) return undefined;
    try {
      const binding = (process as unknown as {
        binding(name: string): { Pipe?: RawPipeConstructor };
      }).binding("pipe_wrap");
      const Pipe = binding.Pipe;
      if (
        typeof Pipe === "function" &&
        typeof Pipe.prototype.fdForIpc === "function" &&
        typeof Pipe.prototype.open === "function" &&
        typeof Pipe.prototype.bind === "function"
      ) {
        pipeConstructor = Pipe;
      }
    } catch (error) {
      // A feature probe, as in rawTcp(): an Error ("No such module") or a
      // TypeError (no process.binding) means no usable binding.
      if (!(error instanceof Error)) throw error;
    }
  }
  return pipeConstructor ?? undefined;
}

/** True when `handle` is a `Pipe` (a unix-domain socket's handle). */
export function isPipe(handle: RawTcp): boolean {
  const Pipe = rawPipe();
  return Pipe !== undefined && handle instanceof Pipe;
}

/**
 * Whether the socket on `fd` is a unix-domain socket rather than TCP, for
 * a descriptor that arrives without its address (a pool worker's). Asked
 * of a `TCP` handle, whose `getsockname()` fails with EINVAL on any other
 * family; since that handle takes `fd` over, the answer comes with the
 * descriptor to use from now on (a duplicate; `fd` is closed).
 *
 * @throws {Deno.errors.BadResource} when `fd` is no open descriptor.
 */
export function probeSocketFd(fd: number): { fd: number; unix: boolean } {
  const TCP = rawTcp();
  if (!TCP) throw new Error("raw TCP handles are not available");
  const handle = new TCP(SERVER);
  const opened = handle.open(fd);
  if (opened !== 0) throw uvError(opened, `cannot open fd ${fd}`);
  const status = handle.getsockname({});
  const copy = handle.fdForIpc();
  if (copy < 0) {
    handle.close();
    throw new Error(`cannot duplicate fd ${fd} (EMFILE?)`);
  }
  handle.close();
  return { fd: copy, unix: status === EINVAL };
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
 * Binds a unix-domain socket at `path` and puts it in the listening state,
 * as {@linkcode bindListeningFd} does for TCP; returns its descriptor,
 * owned by the caller, and the handle that bound it. That handle unlinks
 * `path` when it is closed: close it in this same turn (before the event
 * loop polls it), once the socket file has been renamed away from `path`.
 *
 * @throws {Deno.errors.AddrInUse} and friends when it cannot be bound.
 */
export function bindListeningPipe(
  path: string,
): { fd: number; binder: PipeHandle } {
  const Pipe = rawPipe();
  if (!Pipe) throw new Error("raw pipe handles are not available");
  const binder = new Pipe(SERVER);
  const bound = binder.bind(path);
  if (bound !== 0) {
    binder.close();
    throw uvError(bound, `cannot bind unix:${path}`);
  }
  binder.onconnection = () => {};
  const listening = binder.listen(BACKLOG);
  const fd = listening === 0 ? binder.fdForIpc() : -1;
  if (fd < 0) {
    binder.close();
    throw listening !== 0
      ? uvError(listening, `cannot listen on unix:${path}`)
      : new Error(`cannot duplicate the socket for unix:${path}`);
  }
  return { fd, binder };
}

/**
 * Closes a descriptor this isolate owns but holds in no handle (a spare
 * listening dup, or a connection that could not be handed over), of either
 * family: a `TCP` handle opens a unix socket's descriptor too, and closing
 * it is all that is asked of it here. For a connection, other descriptors
 * of the socket keep it open.
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
