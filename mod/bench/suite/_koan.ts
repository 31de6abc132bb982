/**
 * koan as the suite starts it: as a user would, from a config file with
 * the defaults left alone, except the listener and the log going to a file
 * in the run's temp dir (a terminal or a pipe would measure the reader,
 * not koan), and with the V8 flags koan ships with.
 *
 * @module
 */
import { type BenchServer, KOAN_FLAGS, startKoan } from "../spawn_daemon.ts";

/**
 * The V8 heap flags koan ships with: `deno task start`, the binary
 * (`scripts/compile.ts` bakes the same list in) and this suite. Semi-spaces
 * of at most 4 MB instead of V8's 16 MB (a burst of 10k answers grew the
 * default's new space to about 50 MB), and a full GC once the old
 * generation grows 25% past what the last one kept (the default lets it
 * grow up to 4x, so every burst's promoted garbage stayed resident):
 * about 25 MiB less RSS at 10k idle connections and a bounded RSS after
 * bursts, for GC time per request within noise of the default. See the
 * README's "Memory per connection".
 */
export const KOAN_V8_FLAGS = [
  "--max-semi-space-size=4",
  "--heap-growing-percent=25",
] as const;

/**
 * The V8 flags this run starts koan with: {@linkcode KOAN_V8_FLAGS}, or
 * `$KOAN_BENCH_V8_FLAGS` when set (comma-separated, as `--v8-flags` takes
 * them; empty for V8's defaults), to compare other values with the same
 * benchmark.
 */
export function benchV8Flags(): string[] {
  const override = Deno.env.get("KOAN_BENCH_V8_FLAGS");
  if (override === undefined) return [...KOAN_V8_FLAGS];
  return override.split(",").map((flag) => flag.trim()).filter(Boolean);
}

/**
 * `deno run` and its flags for koan as shipped: least privilege, and
 * `v8Flags` ({@linkcode benchV8Flags} unless given).
 *
 * @example Usage
 * ```ts
 * import { KOAN_V8_FLAGS, koanRun } from "./_koan.ts";
 * const args = koanRun([...KOAN_V8_FLAGS]);
 * if (!args.includes("--v8-flags=" + KOAN_V8_FLAGS.join(","))) {
 *   throw new Error(args.join(" "));
 * }
 * ```
 */
export function koanRun(v8Flags: string[] = benchV8Flags()): string[] {
  return [
    "run",
    ...KOAN_FLAGS,
    ...(v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : []),
  ];
}

/** What differs from the defaults in one koan run. */
export interface KoanConfigOptions {
  protocol: "zen" | "http";
  port: number;
  /** `[log] file`: the leveled log, and today the access lines too. */
  logFile: string;
  /** `[log] access_file`, when this koan has the setting. */
  accessFile?: string | undefined;
  /** `[log] access`. @default {true} */
  access?: boolean;
  /** Further TOML, appended as written (sections other than `[log]`). */
  extra?: string;
}

/**
 * The config file's text: one `[[listener]]` (the model left at its default,
 * `async`) and a `[log]` section naming files.
 *
 * @example Usage
 * ```ts
 * import { koanToml } from "./_koan.ts";
 * const toml = koanToml({ protocol: "http", port: 8080, logFile: "/tmp/k.log" });
 * if (!toml.includes('file = "/tmp/k.log"')) throw new Error(toml);
 * ```
 */
export function koanToml(options: KoanConfigOptions): string {
  const lines = [
    "[[listener]]",
    `protocol = "${options.protocol}"`,
    `address = "127.0.0.1:${options.port}"`,
    "",
    "[log]",
    `file = ${JSON.stringify(options.logFile)}`,
  ];
  if (options.accessFile !== undefined) {
    lines.push(`access_file = ${JSON.stringify(options.accessFile)}`);
  }
  if (options.access === false) lines.push("access = false");
  if (options.extra) lines.push("", options.extra);
  return lines.join("\n") + "\n";
}

const MAIN = new URL("../../../main.ts", import.meta.url).pathname;

/**
 * Whether this koan accepts `[log] access_file` (a separate access log):
 * `koan check-config` on a config that sets it, once per run.
 */
export async function acceptsAccessFile(dir: string): Promise<boolean> {
  const config = `${dir}/probe.toml`;
  await Deno.writeTextFile(
    config,
    koanToml({
      protocol: "http",
      port: 8080,
      logFile: `${dir}/probe.log`,
      accessFile: `${dir}/probe-access.log`,
    }),
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...KOAN_FLAGS, MAIN, "check-config", "--config", config],
    stdout: "null",
    stderr: "null",
  }).output();
  await Deno.remove(config);
  return output.success;
}

/**
 * Starts `koan serve` as shipped ({@linkcode koanRun}) with a TOML config
 * (written to a temp file) and waits until `port` accepts.
 */
export async function spawnShippedKoan(
  toml: string,
  port: number,
  v8Flags: string[] = benchV8Flags(),
): Promise<BenchServer> {
  const daemon = await startKoan({
    run: koanRun(v8Flags),
    config: toml,
    configPrefix: "koan-bench-",
    output: [],
    accepting: [port],
    timeoutMs: 20_000,
  });
  return {
    pid: daemon.pid,
    port,
    async stop() {
      await daemon.shutdown(10_000);
    },
  };
}
