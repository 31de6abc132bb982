/**
 * CLOCK_MONOTONIC in microseconds, for sd_notify's `MONOTONIC_USEC=` (sent
 * with `RELOADING=1`; systemd compares it with the time it asked for the
 * reload). Deno exposes no absolute monotonic clock: `performance.now()`
 * and `process.hrtime()` count from process start, `Deno.osUptime()` is
 * whole seconds of CLOCK_BOOTTIME, and `/proc/timer_list` (which shows
 * CLOCK_MONOTONIC) is readable by root only.
 *
 * So: `clock_gettime(CLOCK_MONOTONIC)` from the C library through FFI when
 * this process may load it (the compiled binary is granted `--allow-ffi`
 * for the usual libc paths only). Otherwise, when this process may read
 * `/proc` (Deno asks for `--allow-all` there), an upper bound from
 * `/proc/uptime` — CLOCK_BOOTTIME, which equals CLOCK_MONOTONIC plus the
 * time spent suspended, printed to 10 ms — rounded up, so the value is
 * never earlier than the true time (what systemd's check needs) and on a
 * server that never suspends is at most 10 ms late. Failing both, no value:
 * `RELOADING=1` then goes without `MONOTONIC_USEC=`, which `Type=notify`
 * accepts (only `Type=notify-reload` insists on it).
 *
 * @module
 */
import { log } from "../log/log.ts";
import { isOneOf } from "../util/errors.ts";
import { LIBC_PATHS } from "../util/self_command.ts";

const CLOCK_MONOTONIC = 1;

/**
 * What `Deno.statSync` throws for a C library that is not at a path, or
 * that this process may not look at.
 */
const NO_FILE = [
  Deno.errors.NotFound,
  Deno.errors.NotADirectory,
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable,
];
/** What reading and parsing `/proc/uptime` throws when it gives no value. */
const NO_UPTIME = [...NO_FILE, SyntaxError];

type ClockGettime = (clock: number, timespec: BigInt64Array) => number;

let clockGettime: ClockGettime | null | undefined;

function loadClockGettime(): ClockGettime | null {
  for (const path of LIBC_PATHS) {
    try {
      // Never prompt: ask only when the permission is already granted.
      if (
        Deno.permissions.querySync({ name: "ffi", path }).state !== "granted"
      ) {
        continue;
      }
      Deno.statSync(path);
      const lib = Deno.dlopen(path, {
        clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
      });
      return (clock, timespec) => lib.symbols.clock_gettime(clock, timespec);
    } catch (error) {
      // Not here (NO_FILE from statSync), or not loadable: Deno.dlopen
      // throws a plain Error ("Could not open library: ...", checked on
      // Deno 2.9.6). Either way try the next path; anything else is logged
      // too, as the clock must not break a reload.
      const plain = (error as Error)?.constructor === Error;
      if (!plain && !isOneOf(error, NO_FILE)) {
        log("daemon").debug("cannot load clock_gettime from {path}: {error}", {
          path,
          error: (error as Error)?.message ?? String(error),
        });
      }
    }
  }
  return null;
}

/**
 * Parses `/proc/uptime` into microseconds, rounded up by its 10 ms
 * resolution.
 *
 * @example Usage
 * ```ts
 * import { uptimeMicros } from "./clock.ts";
 * if (uptimeMicros("1234.56 999.00\n") !== 1234_570_000n) throw new Error("bad parse");
 * ```
 *
 * @throws {SyntaxError} when the text is not /proc/uptime's.
 */
export function uptimeMicros(text: string): bigint {
  const match = /^(\d+)\.(\d{2})\s/.exec(text);
  if (!match) throw new SyntaxError(`Cannot parse /proc/uptime "${text}"`);
  return BigInt(match[1]!) * 1_000_000n + BigInt(match[2]!) * 10_000n +
    10_000n;
}

/** Where {@linkcode monotonicMicros} reads the clock, or `"none"`. */
export type ClockSource = "clock_gettime" | "/proc/uptime" | "none";

/** Deno lets only `--allow-all` read `/proc`; ask so a terminal never prompts. */
function procReadable(): boolean {
  const names = ["read", "write", "net", "env", "run", "sys", "ffi"] as const;
  try {
    return names.every((name) =>
      Deno.permissions.querySync({ name }).state === "granted"
    );
  } catch (error) {
    // querySync() throws TypeError for a permission name this Deno does not
    // know (checked on Deno 2.9.6): then /proc is not known to be readable.
    if (!(error instanceof TypeError)) throw error;
    return false;
  }
}

/** Which source {@linkcode monotonicMicros} uses. */
export function monotonicSource(): ClockSource {
  clockGettime ??= loadClockGettime();
  if (clockGettime) return "clock_gettime";
  return procReadable() ? "/proc/uptime" : "none";
}

/**
 * CLOCK_MONOTONIC now, in microseconds, or `undefined` when this process
 * has no way to read it (see the module notes).
 */
export function monotonicMicros(): bigint | undefined {
  clockGettime ??= loadClockGettime();
  if (clockGettime) {
    const timespec = new BigInt64Array(2);
    if (clockGettime(CLOCK_MONOTONIC, timespec) === 0) {
      return timespec[0]! * 1_000_000n + timespec[1]! / 1000n;
    }
  }
  if (!procReadable()) return undefined;
  try {
    return uptimeMicros(Deno.readTextFileSync("/proc/uptime"));
  } catch (error) {
    // No /proc (NO_FILE), or not the format expected (SyntaxError from
    // uptimeMicros): no value. Anything else is logged, not thrown: the
    // clock must not break a reload.
    if (!isOneOf(error, NO_UPTIME)) {
      log("daemon").debug("cannot read /proc/uptime: {error}", {
        error: (error as Error)?.message ?? String(error),
      });
    }
    return undefined;
  }
}
