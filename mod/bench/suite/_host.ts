/**
 * What the benchmark suite asks of the machine: whether a tool is there,
 * pinning a process to a CPU, and a process's memory, CPU time and open
 * descriptors from /proc. Another process's /proc entries are read through
 * `cat` and `ls`: Deno grants them only with --allow-all, which the suite
 * does not take.
 *
 * @module
 */
import { isOneOf } from "../../util/errors.ts";

/** What running or looking at a program throws when it is not there for us. */
const NOT_THERE = [
  Deno.errors.NotFound,
  Deno.errors.NotADirectory,
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable,
];

/** Whether `path` is a file we may look at. */
export async function hasCommand(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (!isOneOf(error, NOT_THERE)) throw error;
    return false;
  }
}

const TASKSET = "/usr/bin/taskset";

/**
 * Whether servers and load generators can be kept apart: two CPUs or more
 * and `taskset` installed. Servers then run on CPU 0, clients on CPU 1.
 */
export async function canPin(): Promise<boolean> {
  return navigator.hardwareConcurrency >= 2 && await hasCommand(TASKSET);
}

/**
 * `command` with `args`, started on `cpu` through taskset when `pinning`
 * (its children and threads inherit the CPU), else as it is.
 */
export function onCpu(
  pinning: boolean,
  cpu: number,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  return pinning
    ? { command: TASKSET, args: ["-c", String(cpu), command, ...args] }
    : { command, args };
}

/** Pins every thread of the running `pid` to CPU 0, when `pinning`. */
export async function pinToServerCpu(
  pid: number,
  pinning: boolean,
): Promise<void> {
  if (!pinning) return;
  await new Deno.Command(TASKSET, {
    args: ["-a", "-c", "-p", "0", String(pid)],
    stdout: "null",
    stderr: "null",
  }).output();
}

async function read(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

/** Resident memory of `pid` alone in bytes (VmRSS), 0 when it is gone. */
export async function vmRss(pid: number): Promise<number> {
  const status = await read("cat", [`/proc/${pid}/status`]);
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kib === undefined ? 0 : Number(kib) * 1024;
}

/** How many descriptors `pid` holds open (0 when it is gone). */
export async function openFds(pid: number): Promise<number> {
  const list = await read("ls", [`/proc/${pid}/fd`]);
  return list.split("\n").filter((line) => line !== "").length;
}

/**
 * CPU time (user + system) of `pid` and its children in µs, from /proc:
 * nginx answers in a worker process under its master. Undefined off Linux.
 */
export async function cpuTimeUs(pid: number): Promise<number | undefined> {
  try {
    const children = await read("cat", [`/proc/${pid}/task/${pid}/children`]);
    const pids = [pid, ...children.split(/\s+/).filter(Boolean)];
    const stats = await read("cat", pids.map((p) => `/proc/${p}/stat`));
    let ticks = 0;
    let seen = 0;
    for (const line of stats.split("\n")) {
      if (!line) continue;
      const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15, in clock ticks (100 a second
      // on every Linux koan runs on; USER_HZ is fixed in the kernel ABI).
      ticks += Number(fields[11]) + Number(fields[12]);
      seen++;
    }
    return seen ? ticks * 10_000 : undefined;
  } catch (error) {
    // No `cat` here (NotFound), or not allowed to run it.
    if (!isOneOf(error, NOT_THERE)) throw error;
    return undefined;
  }
}

/**
 * The soft open-file limit of this process, which its children inherit;
 * Infinity when unlimited. Asked of `sh` (`ulimit -n`), which inherits it:
 * Deno grants /proc/self/limits only with --allow-all.
 */
export async function softFdLimit(): Promise<number> {
  const text = (await read("sh", ["-c", "ulimit -n"])).trim();
  const limit = Number(text);
  if (text === "unlimited") return Infinity;
  if (!Number.isInteger(limit) || limit <= 0) {
    throw new TypeError(
      `Cannot read the open-file limit: "ulimit -n" said "${text}"`,
    );
  }
  return limit;
}
