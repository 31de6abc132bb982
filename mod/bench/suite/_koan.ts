/**
 * koan as the suite starts it: as a user would, from a config file with
 * the defaults left alone, except the listener and the log going to a file
 * in the run's temp dir (a terminal or a pipe would measure the reader,
 * not koan).
 *
 * @module
 */
import { KOAN_FLAGS } from "../spawn_daemon.ts";

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
