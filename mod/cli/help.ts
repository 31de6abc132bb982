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

/** What every command's help ends with. */
const EXIT_CODES =
  "Exit codes: 0 clean stop, 1 runtime failure, 2 usage or config error, 3 workers cannot boot.";

const SIGNALS = [
  "Signals to the master (its pid is in [daemon] pid_file):",
  "  TERM, INT, QUIT  drain and stop (a second one stops at once)",
  "  HUP              reload the config file (a bad one is refused; the old one keeps running)",
  "  USR2             reopen the log files (what `koan reopen` sends)",
  "  TTIN, TTOU       one worker more, one fewer (threads, processes)",
  "  USR1             never: Deno opens a debugger (V8 inspector, 127.0.0.1:9229) on it;",
  "                   koan ignores it where it may load the C library (--allow-ffi)",
];

/** The serve flags: listeners, then one per setting that has a flag. */
function serveOptionLines(): string[] {
  return [
    "  --config FILE      config file [$KOAN_CONFIG, then /etc/koan/koan.toml if present]",
    `  --zen ADDR         Zen listener (repeatable) e.g. ${DEFAULT_ADDRESSES.zen}`,
    `  --http ADDR        HTTP listener (repeatable) e.g. ${DEFAULT_ADDRESSES.http}`,
    `  --echo ADDR        echo listener (repeatable) e.g. ${DEFAULT_ADDRESSES.echo}`,
    ...flagLines(),
    "  -h, --help         this help",
    "  Listener flags replace the file's listeners; --model and --workers apply to every listener.",
  ];
}

/** The full help text (`koan --help`). */
export function helpText(): string {
  return [
    `koan ${VERSION} — a network daemon serving Zen, HTTP/1.1 and echo`,
    "",
    "Usage:",
    "  koan [serve] [options]          run the daemon (the default command)",
    "  koan inetd --protocol P         serve one connection on stdin/stdout (inetd, xinetd, systemd Accept=yes)",
    "  koan inetd --wait --protocol P  serve the listening socket on fd 0 (inetd wait); exit after idle_exit s idle",
    "  koan client ADDR [QUESTION...]  ask a Zen server; --random N asks N random aphorisms",
    "  koan bench [ADDR] [options]     load generator; --model all compares every model, --drill tests reload and stop",
    "  koan check-config [options]     validate and print the effective config (exit 2 on error)",
    "  koan check-config --diff [--pid-file F | --config F]",
    "                                  what a reload (SIGHUP) of the running daemon would change",
    "  koan reopen [--pid-file F | --config F]",
    "                                  make the running daemon reopen its log files (logrotate)",
    "  koan reload [--pid-file F | --config F]",
    "                                  check the config, then make the running daemon reload it (SIGHUP)",
    "  koan stop [--pid-file F | --config F] [--timeout S]",
    "                                  stop the running daemon (SIGTERM) and wait until it is gone",
    "  koan status [--pid-file F | --config F] [--url U]",
    "                                  the running daemon's listeners, workers and counters (exit 3: not running)",
    "  koan --version | --help",
    "  koan COMMAND --help             that command's options (also: koan help COMMAND)",
    "",
    "serve options (each overrides the config file):",
    ...serveOptionLines(),
    "",
    "Config file keys (TOML; durations in seconds, sizes in bytes; [default]):",
    ...keyLines(),
    "",
    ...SIGNALS,
    "",
    EXIT_CODES,
    "",
  ].join("\n");
}

/** The options of the commands that find the daemon by its pid file. */
const PID_OPTION_LINES = [
  "  --pid-file FILE  the daemon's pid file",
  "  --config FILE    read the pid file's name from [daemon] pid_file in this config",
  "                   [$KOAN_CONFIG, then /etc/koan/koan.toml if present]",
];

const HELP_LINE = "  -h, --help       this help";

/** The exit codes of the commands that signal the daemon. */
function pidExitCodes(done: string): string[] {
  return [
    `Exit codes: 0 ${done}; 1 no pid file, a stale one (no such process), one that is`,
    "a symlink, or a process this user may not signal; 2 usage error, or [daemon]",
    "pid_file not set.",
  ];
}

/** The commands that answer `--help`, each with its own text. */
export const COMMANDS = [
  "serve",
  "inetd",
  "client",
  "bench",
  "check-config",
  "reopen",
  "reload",
  "stop",
  "status",
] as const;

/** A command's name. */
export type Command = typeof COMMANDS[number];

const COMMAND_HELP: Record<Exclude<Command, "bench">, () => string[]> = {
  serve: () => [
    "Usage: koan [serve] [options]",
    "",
    "Runs the daemon until a signal stops it. Without a config file and flags:",
    `Zen on ${DEFAULT_ADDRESSES.zen} and HTTP on ${DEFAULT_ADDRESSES.http}, model async, text logs on stderr.`,
    "",
    "Options (each overrides the config file; `koan --help` lists every config key):",
    ...serveOptionLines(),
    "",
    ...SIGNALS,
    "",
    EXIT_CODES,
  ],
  "check-config": () => [
    "Usage: koan check-config [options]",
    "       koan check-config --diff [--pid-file FILE | --config FILE]",
    "",
    "Reads the config file and the flags as `koan serve` would, checks every key and",
    "the aphorism table, and prints the effective config as TOML. Nothing is started.",
    "",
    "Options: those of `koan serve`:",
    ...serveOptionLines(),
    "",
    "Exit codes: 0 valid, 2 invalid (one line naming the key and the reason).",
    "",
    "With --diff, says what a reload (SIGHUP) of the running daemon would change, before",
    "it is sent. The daemon is found by its pid file, as `koan reload` finds it; beside it,",
    "<pid file>.config.json records the config it runs (written at start and at every",
    "reload it accepts, when [daemon] pid_file is set). Its config file is loaded as its",
    "reload would load it (its flags, its $KOAN_CONFIG and working directory), and one",
    'line is printed per change, or "no changes": listeners added, removed, moved (same',
    "address, another model) or changed (other listener keys), with the keys; settings",
    "(limits.max_connections: 1000 → 2000); whose workers restart (a moved or changed",
    "listener is replaced) and whose are kept (the rest are updated in place); a new",
    "address already in use (the reload would go on without that listener). Nothing is",
    "sent to the daemon.",
    "",
    "Options with --diff:",
    ...PID_OPTION_LINES,
    HELP_LINE,
    "",
    "Exit codes with --diff: 0 the daemon would accept the reload; 1 no running daemon",
    "(no pid file, a stale one, a symlink) or no record of its config; 2 it would refuse",
    "it (the line it would log), a usage error, or [daemon] pid_file not set.",
  ],
  inetd: () => [
    "Usage: koan inetd --protocol zen|http|echo [--wait] [--config FILE]",
    "",
    "Serves one connection on stdin/stdout, as inetd, xinetd and systemd (Accept=yes)",
    "start it; with --wait, serves the listening socket inetd passes on fd 0 and exits",
    "after [limits] idle_exit seconds without a client.",
    "",
    "Options:",
    "  --protocol P   the protocol to speak: zen, http or echo (required)",
    "  --wait         inetd's wait mode: fd 0 is the listening socket",
    "  --config FILE  config file [$KOAN_CONFIG, then /etc/koan/koan.toml if present]",
    "  -h, --help     this help",
    "",
    "Nothing but protocol bytes goes to stdout; set [log] file or syslog to keep the log.",
    "",
    EXIT_CODES,
  ],
  client: () => [
    "Usage: koan client ADDR [QUESTION...] [--random N]",
    "",
    "Asks a Zen server each QUESTION (ending in ?) on one connection and prints it with",
    "its answer; with no question, asks three random aphorisms.",
    "",
    "Options:",
    "  ADDR        host:port, [v6]:port or :port (the local host)",
    "  --random N  also ask N random aphorisms",
    "  -h, --help  this help",
    "",
    "Exit codes: 0 every answer given, 1 unreachable, closed early or an error answer,",
    "2 usage error.",
  ],
  reopen: () => [
    "Usage: koan reopen [--pid-file FILE | --config FILE]",
    "",
    "Makes the running daemon reopen its log files, after logrotate renamed them: sends",
    "SIGUSR2 to the pid in the pid file. The master reopens its files and tells every",
    "worker to reopen theirs. Never send SIGUSR1 (Deno opens a debugger on it).",
    "",
    "Options:",
    ...PID_OPTION_LINES,
    HELP_LINE,
    "",
    ...pidExitCodes("sent"),
  ],
  reload: () => [
    "Usage: koan reload [--pid-file FILE | --config FILE]",
    "",
    "Makes the running daemon reload its config file: sends SIGHUP to the pid in the pid",
    "file. With the pid file from the config, checks that config first, as `apachectl",
    "graceful` does: a config the daemon would refuse is exit 2 and nothing is sent.",
    "Does not wait for the reload: the daemon applies it in its own time, replacing",
    "changed listeners one at a time, and logs the outcome; `koan status` counts reloads.",
    "",
    "Options:",
    ...PID_OPTION_LINES,
    HELP_LINE,
    "",
    ...pidExitCodes("sent"),
  ],
  stop: () => [
    "Usage: koan stop [--pid-file FILE | --config FILE] [--timeout SECONDS]",
    "",
    "Stops the running daemon: sends SIGTERM to the pid in the pid file, then waits until",
    "the process is gone. The daemon drains first: in-flight answers are finished.",
    "",
    "Options:",
    ...PID_OPTION_LINES,
    "  --timeout S      seconds to wait [[limits] shutdown_timeout + 5, or 35]",
    HELP_LINE,
    "",
    ...pidExitCodes("stopped (the process is gone)"),
    "Exit 1 also when it still runs after --timeout (it may be draining; `koan stop`",
    "again stops it at once).",
  ],
  status: () => [
    "Usage: koan status [--pid-file FILE | --config FILE] [--url URL]",
    "",
    "Prints what the running daemon's /status.json says: listeners with their models,",
    "workers and connections, requests a second, p99, reloads, uptime. Asks --url, or",
    "the config's first plain HTTP listener on loopback or any address (0.0.0.0 is asked",
    "on 127.0.0.1, [::] on [::1]); /status.json answers loopback peers ([http] admin).",
    "",
    "Options:",
    ...PID_OPTION_LINES,
    "  --url URL        e.g. http://127.0.0.1:8080/status.json (needed with --pid-file)",
    HELP_LINE,
    "",
    "Exit codes (LSB): 0 running, shown; 1 running but no status to show (no HTTP",
    "listener to ask, no answer), or a pid file koan never writes (a symlink); 2 usage",
    "error, or [daemon] pid_file not set; 3 not running (no pid file, or a stale one).",
  ],
};

/**
 * The help text of `command` (`koan COMMAND --help`); `koan bench`'s lives
 * with its parser.
 *
 * @example Usage
 * ```ts
 * import { commandHelp } from "./help.ts";
 * if (!(await commandHelp("reopen")).startsWith("Usage: koan reopen")) throw new Error();
 * ```
 */
export async function commandHelp(command: Command): Promise<string> {
  if (command === "bench") {
    const { BENCH_HELP } = await import("../bench/cli.ts");
    return BENCH_HELP;
  }
  return [...COMMAND_HELP[command](), ""].join("\n");
}
