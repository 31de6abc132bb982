/**
 * `koan --help`, generated from the settings table so flags, keys, defaults
 * and help text can never disagree with the parser.
 *
 * @module
 */
import { LISTENER, SECTIONS, type Setting } from "../config/settings.ts";
import { DEFAULT_ADDRESSES } from "../config/load.ts";
import { VERSION } from "../util/version.ts";

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function flagLines(): string[] {
  const lines: string[] = [];
  const all: [string, Setting][] = [
    ...Object.entries(LISTENER).map(([k, s]) =>
      [`listener.${k}`, s] as [string, Setting]
    ),
    ...Object.entries(SECTIONS).flatMap(([section, settings]) =>
      Object.entries(settings).map(([k, s]) =>
        [`${section}.${k}`, s] as [string, Setting]
      )
    ),
  ];
  for (const [key, setting] of all) {
    if (!setting.flag) continue;
    lines.push(
      `  ${`--${setting.flag}`.padEnd(18)} ${setting.help} (${key}) [${
        show(setting.default)
      }]`,
    );
  }
  return lines;
}

function keyLines(): string[] {
  const lines = ["  [[listener]]  (repeatable)"];
  for (const [key, setting] of Object.entries(LISTENER)) {
    lines.push(`    ${key.padEnd(18)} ${setting.help}`);
  }
  for (const [section, settings] of Object.entries(SECTIONS)) {
    lines.push(`  [${section}]`);
    for (
      const [key, setting] of Object.entries(settings) as [string, Setting][]
    ) {
      lines.push(
        `    ${key.padEnd(18)} ${setting.help} [${show(setting.default)}]`,
      );
    }
  }
  return lines;
}

/** The full help text. */
export function helpText(): string {
  return [
    `koan ${VERSION} — a network daemon serving Zen, HTTP/1.1 and echo`,
    "",
    "Usage:",
    "  koan [serve] [options]          run the daemon",
    "  koan inetd --protocol P         serve one connection on stdin/stdout (inetd, xinetd, systemd Accept=yes)",
    "  koan inetd --wait --protocol P  serve the listening socket on fd 0 (inetd wait); exit after idle_exit s idle",
    "  koan client ADDR [QUESTION...]  ask a Zen server; --random N asks N random aphorisms",
    "  koan check-config [--config F]  validate and print the effective config (exit 2 on error)",
    "  koan --version | --help",
    "",
    "serve options (each overrides the config file):",
    "  --config FILE      config file [$KOAN_CONFIG, then /etc/koan/koan.toml if present]",
    `  --zen ADDR         Zen listener (repeatable) e.g. ${DEFAULT_ADDRESSES.zen}`,
    `  --http ADDR        HTTP listener (repeatable) e.g. ${DEFAULT_ADDRESSES.http}`,
    `  --echo ADDR        echo listener (repeatable) e.g. ${DEFAULT_ADDRESSES.echo}`,
    ...flagLines(),
    "  Listener flags replace the file's listeners; --model and --workers apply to every listener.",
    "",
    "Config file keys (TOML; durations in seconds, sizes in bytes; [default]):",
    ...keyLines(),
    "",
    "Exit codes: 0 clean stop, 1 runtime failure, 2 usage or config error, 3 workers cannot boot.",
    "",
  ].join("\n");
}
