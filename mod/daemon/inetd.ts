/**
 * `koan inetd --protocol P`: serve exactly one connection that inetd,
 * xinetd or systemd (`Accept=yes`) passed as stdin/stdout, then exit.
 * Nothing but protocol bytes ever goes to stdout.
 *
 * `koan inetd --wait --protocol P`: inetd's `wait` mode, where fd 0 is the
 * listening socket (see `inetd_wait.ts`).
 *
 * Plain inetd and xinetd leave fds 0, 1 and 2 all the client's socket, so
 * stderr is checked first of all, before the arguments and the config are
 * read. When it is the client's socket it is never written again: the log
 * layer is forbidden to write to it, fd 2 is pointed at `/dev/null` where
 * this process may call the C library (so that not even Deno's own output,
 * a panic or the inspector's banner, can reach the client), uncaught errors
 * are caught here, and logs go to `[log] file`, or to syslog (`/dev/log`)
 * when it names none. A connection koan cannot serve (a bad config) gets
 * its protocol's own error where it has one (HTTP: 503) or a clean close,
 * and the reason goes to syslog (or the file the config names, if its
 * `[log]` can still be read). Where stderr is a log destination of its own
 * (journald under systemd's `StandardError=journal`, a terminal) errors go
 * there, as for every other subcommand, and a client is refused the same
 * way.
 *
 * Every connection pays this module's start-up, so it imports only what
 * one connection needs: the one protocol served (`loadProtocol`), the
 * wait mode only when used, LogTape only with the first leveled line
 * (`log.ts`), and nothing from `node:*` (the first Node module costs
 * 10–25 ms: docs/performance.md). Loading the C library through FFI costs
 * 3–4 ms: paid to detach fd 2 when it is the client's, and to tell what
 * fd 2 is where Deno keeps this process out of `/proc/self` (any
 * permissions short of `-A`: the compiled binary, the installed launcher).
 *
 * @module
 */
import { ConfigError } from "../config/error.ts";
import { loadConfig, parseConfigText, SYSTEM_CONFIG } from "../config/load.ts";
import { PROTOCOL_NAMES } from "../config/settings.ts";
import { flushLogs, log, setupLogging } from "../log/log.ts";
import { writeAccess } from "../log/access_log.ts";
import { forbidStderr } from "../log/stderr.ts";
import type { ProtocolName } from "../protocols/contract.ts";
import { loadProtocol } from "../protocols/load.ts";
import { stdioTransport } from "../net/stdio.ts";
import { createHandler } from "../models/in_isolate/env.ts";
import { EXIT } from "../util/exit.ts";
import { after } from "../util/timer.ts";
import { LIBC_PATHS } from "../util/self_command.ts";
import { UsageError } from "../util/usage.ts";
import { makeGeneration } from "./generation.ts";

/** The config sections one inetd connection reads. */
const INETD_SECTIONS = ["zen", "http", "limits", "log"] as const;

/**
 * The client's address: xinetd exports REMOTE_HOST, systemd's
 * `Accept=yes` REMOTE_ADDR; plain inetd says nothing, so it is asked of
 * the socket on fd 0 (`getpeername(2)`, where the C library may be
 * loaded). "stdin" where neither can tell: the HTTP admin routes then
 * count the client as outside loopback.
 */
function peerOfStdin(): string {
  const named = Deno.env.get("REMOTE_HOST") ?? Deno.env.get("REMOTE_ADDR");
  if (named) return named;
  const c = loadLibc();
  if (!c?.getpeername) return "stdin";
  const address = new Uint8Array(128); // sockaddr_storage
  const length = new Uint32Array([address.length]);
  if (c.getpeername(0, address, length) !== 0) return "stdin";
  return sockaddrPeer(address.subarray(0, length[0])) ?? "stdin";
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;

/**
 * A `struct sockaddr` (Linux layout, host byte order for the family) as
 * koan writes peers: `a.b.c.d:port`, `[v6]:port` (RFC 5952 short form),
 * `unix`; undefined for another family or a short buffer.
 *
 * @example Usage
 * ```ts
 * import { sockaddrPeer } from "./inetd.ts";
 * const v4 = new Uint8Array([2, 0, 0x1f, 0x90, 127, 0, 0, 1]);
 * if (sockaddrPeer(v4) !== "127.0.0.1:8080") throw new Error();
 * ```
 */
export function sockaddrPeer(address: Uint8Array): string | undefined {
  if (address.length < 2) return undefined;
  const family = address[0]! | (address[1]! << 8);
  if (family === AF_UNIX) return "unix";
  if (address.length < 4) return undefined;
  const port = (address[2]! << 8) | address[3]!;
  if (family === AF_INET && address.length >= 8) {
    return `${address.subarray(4, 8).join(".")}:${port}`;
  }
  if (family === AF_INET6 && address.length >= 24) {
    return `[${formatIpv6(address.subarray(8, 24))}]:${port}`;
  }
  return undefined;
}

/** 16 bytes as RFC 5952 text; an IPv4-mapped address as `::ffff:a.b.c.d`. */
function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12, 16).join(".")}`;
  }
  // The longest run of two or more zero groups becomes "::".
  let best = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${
    hex.slice(best + bestLength).join(":")
  }`;
}

/** What `Deno.readLinkSync` throws when `/proc/self/fd/N` cannot be read. */
const NO_FD_LINK = [
  Deno.errors.NotFound, // no such fd, or no /proc
  Deno.errors.PermissionDenied,
  // Deno 2.9.6 wants --allow-all for anything under /proc/self (and
  // /dev/stdin, /dev/fd): --allow-read is not enough.
  Deno.errors.NotCapable,
];

/** An open descriptor: whether it is a socket, and what tells it from others. */
interface FdIdentity {
  socket: boolean;
  /** `socket:[inode]` (from /proc), or `dev:ino` (from fstat). */
  id: string;
}

/** From `/proc/self/fd`; undefined where this process cannot read it. */
function procIdentity(fd: number): FdIdentity | undefined {
  try {
    const target = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return { socket: target.startsWith("socket:"), id: target };
  } catch (error) {
    if (!NO_FD_LINK.some((kind) => error instanceof kind)) throw error;
    return undefined;
  }
}

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
/** `st_mode` in `struct stat`, in 32-bit words: after st_dev, st_ino (and on x86_64 st_nlink). */
const ST_MODE_WORD = Deno.build.arch === "x86_64" ? 6 : 4;
/** glibc's `_STAT_VER` for `__fxstat`, used where `fstat` is not exported (glibc < 2.33). */
const STAT_VER = Deno.build.arch === "x86_64" ? 1 : 0;
const O_WRONLY = 0o1;
const O_CLOEXEC = 0o2000000;
const NULL_DEVICE = new TextEncoder().encode("/dev/null\0");

const LIBC_SYMBOLS = {
  fstat: { parameters: ["i32", "buffer"], result: "i32", optional: true },
  __fxstat: {
    parameters: ["i32", "i32", "buffer"],
    result: "i32",
    optional: true,
  },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  getpeername: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
    optional: true,
  },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** The C library once loaded; null where this process may not load it. */
let libc: Libc | null | undefined;

/**
 * The C library, where this process may load it through FFI (the
 * compiled binary and the installed launcher are granted `--allow-ffi`
 * for the usual libc paths; `-A` grants it too). Loading it costs 3–4 ms,
 * so it is loaded only where /proc cannot answer, to detach stderr, or to
 * ask plain inetd's socket for the client's address.
 */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  for (const path of LIBC_PATHS) {
    // Never prompt: only where the permission is granted already.
    if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") {
      continue;
    }
    try {
      libc = Deno.dlopen(path, LIBC_SYMBOLS).symbols;
      return libc;
    } catch (error) {
      // Not at this path: Deno.dlopen throws a plain Error ("Could not
      // open library: ...", checked on Deno 2.9.6). Try the next one.
      if ((error as Error)?.constructor !== Error) throw error;
    }
  }
  return libc;
}

/** From `fstat(2)`; null for a closed fd, undefined without the C library. */
function fstatIdentity(fd: number): FdIdentity | null | undefined {
  const c = loadLibc();
  if (!c) return undefined;
  const stat = new BigUint64Array(32); // struct stat is 144 bytes at most
  const result = c.fstat
    ? c.fstat(fd, stat)
    : c.__fxstat
    ? c.__fxstat(STAT_VER, fd, stat)
    : -1;
  if (result !== 0) return null;
  const mode = new Uint32Array(stat.buffer)[ST_MODE_WORD]!;
  return { socket: (mode & S_IFMT) === S_IFSOCK, id: `${stat[0]}:${stat[1]}` };
}

/** What fd is; null when it is not open, undefined when this process cannot tell. */
function identity(fd: number): FdIdentity | null | undefined {
  return procIdentity(fd) ?? fstatIdentity(fd);
}

/** Whether stdin is a socket (a connection, or inetd's listener). */
function stdinIsSocket(): boolean {
  return identity(0)?.socket === true;
}

/**
 * Whether stderr is the client's connection: the very socket on stdin, as
 * inetd and xinetd leave fds 0, 1 and 2. A socket of its own (journald's
 * stream under systemd's `StandardError=journal`) is a log destination.
 * Read from `/proc/self/fd` (Linux), which costs microseconds where
 * `node:fs`'s `fstatSync` costs 25 ms of start-up; where Deno does not let
 * this process read it (anything short of `--allow-all`), from `fstat`
 * through the C library (`--allow-ffi`). Where neither is allowed it
 * cannot tell, and assumes the worst unless stderr is a terminal: logs
 * then go to syslog or the log file, which under systemd's journal is
 * where stderr would have taken them too.
 */
export function stderrIsClient(): boolean {
  const err = identity(2);
  if (err === undefined) return !Deno.stderr.isTerminal();
  if (err === null || !err.socket) return false;
  const input = identity(0);
  return input?.socket === true && input.id === err.id;
}

/** `koan inetd`'s flags (DESIGN §2). */
export interface InetdFlags {
  protocol?: string;
  config?: string;
  wait?: boolean;
}

/**
 * Reads `--protocol P`, `--config FILE` (or `--flag=value`) and `--wait`.
 * A loop rather than `node:util`'s `parseArgs`, whose import would cost
 * every connection 10–25 ms; the messages match `parseArgs`'s.
 *
 * @example Usage
 * ```ts
 * import { parseInetdArgs } from "./inetd.ts";
 * const flags = parseInetdArgs(["--protocol=zen", "--wait"]);
 * if (flags.protocol !== "zen" || flags.wait !== true) throw new Error();
 * ```
 *
 * @throws {UsageError} for an unknown flag, a missing value or a stray argument.
 */
export function parseInetdArgs(args: readonly string[]): InetdFlags {
  const flags: InetdFlags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) {
      throw new UsageError(`Unexpected argument '${arg}'`);
    }
    const equals = arg.indexOf("=");
    const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
    if (name === "wait") {
      if (equals >= 0) {
        throw new UsageError(`Option '--wait' does not take an argument`);
      }
      flags.wait = true;
    } else if (name === "protocol" || name === "config") {
      const value = equals >= 0 ? arg.slice(equals + 1) : args[++i];
      if (value === undefined || (equals < 0 && value.startsWith("--"))) {
        throw new UsageError(`Option '--${name} <value>' argument missing`);
      }
      flags[name] = value;
    } else {
      throw new UsageError(`Unknown option '--${name}'`);
    }
  }
  return flags;
}

/** How far a start got: what its failure report says and what the client hears. */
interface Progress {
  /** The protocol, once the arguments named a valid one. */
  protocol?: ProtocolName;
  /** `--config FILE`, once the arguments were read. */
  config?: string;
  /** `--wait`: fd 0 is a listener, there is no one client to answer. */
  wait?: boolean;
  /** Logging is set up from the config's `[log]`. */
  logging: boolean;
  /** The protocol's handler has the connection: too late for a reply of ours. */
  serving: boolean;
}

/**
 * Runs one inetd-style connection (or, with `--wait`, the listening
 * socket on fd 0); resolves with the exit code.
 *
 * When stderr is the client's socket it never rejects: every failure,
 * uncaught ones included, is logged (syslog or the log file) and the
 * client refused in its protocol's way.
 *
 * @throws {UsageError} without a valid `--protocol` (stderr not the client's).
 * @throws {ConfigError} for an invalid config or aphorism file (likewise).
 */
export async function runInetd(args: string[]): Promise<number> {
  const progress: Progress = { logging: false, serving: false };
  if (stderrIsClient()) return await serveWithClientStderr(args, progress);
  try {
    return await serveInetd(args, progress, false);
  } catch (error) {
    // stderr is a destination of its own (journald, a terminal): the
    // CLI prints the error there. A client on stdin is refused first.
    if (!progress.serving && !progress.wait && stdinIsSocket()) {
      await answerRefusal(progress.protocol).catch(() => {
        // Any error here: the client is gone or cannot be answered; the
        // error being reported is the one that matters.
      });
    }
    throw error;
  }
}

async function serveInetd(
  args: string[],
  progress: Progress,
  clientStderr: boolean,
): Promise<number> {
  const values = parseInetdArgs(args);
  if (values.config !== undefined) progress.config = values.config;
  if (values.wait) progress.wait = true;
  const name = values.protocol;
  if (!name || !(PROTOCOL_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(
      `koan inetd needs --protocol ${PROTOCOL_NAMES.join("|")}`,
    );
  }
  progress.protocol = name as ProtocolName;
  // The protocol's module loads while the config file is read. Only the
  // sections a connection uses are read and checked: no [[listener]]
  // (inetd owns the socket), no [daemon]; `koan check-config` judges all.
  const [protocol, loaded] = await Promise.all([
    loadProtocol(name as ProtocolName),
    loadConfig({
      ...(values.config === undefined ? {} : { path: values.config }),
      build: { sections: INETD_SECTIONS, listeners: false },
    }),
  ]);
  const logSettings = { ...loaded.config.log };
  // stderr is the client here (plain inetd): logs that would go there go
  // to syslog, and so do access lines without a destination of their own.
  if (clientStderr && !logSettings.file) logSettings.file = "syslog";
  setupLogging(logSettings, { tag: "inetd" });
  progress.logging = true;
  // After logging, so that a bad aphorism table is logged where the
  // config says.
  const generation = await makeGeneration(loaded.config);
  log("inetd").debug("serving {protocol} {ms} ms after start", {
    protocol: name,
    ms: Math.round(performance.now()),
  });
  if (values.wait) {
    const { serveInheritedListener } = await import("./inetd_wait.ts");
    try {
      return await serveInheritedListener({ protocol, generation });
    } finally {
      await flushLogs();
    }
  }
  const handler = createHandler(protocol, generation, { draining: false });
  const transport = stdioTransport(loaded.config.limits.send_timeout * 1000);
  progress.serving = true;
  await handler(transport, {
    info: { peer: peerOfStdin(), local: "stdin" },
    draining: new AbortController().signal,
    access: writeAccess,
  });
  await flushLogs();
  return 0;
}

/**
 * {@linkcode serveInetd} with stderr the client's socket: fd 2 is
 * detached first, and whatever fails, thrown or uncaught, ends in
 * {@linkcode refuse}.
 */
async function serveWithClientStderr(
  args: string[],
  progress: Progress,
): Promise<number> {
  forbidStderr();
  // An uncaught exception or rejection would make Deno print it to fd 2
  // and exit: taken here instead, logged, and the client refused.
  const uncaught = Promise.withResolvers<never>();
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    uncaught.reject(event.error);
  };
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    uncaught.reject(event.reason);
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  try {
    detachStderr();
    return await Promise.race([
      serveInetd(args, progress, true),
      uncaught.promise,
    ]);
  } catch (error) {
    return await refuse(error, progress, args);
  }
}

/**
 * Points fd 2 at `/dev/null` with `dup2`, through the C library where
 * this process may load it. Returns whether it did; without FFI, stderr is
 * kept clean by never writing to it (`forbidStderr`, the uncaught-error
 * handlers).
 */
function detachStderr(): boolean {
  const c = loadLibc();
  if (!c) return false;
  const fd = c.open(NULL_DEVICE, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const done = c.dup2(fd, 2) === 2;
  c.close(fd);
  return done;
}

/** What a client hears when koan cannot serve it: HTTP has a status for it. */
const UNAVAILABLE: Partial<Record<ProtocolName, () => Promise<Uint8Array>>> = {
  http: async () => {
    const [{ errorBytes }, { HttpError }] = await Promise.all([
      import("../protocols/http/writer.ts"),
      import("../protocols/http/status.ts"),
    ]);
    return errorBytes(new HttpError(503, "Error: server cannot start."));
  },
};

/** A refused client's bytes are read for this long at most... */
const LINGER_MS = 1000;
/** ...and until none came for this long, so that closing sends FIN, not RST. */
const QUIET_MS = 100;
const TIMED_OUT = -1;

/**
 * Logs why this connection cannot be served and refuses the client in
 * its protocol's way (HTTP 503; Zen and echo, whose clients speak first,
 * a clean close). Never throws.
 */
async function refuse(
  error: unknown,
  progress: Progress,
  args: string[],
): Promise<number> {
  const expected = error instanceof ConfigError || error instanceof UsageError;
  const text = expected
    ? (error as Error).message
    : oneLine((error as Error)?.stack ?? String(error));
  try {
    if (!progress.logging) await setupFallbackLogging(progress, args);
    log("inetd").error(
      progress.serving
        ? "failed while serving: {error}"
        : progress.wait
        ? "cannot serve the listening socket: {error}"
        : "refused the connection: {error}",
      { error: text },
    );
  } catch {
    // Any error here means no log can be opened (no syslog socket, no
    // file): the reason is lost; the client is still answered below.
  }
  const answered = progress.serving || progress.wait
    ? Promise.resolve()
    : answerRefusal(progress.protocol);
  await Promise.all([flushLogs(), answered]).catch(() => {
    // Any error here is a log or a client already gone: nothing is left
    // to report it to.
  });
  return expected ? EXIT.usage : EXIT.failure;
}

function oneLine(text: string): string {
  return text.split("\n").map((line) => line.trim()).join(" ");
}

/**
 * Logging for a config that could not be loaded: errors only, to the
 * `[log] file` the file still names (read even where the rest of it is
 * invalid), else syslog.
 */
async function setupFallbackLogging(
  progress: Progress,
  args: string[],
): Promise<void> {
  const file = await salvageLogFile(progress.config ?? configFlag(args));
  const settings = {
    level: "error" as const,
    format: "text" as const,
    file,
    access: false,
  };
  try {
    setupLogging(settings, { tag: "inetd" });
  } catch (error) {
    // The named file cannot be opened (NotFound, PermissionDenied, ...):
    // syslog then, as with no file named.
    if (file === "syslog" || !(error instanceof Error)) throw error;
    setupLogging({ ...settings, file: "syslog" }, { tag: "inetd" });
  }
  progress.logging = true;
}

/** `--config FILE` from arguments that may not parse as a whole. */
function configFlag(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--config") return args[i + 1];
    if (arg.startsWith("--config=")) return arg.slice("--config=".length);
  }
  return undefined;
}

/**
 * The `[log] file` of the config file koan would read (as `loadConfig`
 * finds it), or `"syslog"`: from the parsed TOML, or, where the TOML
 * does not parse, from the `file = "..."` line of its `[log]` table.
 */
async function salvageLogFile(flag: string | undefined): Promise<string> {
  let path = flag;
  let text: string;
  try {
    path ??= Deno.env.get("KOAN_CONFIG") ?? SYSTEM_CONFIG;
    text = await Deno.readTextFile(path);
  } catch (error) {
    // No file to read (missing, no permission, not UTF-8; no --allow-env
    // for KOAN_CONFIG): nothing names a log file.
    if (!(error instanceof Error)) throw error;
    return "syslog";
  }
  let file: unknown;
  try {
    const raw = await parseConfigText(text, path);
    file = (raw as { log?: { file?: unknown } } | undefined)?.log?.file;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    file = logFileLine(text);
  }
  return typeof file === "string" && file !== "" ? file : "syslog";
}

/** `file = "..."` (or `'...'`) in the `[log]` table of TOML text that does not parse. */
function logFileLine(text: string): string | undefined {
  let inLog = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      inLog = /^\[\s*log\s*\]/.test(line);
      continue;
    }
    if (!inLog) continue;
    const match = /^file\s*=\s*(?:"([^"\\]*)"|'([^']*)')/.exec(line);
    if (match) return match[1] ?? match[2];
  }
  return undefined;
}

/**
 * Answers a client koan cannot serve: the protocol's error where it has
 * one, then its bytes are read until it stops sending (1 s at most), so
 * that the close is a FIN the client sees as an orderly end, not a reset.
 */
async function answerRefusal(
  protocol: ProtocolName | undefined,
): Promise<void> {
  const reply = protocol === undefined
    ? undefined
    : await UNAVAILABLE[protocol]?.();
  try {
    for (let sent = 0; reply && sent < reply.length;) {
      sent += await Deno.stdout.write(reply.subarray(sent));
    }
  } catch {
    // Any error here means the client is gone (BrokenPipe,
    // ConnectionReset) or stdout is not a connection: no one to answer.
    return;
  }
  const buffer = new Uint8Array(4096);
  const end = performance.now() + LINGER_MS;
  let received = 0;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0 || received > 1 << 20) return;
    const wait = received > 0 ? Math.min(QUIET_MS, left) : left;
    const n = await Promise.race([
      Deno.stdin.read(buffer).catch(() => null), // gone, like end of stream
      new Promise<number>((resolve) => after(wait, () => resolve(TIMED_OUT))),
    ]);
    if (n === null || n === TIMED_OUT) return;
    received += n;
  }
}
