/**
 * Unix-domain socket listeners (`address = "unix:/run/koan/http.sock"`):
 * the socket file's life and the accept source of the models that accept
 * in this isolate. Pools bind theirs in `fd_shared.ts` with the same
 * {@linkcode placeSocket}.
 *
 * - **Binding** is staged: the socket is bound under a temporary name in
 *   the same directory (`.koan-` and six characters), given `socket_mode`
 *   with chmod(2), then renamed over the path. The path therefore never
 *   has another mode, a stale file is replaced in one rename(2), and a
 *   reload that moves the listener to a pool binds the pool's socket the
 *   same way without clients ever finding the path missing. (Both a
 *   `Deno.listen` socket and a `Pipe` handle unlink the name they bound
 *   when closed, measured on Deno 2.9.6: that is the staging name, gone by
 *   then, so the path is removed only by {@linkcode removeSocketFile}.)
 *   The window:
 *   between bind(2) and chmod(2) (microseconds) the temporary name has the
 *   umask's mode. chmod goes by name, so the name is checked with lstat
 *   just before; keep sockets in a directory only koan writes
 *   (`RuntimeDirectory=koan` gives `/run/koan`).
 * - **Stale or live**: before binding, the daemon asks
 *   {@linkcode checkSocketPath}: nothing there, or a socket nobody accepts
 *   on (connect(2) is refused: a crashed run's), may be replaced; a socket
 *   someone accepts on, or anything that is not a socket (a file, a
 *   symlink: lstat, never followed), is an error naming the path, and the
 *   file is left alone. {@linkcode placeSocket} replaces only a socket
 *   checked stale or one this process bound.
 * - **Removal**: when the listener's socket closes (a drain's end at
 *   SIGTERM, a reload that drops the listener), its file is removed if it
 *   is still the socket koan bound (same device and inode as at bind
 *   time); a socket systemd passed is never removed. SIGKILL leaves the
 *   file, and the next start finds it stale.
 * - **Clients** have no address: peer `unix` in logs and `/status`, and
 *   one key, `unix`, for `max_per_source` (all unix clients count as one
 *   source, as all of a front end's connections would over loopback).
 *
 * @module
 */
import { UNIX_PREFIX } from "../config/address.ts";
import { ConfigError } from "../config/error.ts";
import { log } from "../log/log.ts";
import { LIBC_PATHS } from "../util/self_command.ts";
import type { AcceptedConn, AcceptSource } from "./acceptor.ts";

/** The peer, and the `max_per_source` key, of every unix-socket client. */
export const UNIX_PEER = "unix";

/** A socket file koan bound: which inode, so that it removes only that one. */
export interface SocketFile {
  /** Its path. */
  readonly path: string;
  /** `st_dev` at bind time. */
  readonly dev: number;
  /** `st_ino` at bind time. */
  readonly ino: number | null;
}

type Identity = Pick<SocketFile, "dev" | "ino">;

/** Sockets this process bound, by path: replaced by a reload, never refused. */
const ours = new Map<string, Identity>();
/** Socket files {@linkcode checkSocketPath} found stale, by path. */
const stale = new Map<string, Identity>();

/** How long a connect(2) that tells live from stale may take. */
const CONNECT_TIMEOUT_MS = 2000;

function same(a: Identity | undefined, b: Identity): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino;
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  return "not a socket";
}

function refuse(path: string, reason: string): ConfigError {
  return new ConfigError(`address ${UNIX_PREFIX}${path}`, reason);
}

/**
 * Checks the path of a unix listener before it is bound: nothing there,
 * a socket this process bound, or a stale socket (connect(2) refused, so
 * nobody accepts on it; it is replaced at bind) pass. Anything else is
 * refused and left alone.
 *
 * @example Usage
 * ```ts
 * import { checkSocketPath } from "./unix.ts";
 * await checkSocketPath(`${Deno.makeTempDirSync()}/free.sock`);
 * ```
 *
 * @throws {ConfigError} naming the path when another process listens on
 * it, when it is not a socket (a file, a directory, a symlink), or when
 * it cannot be told.
 */
export async function checkSocketPath(path: string): Promise<void> {
  let info: Deno.FileInfo | undefined;
  try {
    info = lstatOrUndefined(path);
  } catch (error) {
    throw refuse(path, `cannot look at it: ${(error as Error).message}`);
  }
  if (info === undefined || same(ours.get(path), info)) return;
  if (!info.isSocket) {
    throw refuse(path, `is ${kindOf(info)}, not a socket; koan leaves it`);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connecting = Deno.connect({ transport: "unix", path });
  let conn: Deno.UnixConn | undefined;
  try {
    conn = await Promise.race([
      connecting,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), CONNECT_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    // Refused: a socket file nobody accepts on, left by a run that died.
    if (error instanceof Deno.errors.ConnectionRefused) {
      stale.set(path, { dev: info.dev, ino: info.ino });
      return;
    }
    if (error instanceof Deno.errors.NotFound) return; // removed meanwhile
    throw refuse(
      path,
      `cannot tell whether a process listens on it: ${
        (error as Error).message
      }`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (conn === undefined) {
    connecting.then((late) => late.close(), () => {});
    throw refuse(
      path,
      `cannot tell whether a process listens on it (no answer to connect within ${
        CONNECT_TIMEOUT_MS / 1000
      } s)`,
    );
  }
  conn.close();
  throw refuse(path, "another process is listening on it");
}

/** Options for {@linkcode placeSocket}. */
export interface PlaceOptions<T> {
  /** Octal `socket_mode` ("0660"); "" leaves the umask's. @default {""} */
  mode?: string;
  /** Binds and listens at the given (temporary) path. */
  bind: (path: string) => T;
  /** Undoes `bind` when the socket cannot be put in place. */
  discard: (bound: T) => void;
}

function stagingPath(path: string): string {
  const directory = path.slice(0, path.lastIndexOf("/"));
  const name = crypto.getRandomValues(new Uint32Array(1))[0]!
    .toString(36).padStart(6, "0").slice(-6);
  return `${directory}/.koan-${name}`;
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    // The staging name: gone already, or its directory unwritable now.
    log("net").debug("cannot remove {path}: {error}", {
      path,
      error: (error as Error).message,
    });
  }
}

/**
 * Binds a unix socket at `path` (staged, see the module notes) and returns
 * what `bind` returned with the socket file's identity. What is at `path`
 * is replaced only when it is nothing, a socket this process bound, or
 * one {@linkcode checkSocketPath} found stale.
 *
 * @throws {ConfigError} naming the path when something else is there.
 * @throws {Deno.errors.PermissionDenied} and friends when it cannot bind.
 */
export function placeSocket<T>(
  path: string,
  options: PlaceOptions<T>,
): { bound: T; file: SocketFile } {
  const there = lstatOrUndefined(path);
  if (there !== undefined) {
    if (!there.isSocket) {
      throw refuse(path, `is ${kindOf(there)}, not a socket; koan leaves it`);
    }
    if (!same(ours.get(path), there) && !same(stale.get(path), there)) {
      throw refuse(
        path,
        "a socket is there that nobody checked: another process may be listening on it",
      );
    }
  }
  const staging = stagingPath(path);
  const bound = options.bind(staging);
  let placed: Deno.FileInfo;
  try {
    placed = Deno.lstatSync(staging);
    if (!placed.isSocket) {
      throw refuse(path, `${staging} was replaced while it was bound`);
    }
    if (options.mode) Deno.chmodSync(staging, parseInt(options.mode, 8));
    Deno.renameSync(staging, path);
  } catch (error) {
    options.discard(bound);
    removeQuietly(staging);
    throw error;
  }
  const file = { path, dev: placed.dev, ino: placed.ino };
  ours.set(path, file);
  stale.delete(path);
  return { bound, file };
}

/**
 * Applies `socket_mode` to a socket already bound (a reload that changed
 * it), if the path still holds that socket.
 */
export function setSocketMode(file: SocketFile, mode: string): void {
  if (!mode) return;
  try {
    const info = lstatOrUndefined(file.path);
    if (info !== undefined && info.isSocket && same(file, info)) {
      Deno.chmodSync(file.path, parseInt(mode, 8));
    }
  } catch (error) {
    log("net").warn("socket_mode {mode} not applied to {path}: {error}", {
      mode,
      path: file.path,
      error: (error as Error).message,
    });
  }
}

/**
 * Removes the socket file koan bound, if the path still holds that very
 * socket (same device and inode): never a file put there since, nor what
 * a symlink points to.
 */
export function removeSocketFile(file: SocketFile): void {
  if (same(ours.get(file.path), file)) ours.delete(file.path);
  try {
    const info = lstatOrUndefined(file.path);
    if (info === undefined) return;
    if (!info.isSocket || !same(file, info)) {
      log("net").debug("{path} left in place: not the socket koan bound", {
        path: file.path,
      });
      return;
    }
    Deno.removeSync(file.path);
  } catch (error) {
    // Whatever stops it (the directory unwritable now), the exit goes on:
    // the file left is stale, and the next start replaces it.
    log("net").warn("socket file {path} not removed: {error}", {
      path: file.path,
      error: (error as Error).message,
    });
  }
}

/** A unix-socket client accepted by `Deno.listen`. */
class UnixConn implements AcceptedConn {
  #conn: Deno.UnixConn;
  readonly local: string;

  constructor(conn: Deno.UnixConn, local: string) {
    this.#conn = conn;
    this.local = local;
  }

  get peer(): string {
    return UNIX_PEER;
  }

  get source(): string {
    return UNIX_PEER;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#conn.read(buffer);
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  close(): void {
    this.#conn.close();
  }
}

/**
 * Adapts a unix `Deno.Listener` bound for `path` to an
 * {@linkcode AcceptSource} whose connections say peer `unix`, local
 * `unix:/path`, source `unix`.
 *
 * @example Usage
 * ```ts
 * import { unixSource } from "./unix.ts";
 * const path = `${Deno.makeTempDirSync()}/koan.sock`;
 * const source = unixSource(Deno.listen({ transport: "unix", path }), path);
 * const client = await Deno.connect({ transport: "unix", path });
 * const conn = await source.accept();
 * if (conn.peer !== "unix" || conn.local !== `unix:${path}`) throw new Error();
 * conn.close();
 * client.close();
 * source.close();
 * ```
 */
export function unixSource(
  listener: Deno.Listener<Deno.UnixConn>,
  path: string,
): AcceptSource {
  const local = `${UNIX_PREFIX}${path}`;
  return {
    async accept(): Promise<AcceptedConn> {
      return new UnixConn(await listener.accept(), local);
    },
    close() {
      try {
        listener.close();
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    },
  };
}

const AF_UNIX = 1;
/** `struct sockaddr_un`: a 2-byte family, then 108 bytes of path. */
const SOCKADDR_UN_BYTES = 110;
const GETSOCKNAME = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

let libc:
  | Deno.DynamicLibrary<typeof GETSOCKNAME>["symbols"]
  | null
  | undefined;

function loadLibc(): typeof libc {
  if (libc !== undefined) return libc;
  libc = null;
  for (const path of LIBC_PATHS) {
    // Never prompt: only where the permission is granted already.
    if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") {
      continue;
    }
    try {
      libc = Deno.dlopen(path, GETSOCKNAME).symbols;
      break;
    } catch (error) {
      // Not at this path: Deno.dlopen throws a plain Error ("Could not
      // open library", checked on Deno 2.9.6). Try the next one.
      if ((error as Error)?.constructor !== Error) throw error;
    }
  }
  return libc;
}

/**
 * The path a unix socket passed on `fd` is bound to (systemd's
 * `ListenStream=/run/koan/http.sock`), read with getsockname(2) through
 * the C library: neither `Deno` nor `node:net` can tell it.
 *
 * @throws {TypeError} saying why when it cannot be read: no FFI for the
 * C library (`--allow-ffi`), not a unix socket, an abstract or unnamed one.
 */
export function unixSocketPath(fd: number): string {
  const c = loadLibc();
  if (!c) {
    throw new TypeError(
      `reading a unix socket's path takes getsockname(2) from the C library: allow FFI for it (--allow-ffi=${
        LIBC_PATHS[0]
      })`,
    );
  }
  const address = new Uint8Array(SOCKADDR_UN_BYTES);
  const length = new Uint32Array([SOCKADDR_UN_BYTES]);
  if (c.getsockname(fd, address, new Uint8Array(length.buffer)) !== 0) {
    throw new TypeError(`getsockname(2) failed on fd ${fd}`);
  }
  const family = address[0]! | (address[1]! << 8);
  if (family !== AF_UNIX) {
    throw new TypeError(`fd ${fd} is not a unix socket (family ${family})`);
  }
  const bytes = address.subarray(2, Math.min(length[0]!, SOCKADDR_UN_BYTES));
  if (bytes.length === 0 || bytes[0] === 0) {
    throw new TypeError(`fd ${fd} is an unnamed or abstract unix socket`);
  }
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}
