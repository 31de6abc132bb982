/**
 * `deno task compile`: where the denort runtime cannot be downloaded (this
 * machine, CI) it fails with one clear message; where it can, the binary
 * runs. What differs in a binary is tested by other means: every Worker
 * module is found for `--include`, and the daemon runs every model, the
 * notify socket and inetd under exactly the permission flags baked into
 * the binary (`deno run` with the same flags, never -A).
 */
import assert from "node:assert/strict";
import { ask, freePort, MAIN, ROOT_DIR } from "../_helpers.ts";
import {
  compileArgs,
  isDenortDownloadFailure,
  permissionFlags,
  UNSTABLE_FLAGS,
  V8_FLAGS,
  workerModules,
} from "../../scripts/compile.ts";
import { KOAN_V8_FLAGS, koanRun } from "../../mod/bench/suite/_koan.ts";
import { FakeNotifySocket, spawnService, tempDir } from "./_service.ts";

const decoder = new TextDecoder();

Deno.test("compile: deno task compile builds dist/koan, or says in one line that denort cannot be downloaded", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile", "--output", "dist/koan-test"],
    cwd: ROOT_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = decoder.decode(output.stderr);
  if (output.code === 0) {
    const binary = `${ROOT_DIR}dist/koan-test`;
    try {
      const version = await new Deno.Command(binary, {
        args: ["--version"],
        stdout: "piped",
      }).output();
      assert.match(decoder.decode(version.stdout), /^koan \d/);
    } finally {
      await Deno.remove(binary).catch(() => {});
    }
    return;
  }
  assert.equal(output.code, 1);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(
    lines[0]!,
    /^koan: cannot compile: deno compile needs the denort runtime of Deno \d+\.\d+\.\d+ for \S+, and this machine cannot download it\. .*DENORT_BIN/,
  );
});

Deno.test("compile: the download failure is told apart from other compile errors", () => {
  assert.ok(isDenortDownloadFailure(
    "Download https://example/denort-x86_64-unknown-linux-gnu.zip\nerror: Writing deno compile executable\n    1: error sending request for url: dns error",
  ));
  assert.ok(!isDenortDownloadFailure('error: Module not found "file:///x.ts"'));
});

Deno.test("compile: every module started as a Worker is included", async () => {
  const modules = workerModules().map((m) => m.path);
  // Every `new Worker(` in mod/ names its module with new URL(...,
  // import.meta.url) (workerModules throws otherwise); those are included.
  const grep = new Deno.Command("grep", {
    args: ["-rl", "new Worker(", `${ROOT_DIR}mod`],
    stdout: "piped",
  });
  const starters = decoder.decode((await grep.output()).stdout).trim().split(
    "\n",
  ).filter(Boolean);
  assert.ok(starters.length >= 2, "threads and thread-per-connection");
  for (const module of modules) {
    await Deno.stat(`${ROOT_DIR}${module}`);
  }
  assert.ok(modules.includes("mod/models/threads/worker.ts"));
  assert.ok(modules.includes("mod/models/per_connection/thread_child.ts"));
  const args = compileArgs({ output: "dist/koan" });
  for (const module of modules) {
    assert.ok(args.join(" ").includes(`--include ${module}`));
  }
});

Deno.test("compile: the binary, deno task start, the bench suite and the README run koan with the same V8 flags, and this Deno accepts them", async () => {
  const flag = `--v8-flags=${V8_FLAGS.join(",")}`;
  assert.ok(V8_FLAGS.some((f) => f.startsWith("--max-semi-space-size=")));
  assert.ok(compileArgs({ output: "dist/koan" }).includes(flag));
  assert.deepEqual([...KOAN_V8_FLAGS], V8_FLAGS);
  assert.ok(koanRun([...KOAN_V8_FLAGS]).includes(flag));
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT_DIR}deno.json`))
    .tasks as Record<string, string>;
  assert.ok(tasks.start!.split(" ").includes(flag), tasks.start);
  const readme = await Deno.readTextFile(`${ROOT_DIR}README.md`);
  assert.ok(readme.includes(flag), "the README's deno run line");
  // V8 refuses a flag it does not know, and Deno then exits 1: a Deno that
  // dropped one fails here rather than at a user's start.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", flag, "0"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
});

Deno.test("compile: the baked permissions are explicit and narrow", () => {
  const flags = permissionFlags();
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"));
  assert.ok(flags.includes("--allow-run=/usr/local/bin/koan"));
  assert.ok(flags.every((f) => !/^--allow-(run|sys|ffi)$/.test(f)));
  assert.ok(flags.includes("--no-prompt"));
});

Deno.test("compile: the daemon runs every pooled model, notify, reload and stop under exactly the baked permissions", async () => {
  await using dir = await tempDir();
  await using notify = new FakeNotifySocket(dir.path);
  const ports = [freePort(), freePort(), freePort(), freePort()];
  const config = `${dir.path}/koan.toml`;
  const models = ["async", "threads", "processes", "process-per-connection"];
  await Deno.writeTextFile(
    config,
    models.map((model, i) =>
      `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${
        ports[i]
      }"\nmodel = "${model}"\nworkers = 2\n`
    ).join("") + `[log]\nfile = "${dir.path}/koan.log"\n`,
  );
  // As in the binary, which runs itself: here Deno runs main.ts.
  const daemon = spawnService(Deno.execPath(), [
    "run",
    ...UNSTABLE_FLAGS,
    ...permissionFlags(Deno.execPath()),
    `--v8-flags=${V8_FLAGS.join(",")}`,
    MAIN,
    "serve",
    "--config",
    config,
  ], { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: "1000000" });
  try {
    const ready = await notify.waitFor((f) => f.READY === "1");
    void ready;
    for (const port of ports) {
      assert.deepEqual(await ask(port, ["Beautiful is better than?"]), [
        "ugly.",
      ]);
    }
    await notify.waitFor((f) => f.WATCHDOG === "1");
    daemon.kill("SIGHUP");
    const reloading = await notify.waitFor((f) => f.RELOADING === "1");
    assert.match(
      notify.fields[reloading]!.MONOTONIC_USEC ?? "",
      /^\d+$/,
      "clock_gettime through the libc FFI grant",
    );
    await notify.waitFor((f) => f.READY === "1", { after: reloading });
    daemon.kill("SIGTERM");
    const code = (await daemon.exited).code;
    const log = await Deno.readTextFile(`${dir.path}/koan.log`);
    assert.equal(code, 0, `${daemon.log}\n${log}`);
    assert.doesNotMatch(log, /NotCapable|PermissionDenied|Requires .* access/);
  } finally {
    daemon.kill("SIGKILL");
    await daemon.exited;
  }
});

Deno.test("compile: koan inetd runs under the baked permissions", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...UNSTABLE_FLAGS,
      ...permissionFlags(Deno.execPath()),
      `--v8-flags=${V8_FLAGS.join(",")}`,
      MAIN,
      "inetd",
      "--protocol",
      "zen",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { REMOTE_HOST: "192.0.2.1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("Beautiful is better than?"));
  await writer.close();
  const output = await child.output();
  assert.equal(decoder.decode(output.stdout), "ugly.");
  assert.equal(output.code, 0, decoder.decode(output.stderr));
});
