/**
 * `koan check-config --diff` against the real daemon, as an operator uses
 * it before `koan reload`: it reads the running record beside the pid
 * file, loads the edited config as a reload would and prints one line per
 * change — a model change, a limit, an added listener, an address in use;
 * exit 2 with the daemon's own line for a config it would refuse, exit 1
 * with no daemon or no record; "no changes" again once SIGHUP applied it.
 */
import assert from "node:assert/strict";
import {
  eventually,
  freePort,
  processAlive,
  runCli,
  startDaemon,
} from "./_helpers.ts";
import { lstatOrUndefined } from "../mod/log/safe_file.ts";

/** The daemon's config: a pid file, a Zen listener of `model`, extra TOML. */
function config(
  pidFile: string,
  zen: number,
  model: string,
  extra = "",
): string {
  return `[daemon]\npid_file = "${pidFile}"\n\n` +
    `[limits]\nmax_connections = 1000\n\n` +
    `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${zen}"\nmodel = "${model}"\nworkers = 1\n` +
    extra;
}

/** The lines of `koan check-config --diff` output that are not comments. */
function changes(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line && !line.startsWith("#"));
}

const exists = (path: string) => lstatOrUndefined(path) !== undefined;

Deno.test("koan check-config --diff previews a reload of the running daemon", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-diff-" });
  const pidFile = `${dir}/koan.pid`;
  const record = `${pidFile}.config.json`;
  const [zen, echo] = [freePort(), freePort()];
  try {
    await using daemon = await startDaemon([], {
      config: config(pidFile, zen, "async"),
      ports: [zen],
    });
    const path = daemon.configPath!;
    const diff = () => runCli(["check-config", "--diff", "--config", path]);
    await eventually(() => exists(record), "the running record");
    const info = await Deno.lstat(record);
    assert.equal(info.mode! & 0o777, 0o600);

    // Nothing edited yet.
    const same = await diff();
    assert.equal(same.code, 0, same.stderr);
    assert.match(
      same.stdout,
      new RegExp(`^# pid ${daemon.pid}, "${path}", running config recorded `),
    );
    assert.deepEqual(changes(same.stdout), ["no changes"]);

    // A model change, a limit and a new listener.
    const edited = config(
      pidFile,
      zen,
      "threads",
      `\n[[listener]]\nprotocol = "echo"\naddress = "127.0.0.1:${echo}"\n`,
    ).replace("max_connections = 1000", "max_connections = 2000");
    await Deno.writeTextFile(path, edited);
    const preview = await diff();
    assert.equal(preview.code, 0, preview.stderr);
    assert.deepEqual(changes(preview.stdout), [
      `listener zen 127.0.0.1:${zen}: moved, model "async" → "threads"`,
      `listener echo 127.0.0.1:${echo}: added (async)`,
      "limits.max_connections: 1000 → 2000",
      `workers restart: zen 127.0.0.1:${zen} (threads, 1 worker): the listener is replaced, the old one drains`,
    ]);

    // A new address someone else holds: the reload would go on without it.
    {
      using holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const held = (holder.addr as Deno.NetAddr).port;
      await Deno.writeTextFile(
        path,
        config(
          pidFile,
          zen,
          "async",
          `\n[[listener]]\nprotocol = "echo"\naddress = "127.0.0.1:${held}"\n`,
        ),
      );
      const taken = await diff();
      assert.equal(taken.code, 0, taken.stderr);
      assert.deepEqual(changes(taken.stdout), [
        `listener echo 127.0.0.1:${held}: added (async)`,
        `listener echo 127.0.0.1:${held}: address in use: the reload would go on without it`,
        `workers kept: zen 127.0.0.1:${zen} (async): updated in place`,
      ]);
    }

    // A config the daemon would refuse: its own line, exit 2.
    await Deno.writeTextFile(path, edited + "\n[zen]\nbogus = 1\n");
    const refused = await diff();
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(
      refused.stderr,
      "koan: the reload would be refused: zen.bogus: unknown key\n",
    );
    assert.equal(refused.stdout, "");

    // No daemon behind a pid file, and a live pid without a record: exit 1.
    const none = await runCli([
      "check-config",
      "--diff",
      "--pid-file",
      `${dir}/none.pid`,
    ]);
    assert.equal(none.code, 1, none.stderr);
    assert.match(
      none.stderr,
      new RegExp(
        `^koan: cannot preview the reload: pid file "${dir}/none\\.pid" \\(--pid-file\\) does not exist; is koan running\\?\\n$`,
      ),
    );
    await Deno.copyFile(pidFile, `${dir}/copy.pid`);
    const unrecorded = await runCli([
      "check-config",
      "--diff",
      "--pid-file",
      `${dir}/copy.pid`,
    ]);
    assert.equal(unrecorded.code, 1, unrecorded.stderr);
    assert.match(
      unrecorded.stderr,
      /^koan: cannot preview the reload: no running record ".*\/copy\.pid\.config\.json" beside the pid file/,
    );

    // SIGHUP applies the edit and rewrites the record: nothing left to do.
    await Deno.writeTextFile(path, edited);
    const before = JSON.parse(await Deno.readTextFile(record)).writtenAt;
    daemon.kill("SIGHUP");
    await daemon.waitForLog(/reloaded from /);
    await daemon.waitListening(echo);
    await eventually(
      async () =>
        JSON.parse(await Deno.readTextFile(record)).writtenAt !== before,
      "the record rewritten",
    );
    const after = await diff();
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(changes(after.stdout), ["no changes"]);

    // The record goes with the pid file at exit.
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
    assert.equal(processAlive(daemon.pid), false);
    assert.equal(exists(pidFile), false);
    assert.equal(exists(record), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("koan check-config --diff without a pid file configured is exit 2, naming the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-diff-" });
  try {
    await Deno.writeTextFile(
      `${dir}/koan.toml`,
      "[limits]\nmax_connections = 5\n",
    );
    const result = await runCli([
      "check-config",
      "--diff",
      "--config",
      `${dir}/koan.toml`,
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^koan: daemon\.pid_file: not set in ".*koan\.toml"; koan check-config --diff finds the daemon by it/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
