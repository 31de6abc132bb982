/**
 * Starting servers for benchmarks: koan with least-privilege flags, or a
 * baseline script, on a free port, waiting until it listens.
 *
 * @module
 */

const ROOT = new URL("../../../", import.meta.url).pathname;

/** Deno permission flags the benchmarked daemon runs with (never -A). */
export const KOAN_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];

/** A free local port. */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/** A server process started for a benchmark. */
export interface BenchServer {
  pid: number;
  port: number;
  /** SIGTERM, then wait (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/** Waits until `port` accepts a TCP connection. */
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
    } catch {
      if (Date.now() > deadline) throw new Error(`port ${port} never listened`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Starts a Deno script (`args` after the script) and waits for `port`. */
export async function spawnServer(
  script: string,
  args: string[],
  port: number,
  flags: string[] = KOAN_FLAGS,
): Promise<BenchServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}${script}`, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForPort(port);
  return {
    pid: child.pid,
    port,
    async stop() {
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      clearTimeout(timer);
    },
  };
}

/** Starts `koan serve` with a TOML config (written to a temp file) and extra flags. */
export async function spawnKoan(
  toml: string,
  args: string[],
  port: number,
): Promise<BenchServer> {
  const config = await Deno.makeTempFile({
    prefix: "koan-bench-",
    suffix: ".toml",
  });
  await Deno.writeTextFile(config, toml);
  const server = await spawnServer("main.ts", [
    "serve",
    "--config",
    config,
    ...args,
  ], port);
  return {
    ...server,
    async stop() {
      await server.stop();
      await Deno.remove(config).catch(() => {});
    },
  };
}
