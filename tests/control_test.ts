/**
 * The control commands against the real daemon, as an operator types
 * them: `koan status` prints its table, `koan reload` applies an edited
 * config, `koan stop` ends the daemon and waits for it; a stale pid file
 * is "not running", a symlinked one is refused and nothing is signalled.
 */
import assert from "node:assert/strict";
import {
  connect,
  eventually,
  freePort,
  processAlive,
  runCli,
  startDaemon,
} from "./_helpers.ts";

/** A config with an HTTP listener on `:port` (all interfaces) and a pid file. */
function config(pidFile: string, http: number, extra = ""): string {
  return `[daemon]\npid_file = "${pidFile}"\n\n` +
    `[[listener]]\nprotocol = "http"\naddress = ":${http}"\nmodel = "threads"\nworkers = 2\n` +
    extra;
}

/** A pid naming no process: a child that ran and was reaped. */
async function stalePid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

Deno.test("koan status, reload and stop drive a running daemon found by its pid file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-control-" });
  const pidFile = `${dir}/koan.pid`;
  const http = freePort();
  const zen = freePort();
  await using daemon = await startDaemon([], {
    config: config(pidFile, http),
    ports: [http],
  });
  const path = daemon.configPath!;
  try {
    await daemon.waitListening(http);

    const status = await runCli(["status", "--config", path]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`pid ${daemon.pid}, running, up `));
    assert.match(status.stdout, /0 reloads/);
    assert.match(status.stdout, /requests\/s, p50 [\d.]+ ms, p99 [\d.]+ ms/);
    assert.match(
      status.stdout,
      /^PROTOCOL +ADDRESS +MODEL +WORKERS +CONNECTIONS$/m,
    );
    assert.match(
      status.stdout,
      new RegExp(`^http +0\\.0\\.0\\.0:${http} +threads +2 +\\d+$`, "m"),
    );

    // --pid-file with --url finds the same daemon without the config.
    const byUrl = await runCli([
      "status",
      "--pid-file",
      pidFile,
      "--url",
      `http://127.0.0.1:${http}/status.json`,
    ]);
    assert.equal(byUrl.code, 0, byUrl.stderr);
    assert.match(byUrl.stdout, new RegExp(`pid ${daemon.pid},`));

    // A config the daemon would refuse: reload says so, sends nothing.
    await Deno.writeTextFile(path, config(pidFile, http, "[zen]\nbogus = 1\n"));
    const refused = await runCli(["reload", "--config", path]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /^koan: zen\.bogus: unknown key\n$/);

    // An edited config: reload applies it, and the new listener answers.
    await Deno.writeTextFile(
      path,
      config(
        pidFile,
        http,
        `\n[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${zen}"\n`,
      ),
    );
    const reload = await runCli(["reload", "--config", path]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal(reload.stdout + reload.stderr, "");
    await daemon.waitListening(zen);
    using conn = await connect(zen);
    conn.close();
    // A pool's worker serves the master's report as of up to a second ago.
    let after = { code: 1, stdout: "", stderr: "" };
    await eventually(async () => {
      after = await runCli(["status", "--config", path]);
      assert.equal(after.code, 0, after.stderr);
      return /\b1 reloads/.test(after.stdout);
    }, "koan status counts the reload");
    assert.match(
      after.stdout,
      new RegExp(`^zen +127\\.0\\.0\\.1:${zen} +async +`, "m"),
    );

    const stop = await runCli(["stop", "--config", path]);
    assert.equal(stop.code, 0, stop.stderr);
    // stop returned only once the process was gone.
    assert.equal(processAlive(daemon.pid), false);
    assert.equal((await daemon.exited).code, 0);

    // Now it is not running: the pid file went with it.
    const gone = await runCli(["status", "--config", path]);
    assert.equal(gone.code, 3, gone.stderr);
    assert.match(gone.stderr, /does not exist; is koan running\?/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stale pid file: status exit 3, reload, stop and reopen exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-control-" });
  try {
    const pid = await stalePid();
    await Deno.writeTextFile(`${dir}/koan.pid`, `${pid}\n`);
    const http = freePort();
    await Deno.writeTextFile(
      `${dir}/koan.toml`,
      config(`${dir}/koan.pid`, http),
    );
    const status = await runCli(["status", "--config", `${dir}/koan.toml`]);
    assert.equal(status.code, 3, status.stderr);
    assert.match(
      status.stderr,
      new RegExp(`^koan: not running: no process ${pid}; .* is stale\\n$`),
    );
    for (const command of ["reload", "stop", "reopen"]) {
      const result = await runCli([command, "--pid-file", `${dir}/koan.pid`]);
      assert.equal(result.code, 1, `${command}: ${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(`^koan: cannot ${command}: no process ${pid}; .* is stale`),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a symlinked pid file is refused by every control command, and nothing is signalled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-control-" });
  // A process that SIGHUP, SIGTERM and SIGUSR2 would each end.
  const victim = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    await Deno.writeTextFile(`${dir}/planted`, `${victim.pid}\n`);
    await Deno.symlink(`${dir}/planted`, `${dir}/koan.pid`);
    for (
      const args of [
        ["reload"],
        ["stop", "--timeout", "1"],
        ["reopen"],
        ["status", "--url", "http://127.0.0.1:1/status.json"],
      ]
    ) {
      const result = await runCli([...args, "--pid-file", `${dir}/koan.pid`]);
      assert.equal(result.code, 1, `${args[0]}: ${result.stderr}`);
      assert.match(result.stderr, /is a symlink; koan never writes one/);
      assert.equal(result.stderr.split("\n").length, 2, result.stderr);
    }
    assert.equal(processAlive(victim.pid), true, "the victim was signalled");
  } finally {
    victim.kill("SIGKILL");
    await victim.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("koan stop waits at most --timeout for a process that does not end: exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-control-" });
  // Not koan: a shell that ignores SIGTERM stands for a daemon still draining.
  const stubborn = new Deno.Command("sh", {
    args: ["-c", "trap '' TERM; sleep 30 & wait; sleep 30"],
  }).spawn();
  try {
    await Deno.writeTextFile(`${dir}/koan.pid`, `${stubborn.pid}\n`);
    await eventually(() => processAlive(stubborn.pid), "the stub runs");
    const result = await runCli([
      "stop",
      "--pid-file",
      `${dir}/koan.pid`,
      "--timeout",
      "0.5",
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`^koan: pid ${stubborn.pid} still runs 0\\.5 s after SIGTERM`),
    );
    assert.equal(processAlive(stubborn.pid), true);
  } finally {
    stubborn.kill("SIGKILL");
    await stubborn.status;
    await Deno.remove(dir, { recursive: true });
  }
});
