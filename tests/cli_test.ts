/**
 * The command line as a user types it: help (every command answers
 * `--help` and `-h`), version, check-config, usage and config errors (exit
 * 2, one line, no stack trace, from every command and the tasks), bind
 * failures (exit 1), clean stops (exit 0) and `koan client`.
 */
import assert from "node:assert/strict";
import {
  freePort,
  ROOT_DIR,
  runCli,
  startDaemon,
  writeConfig,
} from "./_helpers.ts";
import { SECTIONS } from "../mod/config/settings.ts";
import { SERVE_OPTIONS } from "../mod/cli/serve.ts";
import { BENCH_OPTIONS } from "../mod/bench/cli.ts";

Deno.test("koan --version and --help", async () => {
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^koan \d+\.\d+\.\d+\n$/);
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  for (const [section, settings] of Object.entries(SECTIONS)) {
    assert.match(help.stdout, new RegExp(`\\[${section}\\]`));
    for (const key of Object.keys(settings)) {
      assert.match(
        help.stdout,
        new RegExp(`\\b${key}\\b`),
        `${section}.${key} missing`,
      );
    }
  }
  for (
    const flag of [
      "--zen",
      "--http",
      "--echo",
      "--model",
      "--workers",
      "--docroot",
      "--log-level",
      "--log-format",
      "--pid-file",
      "--config",
    ]
  ) {
    assert.ok(help.stdout.includes(flag), flag);
  }
});

Deno.test("koan check-config prints the effective config of the example file", async () => {
  const result = await runCli([
    "check-config",
    "--config",
    `${ROOT_DIR}config/koan.toml`,
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /\[\[listener\]\]\nprotocol = "zen"\naddress = "127\.0\.0\.1:1060"/,
  );
  assert.match(result.stdout, /max_question = 1024/);
});

Deno.test("koan check-config applies flags and $KOAN_CONFIG", async () => {
  const path = await writeConfig("[zen]\nmax_question = 77\n");
  const result = await runCli(["check-config", "--log-level", "debug"], {
    env: { KOAN_CONFIG: path },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /max_question = 77/);
  assert.match(result.stdout, /level = "debug"/);
  await Deno.remove(path);
});

Deno.test("config errors exit 2 with the key path, one line, no stack trace", async () => {
  const cases: [string, RegExp][] = [
    ["[zen]\nmax_questoin = 3\n", /^koan: zen\.max_questoin: unknown key\n$/],
    [
      '[[listener]]\nmodel = "fibers"\n',
      /^koan: listener\[0\]\.model: must be one of/,
    ],
    [
      '[[listener]]\naddress = "127.0.0.1:99999"\n',
      /^koan: listener\[0\]\.address: port 99999/,
    ],
    ["[zen\n", /^koan: .*:1:\d+: /],
    [
      '[zen]\naphorisms = "/nonexistent/table.toml"\n',
      /^koan: zen\.aphorisms: cannot read/,
    ],
  ];
  for (const [toml, pattern] of cases) {
    const path = await writeConfig(toml);
    for (const command of ["check-config", "serve"]) {
      const result = await runCli([command, "--config", path]);
      assert.equal(result.code, 2, `${command} ${toml}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/);
    }
    await Deno.remove(path);
  }
});

Deno.test("usage errors exit 2: unknown flag, bad flag value, unknown command, missing file", async () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--bogus"], /^koan: Unknown option '--bogus'/],
    [["serve", "--model", "fibers"], /^koan: --model: must be one of/],
    [
      ["serve", "--zen", "nowhere"],
      /^koan: --zen\[0\]\.address: "nowhere" is not host:port/,
    ],
    [["frobnicate"], /^koan: Unknown command "frobnicate"/],
    [
      ["serve", "--config", "/nonexistent.toml"],
      /^koan: cannot read config file "\/nonexistent\.toml"/,
    ],
    [["client"], /^koan: koan client needs an ADDR/],
    [["inetd"], /^koan: koan inetd needs --protocol/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runCli(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
  }
});

Deno.test("serve exits 1 with one clear line when the address is taken", async () => {
  const port = freePort();
  using _blocker = Deno.listen({ hostname: "127.0.0.1", port });
  const result = await runCli(["serve", "--zen", `127.0.0.1:${port}`]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot start: .*(in use|Address)/i);
});

for (const signal of ["SIGTERM", "SIGINT", "SIGQUIT"] as const) {
  Deno.test(`serve stops cleanly on ${signal} with exit 0`, async () => {
    const port = freePort();
    const pidFile = await Deno.makeTempFile();
    const daemon = await startDaemon([
      "--zen",
      `127.0.0.1:${port}`,
      "--pid-file",
      pidFile,
    ], {
      ports: [port],
    });
    assert.equal((await Deno.readTextFile(pidFile)).trim(), String(daemon.pid));
    const status = await daemon.stop(signal);
    assert.equal(status.code, 0, daemon.log);
    assert.match(daemon.log, /draining/);
    assert.doesNotMatch(daemon.log, /error/i);
    await assert.rejects(Deno.stat(pidFile), Deno.errors.NotFound);
  });
}

Deno.test("koan client asks, prints answers, exits non-zero on errors", async () => {
  const port = freePort();
  await using _daemon = await startDaemon(["--zen", `127.0.0.1:${port}`], {
    ports: [port],
  });
  const good = await runCli([
    "client",
    `127.0.0.1:${port}`,
    "Readability?",
    "Flat is better than?",
  ]);
  assert.equal(good.code, 0, good.stderr);
  assert.equal(
    good.stdout,
    "Readability? counts.\nFlat is better than? nested.\n",
  );
  const random = await runCli(["client", `127.0.0.1:${port}`, "--random", "5"]);
  assert.equal(random.code, 0);
  assert.equal(random.stdout.trim().split("\n").length, 5);
  const unknown = await runCli(["client", `127.0.0.1:${port}`, "Why?"]);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stdout, "Why? Error: unknown aphorism.\n");
  const unreachable = await runCli([
    "client",
    `127.0.0.1:${freePort()}`,
    "Why?",
  ]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot connect/);
});

Deno.test("koan inetd --protocol zen answers on stdout and logs nothing there", async () => {
  const result = await runCli(["inetd", "--protocol", "zen"], {
    stdin: new TextEncoder().encode("Beautiful is better than?Readability?"),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "ugly.counts.");
});

Deno.test("json log format writes one JSON object a line", async () => {
  const port = freePort();
  const daemon = await startDaemon([
    "--zen",
    `127.0.0.1:${port}`,
    "--log-format",
    "json",
  ], {
    ports: [port],
  });
  await daemon.stop();
  const lines = daemon.log.trim().split("\n");
  assert.ok(lines.length >= 2);
  for (const line of lines) {
    const record = JSON.parse(line);
    assert.equal(typeof record.time, "string");
    assert.equal(record.pid, daemon.pid);
    assert.equal(record.worker, "master");
  }
});

/** Each command with every option its `--help` must name. */
const COMMAND_OPTIONS: Record<string, string[]> = {
  serve: Object.keys(SERVE_OPTIONS).map((name) => `--${name}`),
  "check-config": Object.keys(SERVE_OPTIONS).map((name) => `--${name}`),
  inetd: ["--protocol", "--wait", "--config"],
  client: ["ADDR", "--random"],
  bench: Object.entries(BENCH_OPTIONS).flatMap(([name, option]) => [
    `--${name}`,
    ...("short" in option ? [`-${option.short}, --${name}`] : []),
  ]),
  reopen: ["--pid-file", "--config"],
  reload: ["--pid-file", "--config"],
  stop: ["--pid-file", "--config", "--timeout"],
  status: ["--pid-file", "--config", "--url"],
};

/** A usage error as the contract has it: one line, exit 2, no stack trace. */
function assertUsageError(
  result: { code: number; stdout: string; stderr: string },
  what: string,
): void {
  assert.equal(result.code, 2, `${what}: ${result.stderr}`);
  assert.match(result.stderr, /^koan: [^\n]+\n$/, `${what}: one line`);
  assert.doesNotMatch(result.stderr, /\bat .*:\d+:\d+|Uncaught|Stack/);
  assert.equal(result.stdout, "", what);
}

Deno.test("koan --help lists every command, and how to get each one's help", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  for (
    const usage of [
      "koan [serve] [options]",
      "koan inetd --protocol P",
      "koan inetd --wait --protocol P",
      "koan client ADDR",
      "koan bench",
      "koan check-config",
      "koan reopen [--pid-file F | --config F]",
      "koan reload [--pid-file F | --config F]",
      "koan stop [--pid-file F | --config F] [--timeout S]",
      "koan status [--pid-file F | --config F] [--url U]",
      "koan --version | --help",
      "koan COMMAND --help",
    ]
  ) {
    assert.ok(help.stdout.includes(`\n  ${usage}`), usage);
  }
  assert.match(help.stdout, /USR2 +reopen the log files/);
  assert.match(help.stdout, /USR1 +never: Deno opens a debugger/);
});

for (const [command, options] of Object.entries(COMMAND_OPTIONS)) {
  Deno.test(`koan ${command} --help and -h print its usage and every option, exit 0`, async () => {
    for (
      const args of [
        [command, "--help"],
        [command, "-h"],
        ["help", command],
        ["--help", command],
      ]
    ) {
      const result = await runCli(args);
      const what = `koan ${args.join(" ")}`;
      assert.equal(result.code, 0, `${what}: ${result.stderr}`);
      assert.equal(result.stderr, "", what);
      assert.match(
        result.stdout,
        new RegExp(`^Usage:\\s+koan (\\[)?${command}`),
      );
      for (const option of [...options, "-h, --help"]) {
        assert.ok(result.stdout.includes(option), `${what} lacks ${option}`);
      }
    }
  });
}

Deno.test("koan serve --help answers even after other flags, and --help wins over a bad flag", async () => {
  for (
    const args of [
      ["--zen", "127.0.0.1:1", "--help"],
      ["serve", "--bogus", "-h"],
      ["bench", "-c", "5", "--help"],
    ]
  ) {
    const result = await runCli(args);
    assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stdout, /^Usage:/);
  }
});

Deno.test("usage errors from every command: one line ending in a newline, exit 2, no stack trace", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["serve", "--bogus"],
      /^koan: Unknown option '--bogus' \(see "koan serve --help"\)\n$/,
    ],
    [["--bogus"], /see "koan serve --help"/],
    [["serve", "stray"], /^koan: Unexpected argument "stray"/],
    [["check-config", "--bogus"], /see "koan check-config --help"/],
    [["inetd", "--bogus"], /see "koan inetd --help"/],
    [["inetd", "--protocol"], /argument missing \(see "koan inetd --help"\)/],
    [["inetd", "--protocol", "gopher"], /koan inetd needs --protocol/],
    [["client", "--bogus"], /see "koan client --help"/],
    [["client"], /koan client needs an ADDR/],
    [["client", "127.0.0.1:1060", "Why"], /is not a question/],
    [
      ["bench", "--bogus"],
      /^koan: Unknown option '--bogus' \(see "koan bench --help"\)\n$/,
    ],
    [["bench", "-c"], /argument missing \(see "koan bench --help"\)/],
    [["bench", "--protocol", "gopher"], /--protocol must be zen, echo or http/],
    [["bench"], /koan bench needs ADDR, --model or --drill/],
    [["reopen", "--bogus"], /see "koan reopen --help"/],
    [["reopen", "stray"], /Unexpected argument 'stray'/],
    [["reopen", "--pid-file", "a", "--config", "b"], /alternatives/],
    [["reload", "--bogus"], /see "koan reload --help"/],
    [["reload", "stray"], /Unexpected argument 'stray'/],
    [["reload", "--pid-file", "a", "--config", "b"], /alternatives/],
    [["stop", "--bogus"], /see "koan stop --help"/],
    [["stop", "--timeout"], /argument missing \(see "koan stop --help"\)/],
    [["stop", "--pid-file", "a", "--timeout", "soon"], /--timeout must be/],
    [["status", "--bogus"], /see "koan status --help"/],
    [["status", "--pid-file", "a"], /--pid-file needs --url/],
    [["status", "--pid-file", "a", "--url", "ftp://x"], /--url must be/],
    [["--version", "stray"], /^koan: Unexpected argument "stray"\n$/],
    [["help", "frobnicate"], /^koan: Unknown command "frobnicate"/],
    [["frobnicate"], /^koan: Unknown command "frobnicate"/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runCli(args);
    assertUsageError(result, `koan ${args.join(" ")}`);
    assert.match(result.stderr, pattern, `koan ${args.join(" ")}`);
  }
});
