/**
 * Daemons started by `koan bench`: this same koan, as `koan serve` with one
 * listener on a free port, a given model and a generated config.
 *
 * @module
 */
import { stringify } from "smol-toml";
import { selfCommand } from "../util/self_command.ts";
import type { LoadProtocol } from "./load.ts";

/** What to start. */
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

/** A free local port. */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/**
 * Waits for the master's "listening on" line for `port`. A pool logs it only
 * once every worker listens; connecting as soon as the port answers is not
 * enough, because the kernel spreads new connections over the reusePort
 * sockets open at that moment, so clients that connect while a pool boots
 * all land on its first workers.
 */
async function waitListening(
  port: number,
  log: () => string,
  exited: Promise<number>,
  timeoutMs: number,
): Promise<void> {
  let gone = false;
  exited.then(() => gone = true);
  const pattern = new RegExp(`listening on \\S*:${port}\\b`);
  const deadline = Date.now() + timeoutMs;
  while (!gone && Date.now() < deadline) {
    if (pattern.test(log())) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the daemon did not start listening on port ${port}`);
}

/** Starts `koan serve` for a benchmark and waits until it listens. */
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
  const config = await Deno.makeTempFile({
    prefix: "koan-bench-",
    suffix: ".toml",
  });
  await Deno.writeTextFile(config, stringify(document));
  const { command, args } = selfCommand(["serve", "--config", config]);
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk);
  })();
  const exited = child.status.then((status) => status.code);
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  };
  try {
    await waitListening(port, () => stderr, exited, 30_000);
  } catch (error) {
    kill("SIGKILL");
    await exited;
    await Deno.remove(config).catch(() => {});
    throw new Error(`${(error as Error).message}:\n${stderr.trim()}`);
  }
  return {
    pid: child.pid,
    port,
    kill,
    exited,
    log: () => stderr,
    async stop() {
      const timer = setTimeout(() => kill("SIGKILL"), 15_000);
      kill("SIGTERM");
      const code = await exited;
      clearTimeout(timer);
      await Deno.remove(config).catch(() => {});
      return code;
    },
  };
}
