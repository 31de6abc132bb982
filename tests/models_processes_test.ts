/**
 * The `processes` model's supervision, against the real daemon: replaced
 * workers, heartbeats, crash loops (exit 3), recycling, SIGTTIN/SIGTTOU,
 * reloads, and no orphans even when the master is SIGKILLed.
 */
import assert from "node:assert/strict";
import {
  ask,
  childProcesses,
  eventually,
  freePort,
  MAIN,
  processAlive,
  type ProcInfo,
  ROOT_DIR,
  startDaemon,
  TestDaemon,
  writeConfig,
} from "./_helpers.ts";

const FIXTURE = `${ROOT_DIR}tests/fixtures/failing_worker_main.ts`;

function poolChildren(daemon: TestDaemon): ProcInfo[] {
  return childProcesses(daemon.pid).filter((child) =>
    child.cmdline.includes("_worker pool") && child.state !== "Z"
  );
}

function config(port: number, extra = "", workers = 2): string {
  return `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${port}"
model = "processes"
workers = ${workers}

${extra}
`;
}

async function startPool(extra = "", workers = 2) {
  const port = freePort();
  const daemon = await startDaemon([], {
    config: config(port, extra, workers),
    ports: [port],
    timeoutMs: 30_000,
  });
  await eventually(
    () => poolChildren(daemon).length === workers,
    `${workers} workers`,
  );
  return { daemon, port };
}

/** Asks on `count` fresh connections; every one must be answered. */
async function serviceContinues(port: number, count = 10): Promise<void> {
  for (let i = 0; i < count; i++) {
    assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
  }
}

Deno.test("processes: a SIGKILLed worker is logged, replaced, and service continues", async () => {
  const { daemon, port } = await startPool();
  await using _ = daemon;
  const [victim] = poolChildren(daemon);
  Deno.kill(victim!.pid, "SIGKILL");
  await daemon.waitForLog(
    new RegExp(
      `w\\d+ \\(pid ${
        victim!.pid
      }\\) was killed by SIGKILL; restarting in \\d+ ms`,
    ),
  );
  await daemon.waitForLog(/w3 accepting on/);
  await eventually(() => {
    const pids = poolChildren(daemon).map((child) => child.pid);
    return pids.length === 2 && !pids.includes(victim!.pid);
  }, "two workers again, without the killed one");
  await serviceContinues(port);
  assert.equal(
    childProcesses(daemon.pid).filter((child) => child.state === "Z").length,
    0,
    "no zombie",
  );
});

Deno.test("processes: a worker silent past worker_timeout is killed and replaced", async () => {
  const { daemon, port } = await startPool("[limits]\nworker_timeout = 1");
  await using _ = daemon;
  const [victim] = poolChildren(daemon);
  Deno.kill(victim!.pid, "SIGSTOP");
  await daemon.waitForLog(
    new RegExp(
      `w\\d+ \\(pid ${
        victim!.pid
      }\\) silent for [\\d.]+ s \\(limits\\.worker_timeout = 1\\): killing and replacing it`,
    ),
  );
  await eventually(() => !processAlive(victim!.pid), "the silent worker gone");
  await eventually(() => poolChildren(daemon).length === 2, "replaced");
  await serviceContinues(port);
});

Deno.test("processes: max_requests recycles a worker without failing a client", async () => {
  const { daemon, port } = await startPool(
    "[limits]\nmax_requests = 3",
    1,
  );
  await using _ = daemon;
  await serviceContinues(port, 8);
  await daemon.waitForLog(
    /w1 \(pid \d+\) reached max_requests after 3 connections: recycling/,
  );
  await daemon.waitForLog(/w1 \(pid \d+\) retiring \(recycled\)/);
  await daemon.waitForLog(/w1 \(pid \d+\) exited with code 0 after retiring/);
  await daemon.waitForLog(/w2 accepting on/);
});

Deno.test("processes: SIGTTIN adds a worker, SIGTTOU retires one", async () => {
  const { daemon, port } = await startPool();
  await using _ = daemon;
  daemon.kill("SIGTTIN");
  await eventually(() => poolChildren(daemon).length === 3, "three workers");
  await daemon.waitForLog(/listener\[0\] \(processes\): now 3 workers/);
  daemon.kill("SIGTTOU");
  await daemon.waitForLog(/retiring \(scaled down\)/);
  await eventually(() => poolChildren(daemon).length === 2, "two workers");
  await serviceContinues(port);
});

Deno.test("processes: SIGHUP reaches every worker", async () => {
  const table = await writeConfig('[aphorisms]\n"Why?" = "Because."\n');
  const port = freePort();
  const configPath = await writeConfig(
    config(port, `[zen]\naphorisms = "${table}"`),
  );
  await using daemon = await startDaemon(["--config", configPath], {
    ports: [port],
  });
  await eventually(() => poolChildren(daemon).length === 2, "two workers");
  assert.deepEqual(await ask(port, ["Why?"]), ["Because."]);
  await Deno.writeTextFile(table, '[aphorisms]\n"Why?" = "Why not."\n');
  daemon.kill("SIGHUP");
  await daemon.waitForLog(/reloaded/);
  // Fresh connections land on either worker: all must have the new table.
  await eventually(async () => {
    for (let i = 0; i < 10; i++) {
      const [answer] = await ask(port, ["Why?"]);
      if (answer !== "Why not.") return false;
    }
    return true;
  }, "every worker answering from the new table");
  await Deno.remove(table);
  await Deno.remove(configPath);
});

Deno.test("processes: a SIGKILLed master leaves no orphan worker", async () => {
  const { daemon } = await startPool();
  await using _ = daemon;
  const pids = poolChildren(daemon).map((child) => child.pid);
  daemon.kill("SIGKILL");
  await daemon.exited;
  await eventually(
    () => pids.every((pid) => !processAlive(pid)),
    `workers ${pids.join(", ")} exit once their master is gone`,
  );
});

/** Starts the fixture main module, whose workers fail while `marker` exists. */
function startFixture(port: number, docroot: string): TestDaemon {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      FIXTURE,
      "serve",
      "--zen",
      `127.0.0.1:${port}`,
      "--model",
      "processes",
      "--workers",
      "2",
      "--docroot",
      docroot,
    ],
    env: { KOAN_FIXTURE_FAIL_FILE: `${docroot}/fail` },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new TestDaemon(child);
}

Deno.test("processes: workers dying at boot make the daemon exit 3 with one clear line", async () => {
  const docroot = await Deno.makeTempDir({ prefix: "koan-fail-" });
  await Deno.writeTextFile(`${docroot}/fail`, "");
  await using daemon = startFixture(freePort(), docroot);
  const status = await daemon.exited;
  assert.equal(status.code, 3, daemon.log);
  assert.match(
    daemon.log,
    /cannot start: listener\[0\] \(processes\): workers keep dying at boot \(\d+ in a row, last: w\d+ exited with code 1\); giving up, exit code 3/,
  );
  assert.doesNotMatch(daemon.log, /listening on/);
  await Deno.remove(docroot, { recursive: true });
});

Deno.test("processes: a crash loop after start stops the daemon with exit 3", async () => {
  const docroot = await Deno.makeTempDir({ prefix: "koan-fail-" });
  const port = freePort();
  await using daemon = startFixture(port, docroot);
  await daemon.waitForLog(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
  await Deno.writeTextFile(`${docroot}/fail`, "");
  for (const child of poolChildren(daemon)) Deno.kill(child.pid, "SIGKILL");
  const status = await daemon.exited;
  assert.equal(status.code, 3, daemon.log);
  assert.match(
    daemon.log,
    /workers keep dying at boot .* giving up, exit code 3/,
  );
  await Deno.remove(docroot, { recursive: true });
});

Deno.test("processes: workers run with explicit permissions, never -A", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--allow-net=127.0.0.1:${port}`,
      "--allow-read",
      "--allow-env",
      `--allow-run=${Deno.execPath()}`,
      MAIN,
      "serve",
      "--zen",
      `127.0.0.1:${port}`,
      "--model",
      "processes",
      "--workers",
      "1",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await using daemon = new TestDaemon(child);
  await daemon.waitForLog(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
  const [worker] = poolChildren(daemon);
  assert.ok(worker, daemon.log);
  const args = worker.cmdline.split(" ");
  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  assert.ok(args.includes(`--allow-net=127.0.0.1:${port}`), worker.cmdline);
  assert.ok(!args.some((arg) => arg.startsWith("--allow-run")), "no run");
  assert.ok(!args.some((arg) => arg.startsWith("--allow-read")), "no read");
  assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
});

Deno.test("processes: a worker stopped with SIGTERM drains, exits 0, and is replaced", async () => {
  const { daemon, port } = await startPool();
  await using _ = daemon;
  const [victim] = poolChildren(daemon);
  Deno.kill(victim!.pid, "SIGTERM");
  await daemon.waitForLog(
    new RegExp(
      `w\\d+ \\(pid ${
        victim!.pid
      }\\) exited with code 0; restarting in \\d+ ms`,
    ),
  );
  await eventually(() => {
    const pids = poolChildren(daemon).map((child) => child.pid);
    return pids.length === 2 && !pids.includes(victim!.pid);
  }, "two workers again");
  await serviceContinues(port);
});
