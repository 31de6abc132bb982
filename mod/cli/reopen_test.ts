import assert from "node:assert/strict";
import { ConfigError } from "../config/load.ts";
import { UsageError } from "../util/usage.ts";
import { parsePid, pidSource, runReopen } from "./reopen.ts";

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
  assert.deepEqual(await pidSource(["--pid-file", "/run/k.pid"]), {
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
    assert.deepEqual(await pidSource(["--config", path]), {
      path: "/run/koan/koan.pid",
      from: `daemon.pid_file in "${path}"`,
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("pidSource() without a pid file configured is a ConfigError naming the key", async () => {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, "[daemon]\n");
    await assert.rejects(
      pidSource(["--config", path]),
      (error: unknown) =>
        error instanceof ConfigError &&
        /daemon\.pid_file/.test(error.message) &&
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
    await assert.rejects(pidSource(args), UsageError, args.join(" "));
  }
});

Deno.test("runReopen() never signals the pid behind a symlinked pid file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-reopen-" });
  // A process that SIGUSR2 would kill (its default action).
  const victim = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    await Deno.writeTextFile(`${dir}/planted`, `${victim.pid}\n`);
    await Deno.symlink(`${dir}/planted`, `${dir}/koan.pid`);
    const errors: string[] = [];
    const original = console.error;
    console.error = (line: string) => errors.push(line);
    let code: number;
    try {
      code = await runReopen(["--pid-file", `${dir}/koan.pid`]);
    } finally {
      console.error = original;
    }
    assert.equal(code, 1);
    assert.match(errors.join("\n"), /is a symlink/);
    const exited = await Promise.race([
      victim.status.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 200)),
    ]);
    assert.equal(exited, false, "the victim must not have been signalled");
  } finally {
    victim.kill("SIGKILL");
    await victim.status;
    await Deno.remove(dir, { recursive: true });
  }
});
