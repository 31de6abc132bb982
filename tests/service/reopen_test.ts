/**
 * Log rotation as shipped: the real `logrotate` runs `deploy/logrotate/koan`
 * (paths pointed at a temp dir), whose postrotate is `koan reopen`; the
 * daemon's master and every worker then write to the new file, nothing
 * more goes to the rotated one. And SIGUSR1, on which Deno ≥ 2.9.2 opens a
 * V8 inspector on 127.0.0.1:9229, reaches nothing: every koan process
 * ignores it, and none listens on 9229 afterwards.
 *
 * The daemon and `koan reopen` run under exactly the permissions baked
 * into the compiled binary (`scripts/compile.ts`): FFI for the C library
 * only, `--allow-run` for koan's own executable only.
 */
import assert from "node:assert/strict";
import {
  childProcesses,
  connect,
  eventually,
  freePort,
  MAIN,
  processAlive,
  readUntil,
  ROOT_DIR,
  runCli,
  send,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import { startKoan } from "../../mod/bench/spawn_daemon.ts";
import { permissionFlags, UNSTABLE_FLAGS } from "../../scripts/compile.ts";
import { delay, tempDir, tool } from "./_service.ts";

/** `deno run` flags equal to the compiled binary's baked permissions. */
const BINARY_RUN = [
  "run",
  "--quiet",
  ...UNSTABLE_FLAGS,
  ...permissionFlags(Deno.execPath()),
];

const INSPECTOR_PORT = 9229;

/** Writes a `koan` launcher in `dir` with the compiled binary's permissions. */
async function binaryLauncher(dir: string): Promise<string> {
  const path = `${dir}/koan`;
  const home = Deno.env.get("HOME") ?? "/root";
  const denoDir = Deno.env.get("DENO_DIR") ?? `${home}/.cache/deno`;
  const quoted = BINARY_RUN.map((arg) => `'${arg}'`).join(" ");
  await Deno.writeTextFile(
    path,
    [
      "#!/bin/sh",
      `export DENO_DIR='${denoDir}' HOME='${home}'`,
      `exec '${Deno.execPath()}' ${quoted} '${MAIN}' "$@"`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** The shipped logrotate snippet with its paths pointed at `dir`. */
async function logrotateConfig(
  dir: string,
  koan: string,
  config: string,
): Promise<string> {
  const shipped = await Deno.readTextFile(
    `${ROOT_DIR}deploy/logrotate/koan`,
  );
  for (
    const part of [
      "/var/log/koan/*.log {",
      "/usr/local/bin/koan reopen --config /etc/koan/koan.toml",
    ]
  ) {
    assert.ok(shipped.includes(part), `deploy/logrotate/koan lost "${part}"`);
  }
  const path = `${dir}/logrotate.conf`;
  await Deno.writeTextFile(
    path,
    shipped
      .replace("/var/log/koan/*.log", `${dir}/*.log`)
      .replace(
        "/usr/local/bin/koan reopen --config /etc/koan/koan.toml",
        `${koan} reopen --config ${config}`,
      ),
  );
  return path;
}

/** Runs logrotate as cron would, forced; fails the test on any error. */
async function rotate(dir: string, conf: string): Promise<void> {
  const output = await new Deno.Command(tool("logrotate"), {
    args: ["--force", "--state", `${dir}/logrotate.state`, conf],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stderr) +
    new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, `logrotate failed:\n${text}`);
}

/** Waits until the file at `path` matches `pattern` (generous: a loaded CI). */
async function fileMatches(
  path: string,
  pattern: RegExp,
  what: string,
): Promise<string> {
  let text = "";
  await eventually(
    async () => {
      text = await Deno.readTextFile(path).catch(() => "");
      return pattern.test(text);
    },
    `${what} (${pattern}) in ${path}`,
    30_000,
  );
  return text;
}

/** Every process of the daemon: the master and its descendants. */
function koanProcesses(master: number): number[] {
  const pids = [master];
  for (let i = 0; i < pids.length; i++) {
    for (const child of childProcesses(pids[i]!)) {
      if (child.state !== "Z") pids.push(child.pid);
    }
  }
  return pids;
}

/** Socket inodes listening on `port` (any address), from /proc/net. */
function listeningInodes(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = Deno.readTextFileSync(table);
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hex}`) && fields[3] === "0A") {
        inodes.add(fields[9]!);
      }
    }
  }
  return inodes;
}

/** The processes among `pids` holding a socket that listens on `port`. */
function listenersOn(port: number, pids: number[]): number[] {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return [];
  return pids.filter((pid) => {
    try {
      for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
        const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode && inodes.has(inode)) return true;
      }
    } catch {
      // Gone meanwhile: holds nothing.
    }
    return false;
  });
}

/** Whether the kernel discards SIGUSR1 for `pid` (/proc's SigIgn mask). */
function ignoresSigusr1(pid: number): boolean {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mask = /^SigIgn:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  assert.ok(mask, `no SigIgn for ${pid}`);
  return (BigInt(`0x${mask}`) & (1n << 9n)) !== 0n; // SIGUSR1 = 10
}

/** Asks one question on a connection kept open; close it to log its line. */
async function holdAsking(port: number, question: string): Promise<Deno.Conn> {
  const conn = await connect(port);
  await send(conn, question);
  const { text } = await readUntil(conn, ".");
  assert.ok(text.endsWith("."), `no answer to ${question}: "${text}"`);
  return conn;
}

/**
 * Sends SIGUSR1 to every koan process long after Deno armed it (500 ms
 * after start), then checks that each ignores it, is alive, and that none
 * listens on 9229 or printed an inspector banner.
 */
async function sigusr1ReachesNothing(daemon: TestDaemon): Promise<void> {
  const pids = koanProcesses(daemon.pid);
  for (const pid of pids) {
    assert.ok(ignoresSigusr1(pid), `pid ${pid} does not ignore SIGUSR1`);
  }
  for (const pid of pids) Deno.kill(pid, "SIGUSR1");
  await delay(1500); // the inspector binds within milliseconds of the signal
  for (const pid of pids) {
    assert.ok(processAlive(pid), `pid ${pid} died of SIGUSR1`);
  }
  assert.deepEqual(listenersOn(INSPECTOR_PORT, pids), []);
  assert.doesNotMatch(daemon.log, /Debugger listening|inspector/i);
}

for (const model of ["async", "threads", "processes"] as const) {
  Deno.test(`reopen (${model}): logrotate's koan reopen moves the master's and every worker's lines to the new file; SIGUSR1 opens no debugger`, async () => {
    await using dir = await tempDir();
    const port = freePort();
    const logFile = `${dir.path}/koan.log`;
    const config = `${dir.path}/koan.toml`;
    const pooled = model !== "async";
    await Deno.writeTextFile(
      config,
      [
        "[[listener]]",
        'protocol = "zen"',
        `address = "127.0.0.1:${port}"`,
        `model = "${model}"`,
        ...(pooled ? ["workers = 2", "concurrency = 1"] : []),
        "[log]",
        `file = "${logFile}"`,
        "[daemon]",
        `pid_file = "${dir.path}/koan.pid"`,
        "",
      ].join("\n"),
    );
    await using daemon = await startKoan({
      run: BINARY_RUN,
      args: ["--config", config],
    });
    await fileMatches(logFile, /listening on/, "the start");
    if (pooled) await fileMatches(logFile, /2 workers serving/, "the pool");

    // Before: a line in the file that is about to be rotated.
    (await holdAsking(port, "Beautiful is better than?")).close();
    await fileMatches(logFile, /zen in=25 out=5/, "the first access line");

    const koan = await binaryLauncher(dir.path);
    await rotate(dir.path, await logrotateConfig(dir.path, koan, config));
    const rotated = `${logFile}.1`;
    await fileMatches(logFile, /log file reopened/, "the reopen");

    // After: two connections at once. With one connection per worker
    // (concurrency = 1) the second goes to the other worker, so both
    // workers write a line — to the new file only if both reopened.
    const first = await holdAsking(port, "Flat is better than?");
    const second = await holdAsking(port, "Sparse is better than?");
    first.close();
    second.close();
    await fileMatches(logFile, /zen in=20 out=7/, "the first access line");
    const fresh = await fileMatches(
      logFile,
      /zen in=22 out=6/,
      "the second access line",
    );
    const tags = [...fresh.matchAll(
      /\[(\w+) \d+\] koan\.access: .* zen in=2[02] out=[67]/g,
    )].map((match) => match[1]!);
    if (pooled) {
      assert.equal(new Set(tags).size, 2, `one worker served both: ${tags}`);
      assert.ok(tags.every((tag) => /^w\d+$/.test(tag)), `${tags}`);
    } else {
      assert.deepEqual(tags, ["master", "master"]);
    }
    const old = await Deno.readTextFile(rotated);
    assert.match(old, /zen in=25 out=5/);
    assert.doesNotMatch(old, /in=2[02] out=[67]|log file reopened/);

    await sigusr1ReachesNothing(daemon);
    // SIGUSR2 sent to a worker process itself (pkill -USR2) ends nothing.
    const workers = koanProcesses(daemon.pid).slice(1);
    assert.equal(workers.length, model === "processes" ? 2 : 0);
    for (const pid of workers) Deno.kill(pid, "SIGUSR2");
    await delay(300);
    for (const pid of workers) assert.ok(processAlive(pid), `${pid} died`);
    (await holdAsking(port, "Readability?")).close(); // still serving
    const status = await daemon.stop();
    assert.equal(status.code, 0, daemon.log);
  });
}

Deno.test("reopen: SIGUSR2 sent during a drain still reopens the log file", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const logFile = `${dir.path}/koan.log`;
  await using daemon = await startDaemon([], {
    config: [
      "[[listener]]",
      'protocol = "zen"',
      `address = "127.0.0.1:${port}"`,
      "[zen]",
      'work = "sleep"',
      "work_ms = 3000",
      "[log]",
      `file = "${logFile}"`,
      "",
    ].join("\n"),
  });
  await fileMatches(logFile, /listening on/, "the start");
  using conn = await connect(port);
  await send(conn, "Beautiful is better than?");
  await delay(200);
  daemon.kill("SIGTERM");
  await fileMatches(logFile, /SIGTERM: draining/, "the drain");
  await Deno.rename(logFile, `${logFile}.1`);
  daemon.kill("SIGUSR2");
  await fileMatches(logFile, /log file reopened/, "the reopen");
  assert.equal((await readUntil(conn, ".")).text, "ugly.");
  assert.equal((await daemon.exited).code, 0);
  assert.match(await Deno.readTextFile(logFile), /stopped/);
});

Deno.test("koan reopen: no pid file configured is a config error (exit 2), naming the key", async () => {
  await using dir = await tempDir();
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(config, '[log]\nlevel = "info"\n');
  const result = await runCli(["reopen", "--config", config]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /^koan: daemon\.pid_file: not set in ".*koan\.toml"; .*--pid-file FILE\)\n$/,
  );
});

Deno.test("koan reopen: a missing, stale or unreadable pid file exits 1 with one line", async () => {
  await using dir = await tempDir();
  const pidFile = `${dir.path}/koan.pid`;
  const pidMax = Number(
    (await Deno.readTextFile("/proc/sys/kernel/pid_max")).trim(),
  );
  const cases: [string | undefined, RegExp][] = [
    [undefined, /does not exist; is koan running\?/],
    [`${pidMax + 1}\n`, /no process \d+; pid file ".*" is stale/],
    ["koan\n", /does not hold a daemon's pid \("koan"\)/],
    ["", /does not hold a daemon's pid/],
    // Never a group (0) or init (1).
    ["0\n", /does not hold a daemon's pid \("0"\)/],
    ["1\n", /does not hold a daemon's pid \("1"\)/],
  ];
  for (const [content, pattern] of cases) {
    await Deno.remove(pidFile).catch(() => {});
    if (content !== undefined) await Deno.writeTextFile(pidFile, content);
    const result = await runCli(["reopen", "--pid-file", pidFile]);
    assert.equal(result.code, 1, `${content}: ${result.stderr}`);
    assert.match(result.stderr, /^koan: cannot reopen: [^\n]*\n$/);
    assert.match(result.stderr, pattern);
  }
});
