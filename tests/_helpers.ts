/**
 * Shared test helpers: start the real daemon as a subprocess on free ports,
 * watch its log, and talk to it over real sockets.
 *
 * @module
 */
import {
  SpawnedDaemon,
  startKoan,
  writeTempConfig,
} from "../mod/bench/spawn_daemon.ts";
import { nodeConn } from "../mod/net/node_source.ts";
import net from "node:net";

export { freePort } from "../mod/net/free_port.ts";
/** A daemon started by a test: what it printed, its log lines, stopping it. */
export { SpawnedDaemon as TestDaemon };

const ROOT = new URL("../", import.meta.url);
/** Absolute path of main.ts. */
export const MAIN = new URL("main.ts", ROOT).pathname;
/** The repository root. */
export const ROOT_DIR = ROOT.pathname;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options for {@linkcode startDaemon}. */
export interface StartOptions {
  /** TOML written to a temp file and passed as --config. */
  config?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Ports that must be listening before the daemon counts as started. */
  ports?: number[];
  /** How long to wait for the listening lines. @default {15000} */
  timeoutMs?: number;
  /** Subcommand and arguments before the rest. @default {["serve"]} */
  command?: string[];
}

/** Writes TOML to a temp file and returns its path. */
export async function writeConfig(toml: string): Promise<string> {
  return await writeTempConfig(toml, "koan-test-");
}

/** Deno flags the tests run the daemon with. */
export const RUN_FLAGS = ["run", "-A", "--quiet"];

/** Starts `koan serve` (or `options.command`) and waits until its ports listen. */
export async function startDaemon(
  args: string[] = [],
  options: StartOptions = {},
): Promise<SpawnedDaemon> {
  return await startKoan({
    run: RUN_FLAGS,
    command: options.command,
    config: options.config,
    configPrefix: "koan-test-",
    args,
    env: options.env,
    listening: options.ports,
    timeoutMs: options.timeoutMs,
  });
}

/** Result of {@linkcode runCli}. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `koan ARGS` to completion. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<CliResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, MAIN, ...args],
    env: options.env ?? {},
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Connects to a local port. */
export function connect(
  port: number,
  hostname = "127.0.0.1",
): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname, port });
}

/** Writes text or bytes fully. */
export async function send(
  conn: Deno.Conn,
  data: string | Uint8Array,
): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

/**
 * Reads until the text received satisfies `done` (default: ends with
 * `suffix`), the peer closes, or `timeoutMs` passes. Returns the text and
 * whether the peer closed.
 */
export async function readUntil(
  conn: Deno.Conn,
  done: string | ((text: string) => boolean),
  timeoutMs = 10_000,
): Promise<{ text: string; closed: boolean; timedOut: boolean }> {
  const test = typeof done === "string"
    ? (t: string) => t.endsWith(done)
    : done;
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed already */ }
  }, timeoutMs);
  try {
    while (!test(text)) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) return { text, closed: !timedOut, timedOut };
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return { text, closed: false, timedOut: false };
  } finally {
    clearTimeout(timer);
  }
}

/** Reads until the peer closes; returns all text. */
export async function readAll(
  conn: Deno.Conn,
  timeoutMs = 10_000,
): Promise<string> {
  return (await readUntil(conn, () => false, timeoutMs)).text;
}

/** Asks Zen questions on one connection, one at a time; returns the answers. */
export async function ask(
  port: number,
  questions: string[],
): Promise<string[]> {
  using conn = await connect(port);
  const answers: string[] = [];
  for (const question of questions) {
    await send(conn, question);
    const { text } = await readUntil(conn, ".");
    answers.push(text);
  }
  return answers;
}

/** A process as /proc shows it (Linux). */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** R, S, D, Z (zombie), T (stopped)... */
  state: string;
  /** The command line, NUL-separated arguments joined by spaces. */
  cmdline: string;
}

/** Reads /proc/PID/stat and cmdline; undefined when the process is gone. */
export function procInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    let cmdline = "";
    try {
      cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")
        .join(" ").trim();
    } catch {
      // A zombie has no command line.
    }
    return { pid, ppid: Number(fields[1]), state: fields[0]!, cmdline };
  } catch {
    return undefined;
  }
}

/** Direct children of `pid`, zombies included (Linux /proc). */
export function childProcesses(pid: number): ProcInfo[] {
  const children: ProcInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = procInfo(Number(entry.name));
    if (info?.ppid === pid) children.push(info);
  }
  return children;
}

/** True while `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  const info = procInfo(pid);
  return info !== undefined && info.state !== "Z";
}

/** Open file descriptors of `pid`. */
export function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** Polls `check` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Connects from a chosen loopback address (`127.0.0.2`...) through
 * `node:net`, since `Deno.connect` cannot bind the local end. The result
 * is koan's own `node:net` adapter ({@linkcode nodeConn}): it implements
 * only `read`, `write` and `close` (and `using`) — what {@linkcode send},
 * {@linkcode readUntil} and {@linkcode readAll} use.
 */
export async function connectFrom(
  port: number,
  localAddress: string,
): Promise<Deno.Conn> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const conn = nodeConn(socket);
  return {
    ...conn,
    [Symbol.dispose]: () => conn.close(),
  } as unknown as Deno.Conn;
}

/** Sockets listening on `port` (all of a reusePort group), from /proc/net/tcp{,6}. */
export function listeningSockets(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN.
      if (fields[1]?.endsWith(`:${hex}`) && fields[3] === "0A") count++;
    }
  }
  return count;
}
