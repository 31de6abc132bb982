/**
 * Starting daemons on free ports and stopping them: koan itself or a
 * baseline script, for `koan bench` (this same koan with a generated
 * config), the benchmark suite (`deno task bench`) and the tests. One
 * {@linkcode SpawnedDaemon} collects what a daemon prints, waits for its
 * "listening on" lines or its port, signals and stops it.
 *
 * How koan runs is the caller's choice: `koan bench` starts it again with
 * the permissions it holds ({@linkcode selfCommand}), the suite with
 * least-privilege flags ({@linkcode KOAN_FLAGS}), the tests with
 * `run -A --quiet`.
 *
 * @module
 */
import { stringify } from "smol-toml";
import { freePort } from "../net/free_port.ts";
import { LIBC_PATHS, selfCommand } from "../util/self_command.ts";
import type { LoadProtocol } from "./load.ts";

/** The repository root. */
const ROOT = new URL("../../", import.meta.url);
/** Absolute path of koan's main.ts. */
const MAIN = new URL("main.ts", ROOT).pathname;

/** Deno permission flags the benchmark suite runs koan with (never -A). */
export const KOAN_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
  // The C library only: koan ignores SIGUSR1 through it, as users' koan does.
  `--allow-ffi=${LIBC_PATHS.join(",")}`,
];

const decoder = new TextDecoder();

/** An output stream of a daemon. */
export type OutputStream = "stdout" | "stderr";

/**
 * A daemon running as a child process: what it printed on its piped
 * streams so far, waiting for log lines, signals and stopping.
 */
export class SpawnedDaemon {
  /** The child process. */
  readonly process: Deno.ChildProcess;
  /** Resolves with the exit status. */
  readonly exited: Promise<Deno.CommandStatus>;
  #log = "";
  #waiters: (() => void)[] = [];
  #configPath: string | undefined;

  /**
   * Watches `process`, collecting `streams` (they must be piped) into
   * {@linkcode SpawnedDaemon.log}; `configPath` is a temp file that
   * {@linkcode SpawnedDaemon.shutdown} removes.
   */
  constructor(
    process: Deno.ChildProcess,
    configPath?: string,
    streams: readonly OutputStream[] = ["stderr", "stdout"],
  ) {
    this.process = process;
    this.#configPath = configPath;
    for (const stream of streams) this.#pump(process[stream]);
    this.exited = process.status;
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream) {
      this.#log += decoder.decode(chunk);
      for (const wake of this.#waiters.splice(0)) wake();
    }
  }

  /** Everything the daemon printed so far. */
  get log(): string {
    return this.#log;
  }

  /** The pid of the daemon. */
  get pid(): number {
    return this.process.pid;
  }

  /** The temp config file, if there is one. */
  get configPath(): string | undefined {
    return this.#configPath;
  }

  /**
   * Waits for the log to match `pattern`; without `match` when the daemon
   * exited or `timeoutMs` passed first.
   */
  async #watch(
    pattern: RegExp,
    timeoutMs: number,
  ): Promise<{ match?: RegExpMatchArray; exited: boolean }> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.exited.then(() => exited = true);
    for (;;) {
      const match = this.#log.match(pattern);
      if (match) return { match, exited };
      if (exited || Date.now() > deadline) return { exited };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the log matches `pattern`, or throws after `timeoutMs`. */
  async waitForLog(
    pattern: RegExp,
    timeoutMs = 15000,
  ): Promise<RegExpMatchArray> {
    const { match, exited } = await this.#watch(pattern, timeoutMs);
    if (match) return match;
    throw new Error(
      `log never matched ${pattern}${
        exited ? " (daemon exited)" : ""
      }:\n${this.#log}`,
    );
  }

  /**
   * Waits for the "listening on" line koan's master logs for `port`. A pool
   * logs it only once every worker listens; connecting as soon as the port
   * answers is not enough, because the kernel spreads new connections over
   * the reusePort sockets open at that moment, so clients that connect
   * while a pool boots all land on its first workers.
   *
   * @throws {Error} with the log, when the daemon exits or `timeoutMs`
   * passes first.
   */
  async waitListening(port: number, timeoutMs = 15000): Promise<void> {
    const pattern = new RegExp(`listening on \\S*:${port}\\b`);
    const { match, exited } = await this.#watch(pattern, timeoutMs);
    if (match) return;
    throw new Error(
      `the daemon did not start listening on port ${port}${
        exited ? " (it exited)" : ""
      }:\n${this.#log.trim()}`,
    );
  }

  /** Sends a signal. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.process.kill(signal);
    } catch (error) {
      // Deno 2.9: "Child process has already terminated" is a TypeError.
      if (!(error instanceof TypeError)) throw error;
    }
  }

  /** Sends `signal` and waits for the exit; returns the status. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    this.kill(signal);
    return await this.exited;
  }

  /**
   * SIGTERM, wait for the exit (SIGKILL after `graceMs`), remove the temp
   * config; returns the status.
   */
  async shutdown(graceMs = 10_000): Promise<Deno.CommandStatus> {
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    this.kill("SIGTERM");
    const status = await this.exited;
    clearTimeout(timer);
    await this.#removeConfig();
    return status;
  }

  /** SIGKILL, wait for the exit, remove the temp config: for a failed start. */
  async abort(): Promise<void> {
    this.kill("SIGKILL");
    await this.exited;
    await this.#removeConfig();
  }

  async #removeConfig(): Promise<void> {
    // Best effort: a temp file that cannot be removed is no test failure.
    if (this.#configPath) await Deno.remove(this.#configPath).catch(() => {});
  }

  /** {@linkcode SpawnedDaemon.shutdown} with 10 s of grace. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown(10_000);
  }
}

/** Writes TOML to a temp file named `prefix`…`.toml`; returns its path. */
export async function writeTempConfig(
  toml: string,
  prefix = "koan-",
): Promise<string> {
  const path = await Deno.makeTempFile({ prefix, suffix: ".toml" });
  await Deno.writeTextFile(path, toml);
  return path;
}

/**
 * Waits until `port` on 127.0.0.1 accepts a TCP connection, probing every
 * 50 ms; the probe is closed at once. For daemons that log nothing, and
 * for inetd launchers (the probe starts one program, which finds its
 * client gone).
 *
 * @throws {Error} when `timeoutMs` passes first; at once for any failure
 *   but a refused connection.
 */
export async function waitForPort(
  port: number,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      // Not listening yet; anything else is a real failure.
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      if (Date.now() > deadline) {
        throw new Error(`port ${port} never listened within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** How to start a daemon and when it counts as started. */
export interface SpawnOptions {
  /** The program. @default {Deno.execPath()} */
  command?: string | undefined;
  /** Its arguments. */
  args: string[];
  /** Extra environment. */
  env?: Record<string, string> | undefined;
  /** The streams collected into the log; the others are discarded. @default {["stderr", "stdout"]} */
  output?: readonly OutputStream[] | undefined;
  /** A temp file to remove when the daemon is shut down. */
  configPath?: string | undefined;
  /** Ports whose "listening on" line must be logged (koan only). */
  listening?: number[] | undefined;
  /** Ports that must accept a connection (for daemons that log nothing). */
  accepting?: number[] | undefined;
  /** How long to wait for each of them. @default {15000} */
  timeoutMs?: number | undefined;
}

/**
 * Starts a daemon and waits until it listens on the ports given; kills it
 * (and removes its config) when it does not.
 */
export async function spawnDaemon(
  options: SpawnOptions,
): Promise<SpawnedDaemon> {
  const output = options.output ?? ["stderr", "stdout"];
  const child = new Deno.Command(options.command ?? Deno.execPath(), {
    args: options.args,
    env: options.env ?? {},
    stdin: "null",
    stdout: output.includes("stdout") ? "piped" : "null",
    stderr: output.includes("stderr") ? "piped" : "null",
  }).spawn();
  const daemon = new SpawnedDaemon(child, options.configPath, output);
  const timeoutMs = options.timeoutMs ?? 15000;
  try {
    for (const port of options.listening ?? []) {
      await daemon.waitListening(port, timeoutMs);
    }
    for (const port of options.accepting ?? []) {
      await waitForPort(port, timeoutMs);
    }
  } catch (error) {
    await daemon.abort();
    throw error;
  }
  return daemon;
}

/** How to start koan: {@linkcode SpawnOptions} less the command line. */
export interface KoanOptions
  extends Omit<SpawnOptions, "command" | "args" | "configPath"> {
  /**
   * How to run koan: `deno` arguments put before main.ts (`run` and the
   * flags), or `"self"` for {@linkcode selfCommand} (this koan again: the
   * compiled binary as is, else with the permissions this process holds).
   */
  run: string[] | "self";
  /** The subcommand and its options, first. @default {["serve"]} */
  command?: string[] | undefined;
  /** TOML written to a temp file and passed as `--config` after `command`. */
  config?: string | undefined;
  /** The temp config's name prefix. @default {"koan-"} */
  configPrefix?: string | undefined;
  /** Arguments after `--config`. */
  args?: string[] | undefined;
}

/** Starts koan (`koan serve` unless told) and waits until it listens. */
export async function startKoan(options: KoanOptions): Promise<SpawnedDaemon> {
  const koanArgs = [...(options.command ?? ["serve"])];
  let configPath: string | undefined;
  if (options.config !== undefined) {
    configPath = await writeTempConfig(options.config, options.configPrefix);
    koanArgs.push("--config", configPath);
  }
  koanArgs.push(...(options.args ?? []));
  const { command, args } = options.run === "self"
    ? selfCommand(koanArgs)
    : { command: Deno.execPath(), args: [...options.run, MAIN, ...koanArgs] };
  return await spawnDaemon({
    command,
    args,
    configPath,
    env: options.env,
    output: options.output,
    listening: options.listening,
    accepting: options.accepting,
    timeoutMs: options.timeoutMs,
  });
}

/** A server process started by the benchmark suite. */
export interface BenchServer {
  pid: number;
  port: number;
  /** SIGTERM, then wait (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

function benchServer(daemon: SpawnedDaemon, port: number): BenchServer {
  return {
    pid: daemon.pid,
    port,
    async stop() {
      await daemon.shutdown(10_000);
    },
  };
}

/** Starts a Deno script (`args` after the script) and waits for `port`. */
export async function spawnServer(
  script: string,
  args: string[],
  port: number,
  flags: string[] = KOAN_FLAGS,
): Promise<BenchServer> {
  const daemon = await spawnDaemon({
    args: ["run", ...flags, new URL(script, ROOT).pathname, ...args],
    output: [],
    accepting: [port],
    timeoutMs: 20_000,
  });
  return benchServer(daemon, port);
}

/** What `koan bench` starts. */
export interface BenchDaemonOptions {
  protocol: LoadProtocol;
  model: string;
  /** Workers for the pooled models. */
  workers?: number;
  /** Per-worker concurrency (1 = blocking pool). */
  concurrency?: number;
  /** Extra config sections, e.g. `{ zen: { work: "block", work_ms: 50 } }`. */
  sections?: Record<string, Record<string, unknown>>;
}

/** A daemon started for a benchmark. */
export interface BenchDaemon {
  pid: number;
  port: number;
  /** Sends a signal to the daemon. */
  kill(signal: Deno.Signal): void;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** What the daemon wrote to stderr (its log), for error reports. */
  log(): string;
  /** SIGTERM, wait (SIGKILL after 15 s), remove the temp config. */
  stop(): Promise<number>;
}

/**
 * Starts `koan serve` for `koan bench`: this same koan with one listener on
 * a free port, the given model and a generated config; waits until it
 * listens.
 */
export async function startBenchDaemon(
  options: BenchDaemonOptions,
): Promise<BenchDaemon> {
  const port = freePort();
  const listener: Record<string, unknown> = {
    protocol: options.protocol,
    address: `127.0.0.1:${port}`,
    model: options.model,
  };
  const pooled = options.model === "threads" || options.model === "processes";
  if (pooled && options.workers) listener.workers = options.workers;
  if (pooled && options.concurrency !== undefined) {
    listener.concurrency = options.concurrency;
  }
  const document = {
    listener: [listener],
    // Info for the "listening on" line; no access lines to skew the load.
    log: { access: false, level: "info" },
    limits: { max_connections: 100_000 },
    ...options.sections,
  };
  const daemon = await startKoan({
    run: "self",
    config: stringify(document),
    configPrefix: "koan-bench-",
    output: ["stderr"],
    listening: [port],
    timeoutMs: 30_000,
  });
  return {
    pid: daemon.pid,
    port,
    kill: (signal) => daemon.kill(signal),
    exited: daemon.exited.then((status) => status.code),
    log: () => daemon.log,
    stop: async () => (await daemon.shutdown(15_000)).code,
  };
}
