/**
 * Issue 17 §3 end to end: the files koan writes are safe where another
 * user can write the directory. The real daemon, under the permissions a
 * user gives it (never `-A`), in a temp dir: a symlink planted at the pid
 * path is replaced, never followed; one at a log path is refused at start
 * (exit 2, one line naming it) and at a reopen (the open file goes on, one
 * line says why); the pid file is removed at exit only while it holds
 * koan's pid; under umask 000 the files come out 0644 and 0640; and
 * `/dev/stdout` is the daemon's own stdout in every model.
 *
 * @module
 */
import assert from "node:assert/strict";
import { eventually, freePort, MAIN } from "../_helpers.ts";
import {
  KOAN_FLAGS,
  SpawnedDaemon,
  writeTempConfig,
} from "../../mod/bench/spawn_daemon.ts";

const decoder = new TextDecoder();
const VICTIM_TEXT = "precious: koan must never write here\n";

/** A daemon whose stdout is kept apart from its log (stderr). */
interface Started {
  daemon: SpawnedDaemon;
  /** What the daemon wrote to stdout so far. */
  stdout: () => string;
}

/** `deno run` with the flags users give koan; `umask000` wraps it in sh. */
function command(
  configPath: string,
  umask000 = false,
): { command: string; args: string[] } {
  const deno = [Deno.execPath(), "run", "--quiet", ...KOAN_FLAGS, MAIN];
  const args = [...deno, "serve", "--config", configPath];
  return umask000
    ? { command: "sh", args: ["-c", 'umask 000; exec "$@"', "sh", ...args] }
    : { command: args[0]!, args: args.slice(1) };
}

/**
 * Starts koan on `config`; resolves once it listens on `port` (once the
 * port answers, when `logToFile` says its log goes to a file).
 */
async function start(
  config: string,
  port: number,
  options: { umask000?: boolean; logToFile?: boolean } = {},
): Promise<Started> {
  const configPath = await writeTempConfig(config, "koan-safe-files-");
  const { command: program, args } = command(configPath, options.umask000);
  const child = new Deno.Command(program, {
    args,
    env: {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  (async () => {
    for await (const chunk of child.stdout) out += decoder.decode(chunk);
  })();
  const daemon = new SpawnedDaemon(child, configPath, ["stderr"]);
  try {
    if (options.logToFile) await answersHttp(port, 30_000);
    else await daemon.waitListening(port, 30_000);
  } catch (error) {
    await daemon.abort();
    throw error;
  }
  return { daemon, stdout: () => out };
}

/**
 * Runs koan on `config`, which it must refuse: resolves with its exit code
 * and stderr, or fails when it starts listening instead.
 */
async function refused(
  config: string,
  port: number,
): Promise<{ code: number; stderr: string }> {
  const configPath = await writeTempConfig(config, "koan-safe-files-");
  const { command: program, args } = command(configPath);
  const child = new Deno.Command(program, {
    args,
    env: {},
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const daemon = new SpawnedDaemon(child, configPath, ["stderr"]);
  try {
    const outcome = await Promise.race([
      daemon.exited.then((status) => status.code),
      daemon.waitListening(port, 30_000).then(() => "listening" as const),
    ]);
    assert.notEqual(outcome, "listening", `koan started:\n${daemon.log}`);
    return { code: (await daemon.exited).code, stderr: daemon.log };
  } finally {
    await daemon.shutdown();
  }
}

/** Runs `body` in a temp dir holding `victim`, a file nobody may change. */
async function withVictim(
  body: (dir: string, victim: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koan-safe-files-" });
  const victim = `${dir}/victim`;
  await Deno.writeTextFile(victim, VICTIM_TEXT);
  try {
    await body(dir, victim);
    assert.equal(await Deno.readTextFile(victim), VICTIM_TEXT, "the victim");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function listener(port: number, model = "async", protocol = "http"): string {
  return `[[listener]]\nprotocol = "${protocol}"\naddress = "127.0.0.1:${port}"\nmodel = "${model}"\n` +
    (model === "processes" || model === "threads" ? "workers = 2\n" : "");
}

/**
 * Waits until the HTTP listener on `port` answers (the log goes to a file,
 * so there is no "listening on" line to wait for). An open port is not
 * enough: the startup check of the address listens for an instant before
 * the real listener does, and a connect then is reset.
 */
async function answersHttp(port: number, timeoutMs: number): Promise<void> {
  await eventually(
    () =>
      get(port).then(() => true, (error) => {
        // fetch() rejects with a TypeError when the connect is refused.
        if (!(error instanceof TypeError)) throw error;
        return false;
      }),
    `an HTTP answer on port ${port}`,
    timeoutMs,
  );
}

async function get(port: number, path = "/healthz"): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  await response.body?.cancel();
  return response.status;
}

function modeOf(path: string): string {
  return (Deno.lstatSync(path).mode! & 0o777).toString(8);
}

Deno.test("a symlink at the pid path is replaced by the pid file, never written through", async () => {
  await withVictim(async (dir, victim) => {
    const pidFile = `${dir}/koan.pid`;
    await Deno.symlink(victim, pidFile);
    const port = freePort();
    const { daemon } = await start(
      listener(port) + `[daemon]\npid_file = "${pidFile}"\n`,
      port,
    );
    assert.equal(await Deno.readTextFile(victim), VICTIM_TEXT);
    assert.ok((await Deno.lstat(pidFile)).isFile, "a regular file now");
    assert.equal(await Deno.readTextFile(pidFile), `${daemon.pid}\n`);
    assert.equal((await daemon.shutdown()).code, 0);
    await assert.rejects(Deno.lstat(pidFile), Deno.errors.NotFound);
  });
});

for (const key of ["file", "access_file"] as const) {
  Deno.test(`a symlink at [log] ${key} is refused at start: exit 2, one line naming the path`, async () => {
    await withVictim(async (dir, victim) => {
      const path = `${dir}/koan.log`;
      await Deno.symlink(victim, path);
      const port = freePort();
      const { code, stderr } = await refused(
        listener(port) + `[log]\n${key} = "${path}"\n`,
        port,
      );
      assert.equal(code, 2, stderr);
      assert.equal(
        stderr,
        `koan: log.${key}: cannot open "${path}": it is a symlink (koan never writes through one)\n`,
      );
    });
  });
}

Deno.test("a symlink planted at the log path before a reopen: koan serves on, into the open file, and says why once", async () => {
  await withVictim(async (dir, victim) => {
    const path = `${dir}/koan.log`;
    const rotated = `${path}.1`;
    const port = freePort();
    const { daemon } = await start(
      listener(port) + `[log]\nfile = "${path}"\n`,
      port,
      { logToFile: true },
    );
    try {
      assert.equal(await get(port), 200);
      await Deno.rename(path, rotated);
      await Deno.symlink(victim, path);
      daemon.kill("SIGUSR2");
      const because =
        /log file not reopened, the one already open takes the lines: Cannot open "[^"]+": it is a symlink/g;
      await eventually(
        async () => because.test(await Deno.readTextFile(rotated)),
        "the line saying why",
      );
      assert.equal(await get(port, "/after-reopen"), 404);
      await eventually(
        async () =>
          (await Deno.readTextFile(rotated)).includes("/after-reopen"),
        "the access line, in the file already open",
      );
      const text = await Deno.readTextFile(rotated);
      assert.equal(text.match(because)?.length, 1, text);
      assert.ok((await Deno.lstat(path)).isSymlink, "left as it was");
    } finally {
      assert.equal((await daemon.shutdown()).code, 0, daemon.log);
    }
  });
});

Deno.test("a pid file that holds another pid by the exit is left alone", async () => {
  await withVictim(async (dir) => {
    const pidFile = `${dir}/koan.pid`;
    const port = freePort();
    const { daemon } = await start(
      listener(port) + `[daemon]\npid_file = "${pidFile}"\n`,
      port,
    );
    assert.equal(await Deno.readTextFile(pidFile), `${daemon.pid}\n`);
    await Deno.writeTextFile(pidFile, "999999\n");
    assert.equal((await daemon.shutdown()).code, 0, daemon.log);
    assert.equal(await Deno.readTextFile(pidFile), "999999\n");
    assert.match(daemon.log, /pid file \S+ left in place: it holds pid 999999/);
  });
});

Deno.test("under umask 000 the pid file comes out 0644, the log and the access log 0640", async () => {
  await withVictim(async (dir) => {
    const port = freePort();
    const { daemon } = await start(
      listener(port) +
        `[log]\nfile = "${dir}/koan.log"\naccess_file = "${dir}/access.log"\n` +
        `[daemon]\npid_file = "${dir}/koan.pid"\n`,
      port,
      { umask000: true, logToFile: true },
    );
    try {
      assert.equal(await get(port), 200);
      assert.deepEqual(
        [modeOf(`${dir}/koan.pid`), modeOf(`${dir}/koan.log`)],
        ["644", "640"],
      );
      assert.equal(modeOf(`${dir}/access.log`), "640");
    } finally {
      assert.equal((await daemon.shutdown()).code, 0, daemon.log);
    }
  });
});

const COMBINED =
  /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/healthz\?n=\d+ HTTP\/1\.1" 200 \d+ "-" "[^"]*"$/;

for (const model of ["async", "threads", "processes"]) {
  Deno.test(`access_file = "/dev/stdout" (${model}): every access line, whole, on the daemon's stdout`, async () => {
    const port = freePort();
    const { daemon, stdout } = await start(
      listener(port, model) + `[log]\naccess_file = "/dev/stdout"\n`,
      port,
    );
    try {
      const REQUESTS = 40;
      for (let i = 0; i < REQUESTS; i++) {
        assert.equal(await get(port, `/healthz?n=${i}`), 200);
      }
      await eventually(
        () => stdout().split("\n").length > REQUESTS,
        `${REQUESTS} lines on stdout`,
      );
      const lines = stdout().slice(0, -1).split("\n");
      for (const line of lines) assert.match(line, COMBINED);
      assert.deepEqual(
        lines.map((line) => Number(line.match(/n=(\d+)/)![1])).sort((a, b) =>
          a - b
        ),
        Array.from({ length: REQUESTS }, (_, i) => i),
      );
      assert.doesNotMatch(daemon.log, /GET \/healthz|non-message|ERROR/);
    } finally {
      assert.equal((await daemon.shutdown()).code, 0, daemon.log);
    }
  });
}
