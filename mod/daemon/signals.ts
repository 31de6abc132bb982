/**
 * Signals, in one place. Received: they become queued events, and the
 * daemon's loop drains the queue and acts (gunicorn's arbiter); handlers
 * here only enqueue and wake the loop — no logging, no work inside a
 * signal callback. Sent: `koan reopen` sends {@linkcode REOPEN_SIGNAL} to
 * the daemon ({@linkcode sendSignal}). Refused: SIGUSR1, on which Deno ≥
 * 2.9.2 opens a V8 inspector on 127.0.0.1:9229 that any local user can
 * connect to and run code in ({@linkcode ignoreSigusr1}).
 *
 * Deno 2.9.6 has no switch for that inspector (no flag, no environment
 * variable, `NODE_OPTIONS=--disable-sigusr1` ignored), and a
 * `Deno.addSignalListener("SIGUSR1")` runs beside it without stopping it.
 * What does stop it is the kernel ignoring the signal: the C library's
 * `signal(SIGUSR1, SIG_IGN)`, called through FFI (permitted for the C
 * library only, as `clock.ts` is).
 *
 * @module
 */
import { LIBC_PATHS } from "../util/self_command.ts";

/** Signals the daemon answers; SIGUSR2 reopens the log files. */
export const HANDLED_SIGNALS = [
  "SIGTERM",
  "SIGINT",
  "SIGQUIT",
  "SIGHUP",
  "SIGUSR2",
  "SIGTTIN",
  "SIGTTOU",
] as const satisfies readonly Deno.Signal[];

/** A handled signal's name. */
export type HandledSignal = typeof HANDLED_SIGNALS[number];

/**
 * The signal that reopens the log files (logrotate, `koan reopen`). Not
 * SIGUSR1: Deno opens a debugger on that one.
 */
export const REOPEN_SIGNAL = "SIGUSR2" satisfies HandledSignal;

/** A queue of received signals with an awaitable "something arrived". */
export class SignalQueue {
  #queue: HandledSignal[] = [];
  #wake: (() => void) | undefined;
  #listeners: [HandledSignal, () => void][] = [];

  /** Starts listening for `signals`. */
  listen(signals: readonly HandledSignal[] = HANDLED_SIGNALS): void {
    for (const signal of signals) {
      const listener = () => this.push(signal);
      Deno.addSignalListener(signal, listener);
      this.#listeners.push([signal, listener]);
    }
  }

  /** Enqueues an event (also used for internal events in tests). */
  push(signal: HandledSignal): void {
    this.#queue.push(signal);
    this.#wake?.();
    this.#wake = undefined;
  }

  /** Resolves with the next signal, waiting if none is queued. */
  async next(): Promise<HandledSignal> {
    while (this.#queue.length === 0) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#queue.shift()!;
  }

  /** Stops listening. */
  close(): void {
    for (const [signal, listener] of this.#listeners) {
      Deno.removeSignalListener(signal, listener);
    }
    this.#listeners = [];
  }
}

/** Linux's numbers (the generic table: x86_64 and aarch64 alike). */
const SIGNAL_NUMBERS = {
  SIGHUP: 1,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
} as const;

/** The signals {@linkcode sendSignal} sends to a running daemon (`koan reload`, `stop`, `reopen`). */
export type ControlSignal = "SIGHUP" | "SIGTERM" | typeof REOPEN_SIGNAL;
const SIG_IGN = 1n;
const SIG_ERR = 0xffff_ffff_ffff_ffffn;

// Two small interfaces rather than one: dlopen's cost grows with each
// symbol, and `koan inetd` pays for ignoring SIGUSR1 on every connection.
const IGNORE_SYMBOLS = {
  signal: { parameters: ["i32", "usize"], result: "usize" },
} as const satisfies Deno.ForeignLibraryInterface;
// errno is behind a pointer, which FFI narrowed to one library may not
// read (checked on Deno 2.9.6); getpgid() fails only for a pid with no
// process (ESRCH), so it tells that case from the others.
const KILL_SYMBOLS = {
  kill: { parameters: ["i32", "i32"], result: "i32" },
  getpgid: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** `symbols` from the C library, when this process may load it (never prompting). */
function openLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] | null {
  if (Deno.build.os !== "linux") return null;
  for (const path of LIBC_PATHS) {
    try {
      if (
        Deno.permissions.querySync({ name: "ffi", path }).state !== "granted"
      ) {
        continue;
      }
      return Deno.dlopen(path, symbols).symbols;
    } catch (error) {
      // Not at this path, or not loadable: dlopen throws a plain Error
      // ("Could not open library", checked on Deno 2.9.6). Try the next.
      if (!(error instanceof Error)) throw error;
    }
  }
  return null;
}

/** What {@linkcode ignoreSigusr1} achieved. */
export type Sigusr1Guard =
  | { ignored: true }
  | { ignored: false; reason: string };

let guard: Sigusr1Guard | undefined;
const noop = () => {};

/**
 * Makes this process ignore SIGUSR1 for good, so that Deno's inspector can
 * never be opened by it (see the module notes). Needs FFI for the C
 * library; without it, says why not. Idempotent; threads share the
 * process's disposition, child processes call it themselves.
 *
 * Order matters. Deno subscribes to SIGUSR1 500 ms after start, through
 * the same registry as `Deno.addSignalListener`, which installs its
 * handler in the kernel once per signal, on the first subscription. So a
 * listener of ours subscribes first, then `signal()` swaps the registry's
 * handler for SIG_IGN: Deno's later subscription installs nothing, and the
 * kernel discards every SIGUSR1 (checked on Deno 2.9.6: nothing listens on
 * 9229 after a SIGUSR1 at 1.5 s; setting SIG_IGN without the listener
 * first is undone at 500 ms).
 *
 * @example Usage
 * ```ts
 * import { ignoreSigusr1 } from "./signals.ts";
 * const guard = ignoreSigusr1();
 * if (!guard.ignored && !guard.reason) throw new Error("a reason is given");
 * ```
 */
export function ignoreSigusr1(): Sigusr1Guard {
  if (guard) return guard;
  const libc = openLibc(IGNORE_SYMBOLS);
  if (!libc) {
    guard = {
      ignored: false,
      reason: Deno.build.os === "linux"
        ? "no --allow-ffi for the C library"
        : `not on Linux (${Deno.build.os})`,
    };
    return guard;
  }
  Deno.addSignalListener("SIGUSR1", noop);
  if (BigInt(libc.signal(SIGNAL_NUMBERS.SIGUSR1, SIG_IGN)) === SIG_ERR) {
    Deno.removeSignalListener("SIGUSR1", noop);
    guard = { ignored: false, reason: "signal() failed" };
    return guard;
  }
  guard = { ignored: true };
  return guard;
}

/**
 * For a worker process: a {@linkcode REOPEN_SIGNAL} sent to it directly
 * (`pkill -USR2 koan`, `systemctl kill` without `--kill-whom=main`) must
 * not end it, as the signal's default action would. Its master tells it
 * when to reopen.
 *
 * @example Usage
 * ```ts
 * import { ignoreReopenSignal } from "./signals.ts";
 * ignoreReopenSignal();
 * ```
 */
export function ignoreReopenSignal(): void {
  Deno.addSignalListener(REOPEN_SIGNAL, noop);
}

/**
 * Sends `signal` to the process `pid`: with `Deno.kill` when this process
 * may run programs, otherwise with the C library's `kill()` (the compiled
 * binary may run only itself, but may load the C library).
 *
 * @example Usage
 * ```ts
 * import { sendSignal } from "./signals.ts";
 * let refused = false;
 * try {
 *   sendSignal(1, "SIGUSR2");
 * } catch (error) {
 *   refused = error instanceof RangeError;
 * }
 * if (!refused) throw new Error("pid 1 is never signalled");
 * ```
 *
 * @throws {RangeError} for a pid that is not a single process (≤ 1).
 * @throws {Deno.errors.NotFound} when no process has that pid (ESRCH).
 * @throws {Deno.errors.PermissionDenied} when it belongs to a user this
 *   process may not signal (EPERM).
 * @throws {Deno.errors.NotCapable} with neither `--allow-run` nor FFI for
 *   the C library.
 */
export function sendSignal(pid: number, signal: ControlSignal): void {
  // 0 and negative pids address process groups, 1 is init: never.
  if (!Number.isSafeInteger(pid) || pid <= 1) {
    throw new RangeError(`Cannot signal pid ${pid}: not a single process`);
  }
  if (Deno.permissions.querySync({ name: "run" }).state === "granted") {
    Deno.kill(pid, signal);
    return;
  }
  const libc = openLibc(KILL_SYMBOLS);
  if (!libc) {
    throw new Deno.errors.NotCapable(
      `Cannot send ${signal}: requires --allow-run or --allow-ffi=${
        LIBC_PATHS.join(",")
      }`,
    );
  }
  if (libc.getpgid(pid) === -1) {
    throw new Deno.errors.NotFound("ESRCH: No such process");
  }
  if (libc.kill(pid, SIGNAL_NUMBERS[signal]) !== 0) {
    // The process exists (getpgid), so kill() refused: EPERM.
    throw new Deno.errors.PermissionDenied("EPERM: Operation not permitted");
  }
}
