import assert from "node:assert/strict";
import { ConfigError } from "../config/load.ts";
import { UsageError } from "../util/usage.ts";
import {
  parseFlags,
  parsePid,
  PID_OPTIONS,
  pidSource,
  processRuns,
  readPid,
  signalDaemon,
} from "./daemon_pid.ts";
import { withErrors } from "./_testing.ts";

/** pidSource() over parsed command-line arguments, as the commands call it. */
async function sourceOf(args: string[], command?: string) {
  return await pidSource(
    parseFlags(args, PID_OPTIONS),
    command === undefined ? {} : { command },
  );
}

Deno.test("parsePid() reads one pid, whitespace around it allowed", () => {
  assert.equal(parsePid("4242\n", "/run/koan.pid"), 4242);
  assert.equal(parsePid("  77 ", "/run/koan.pid"), 77);
});

Deno.test("parsePid() refuses what is not one process's pid: never 0, 1 or a group", () => {
  for (
    const text of [
      "",
      "\n",
      "koan",
      "12 13",
      "-5",
      "0",
      "1",
      "4.2",
      "99999999999",
    ]
  ) {
    assert.throws(
      () => parsePid(text, "/run/koan.pid"),
      RangeError,
      `"${text}"`,
    );
  }
  assert.throws(
    () => parsePid("koan\n", "/run/koan.pid"),
    /pid file "\/run\/koan\.pid" does not hold a daemon's pid \("koan"\)/,
  );
});

Deno.test("pidSource() takes --pid-file as given", async () => {
  assert.deepEqual(await sourceOf(["--pid-file", "/run/k.pid"]), {
    path: "/run/k.pid",
    from: "--pid-file",
  });
});

Deno.test("pidSource() reads [daemon] pid_file from --config, and only [daemon]", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    // A [zen] key that koan serve would refuse does not stop a rotation.
    await Deno.writeTextFile(
      path,
      '[daemon]\npid_file = "/run/koan/koan.pid"\n[zen]\nmax_question = -1\n',
    );
    const source = await sourceOf(["--config", path]);
    assert.equal(source.path, "/run/koan/koan.pid");
    assert.equal(source.from, `daemon.pid_file in "${path}"`);
    assert.equal(source.config?.daemon.pid_file, "/run/koan/koan.pid");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("pidSource() without a pid file configured is a ConfigError naming the key", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, "[daemon]\n");
    await assert.rejects(
      sourceOf(["--config", path], "stop"),
      (error: unknown) =>
        error instanceof ConfigError &&
        /daemon\.pid_file/.test(error.message) &&
        /koan stop finds the daemon by it/.test(error.message) &&
        /--pid-file FILE/.test(error.message),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("pidSource() refuses both --pid-file and --config, an empty name, and strays", async () => {
  for (
    const args of [
      ["--pid-file", "a", "--config", "b"],
      ["--pid-file", ""],
      ["stray"],
      ["--bogus"],
    ]
  ) {
    await assert.rejects(sourceOf(args), UsageError, args.join(" "));
  }
});

Deno.test("readPid() reads the pid, and tells an absent pid file from a refused one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-pid-" });
  try {
    const source = (name: string) => ({
      path: `${dir}/${name}`,
      from: "--pid-file",
    });
    await Deno.writeTextFile(`${dir}/good.pid`, "4242\n");
    assert.deepEqual(await readPid(source("good.pid")), { pid: 4242 });
    const absent = await readPid(source("absent.pid"));
    assert.ok("problem" in absent && absent.problem === "absent");
    assert.match(absent.message, /does not exist; is koan running\?/);
    await Deno.writeTextFile(`${dir}/junk.pid`, "koan\n");
    const junk = await readPid(source("junk.pid"));
    assert.ok("problem" in junk && junk.problem === "refused");
    await Deno.mkdir(`${dir}/dir.pid`);
    const folder = await readPid(source("dir.pid"));
    assert.ok("problem" in folder && folder.problem === "refused");
    assert.match(folder.message, /not a regular file/);
    await Deno.symlink(`${dir}/good.pid`, `${dir}/link.pid`);
    const link = await readPid(source("link.pid"));
    assert.ok("problem" in link && link.problem === "refused");
    assert.match(link.message, /is a symlink/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("processRuns() is true for a live process, false once it is gone", async () => {
  assert.equal(processRuns(Deno.pid), true);
  const child = new Deno.Command("true").spawn();
  const pid = child.pid;
  await child.status; // reaped: no zombie left
  assert.equal(processRuns(pid), false);
});

for (const signal of ["SIGUSR2", "SIGHUP", "SIGTERM"] as const) {
  Deno.test(`signalDaemon() never sends ${signal} to the pid behind a symlinked pid file`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "koan-reopen-" });
    // A process that each of these signals would kill (the default action).
    const victim = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      await Deno.writeTextFile(`${dir}/planted`, `${victim.pid}\n`);
      await Deno.symlink(`${dir}/planted`, `${dir}/koan.pid`);
      const { value: sent, errors } = await withErrors(() =>
        signalDaemon(
          { path: `${dir}/koan.pid`, from: "--pid-file" },
          signal,
          "test",
        )
      );
      assert.deepEqual(sent, { code: 1 });
      assert.match(errors.join("\n"), /is a symlink/);
      const exited = await Promise.race([
        victim.status.then(() => true),
        new Promise<boolean>((resolve) =>
          setTimeout(() => resolve(false), 200)
        ),
      ]);
      assert.equal(exited, false, "the victim must not have been signalled");
    } finally {
      victim.kill("SIGKILL");
      await victim.status;
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("signalDaemon() calls a pid file naming no process stale: exit 1", async () => {
  const path = await Deno.makeTempFile({ suffix: ".pid" });
  const child = new Deno.Command("true").spawn();
  await child.status;
  try {
    await Deno.writeTextFile(path, `${child.pid}\n`);
    const { value: sent, errors } = await withErrors(() =>
      signalDaemon({ path, from: "--pid-file" }, "SIGHUP", "reload")
    );
    assert.deepEqual(sent, { code: 1 });
    assert.match(
      errors.join("\n"),
      /^koan: cannot reload: no process \d+; .* is stale/,
    );
  } finally {
    await Deno.remove(path);
  }
});
