/**
 * Zero-downtime restart (docs/deploy.md §4): with a parent that holds the
 * listening socket, as systemd does for a .socket unit, stopping koan
 * (SIGTERM) and starting it again refuses no one. The real
 * `systemd-socket-activate` binds the socket and starts a small holder
 * script on it that plays systemd's part: it keeps the socket open and
 * starts koan again (with `LISTEN_FDS`, `LISTEN_PID` and the socket's name)
 * each time koan exits. Clients connect continuously through the restart;
 * the ones that arrive while no koan runs wait in the socket's queue and
 * are answered by the next one. Every model, every exchange counted.
 */
import assert from "node:assert/strict";
import type { ModelName } from "../../mod/config/settings.ts";
import {
  freePort,
  listeningSockets,
  MAIN,
  processAlive,
  readUntil,
  ROOT_DIR,
  send,
} from "../_helpers.ts";
import { delay, spawnService, tempDir, tool } from "./_service.ts";

const MODELS: readonly ModelName[] = [
  "iterative",
  "async",
  "threads",
  "processes",
  "thread-per-connection",
  "process-per-connection",
];

/** How long a client waits for its answer: a restart of a pool included. */
const ANSWER_TIMEOUT_MS = 30_000;

/** What happened to the clients. */
interface Tally {
  answered: number;
  refused: number;
  reset: number;
  unanswered: number;
  errors: string[];
}

/**
 * Clients that connect, ask, check the answer and close, one after the
 * other, until stopped: every exchange ends in exactly one count.
 */
class Clients {
  readonly tally: Tally = {
    answered: 0,
    refused: 0,
    reset: 0,
    unanswered: 0,
    errors: [],
  };
  #stopped = false;
  #running: Promise<void>[];

  constructor(port: number, count: number) {
    this.#running = Array.from({ length: count }, () => this.#client(port));
  }

  #note(kind: "refused" | "reset" | "unanswered", why: string): void {
    this.tally[kind]++;
    if (this.tally.errors.length < 5) {
      this.tally.errors.push(`${new Date().toISOString()} ${kind}: ${why}`);
    }
  }

  async #client(port: number): Promise<void> {
    // Bounded by stop() and by a cap on iterations.
    for (let i = 0; i < 100_000 && !this.#stopped; i++) {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch (error) {
        this.#note("refused", (error as Error).message);
        await delay(20);
        continue;
      }
      try {
        await send(conn, "Beautiful is better than?");
        const reply = await readUntil(conn, ".", ANSWER_TIMEOUT_MS);
        if (reply.text === "ugly.") this.tally.answered++;
        else {
          this.#note(
            "unanswered",
            `${JSON.stringify(reply.text)}${
              reply.timedOut ? " (timed out)" : reply.closed ? " (closed)" : ""
            }`,
          );
        }
      } catch (error) {
        // ECONNRESET, EPIPE: the connection was accepted, then dropped.
        this.#note("reset", (error as Error).message);
      } finally {
        try {
          conn.close();
        } catch {
          // Closed by readUntil's timeout already.
        }
      }
      await delay(5);
    }
  }

  /** Waits until `n` exchanges were answered in all. */
  async reach(n: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.tally.answered < n) {
      if (Date.now() > deadline) {
        throw new Error(
          `only ${this.tally.answered} of ${n} answers: ${
            JSON.stringify(this.tally)
          }`,
        );
      }
      await delay(20);
    }
  }

  async stop(): Promise<Tally> {
    this.#stopped = true;
    await Promise.all(this.#running);
    return this.tally;
  }
}

/** The pid in koan's pid file, once a koan other than `not` has written it. */
async function nextPid(
  pidFile: string,
  not: number | undefined,
  timeoutMs = 60_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const pid = Number((await Deno.readTextFile(pidFile)).trim());
      if (pid > 0 && pid !== not && processAlive(pid)) return pid;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (Date.now() > deadline) {
      throw new Error(`no koan wrote ${pidFile} within ${timeoutMs} ms`);
    }
    await delay(25);
  }
}

/** SIGTERM to `pid`, if it still runs. */
function terminate(pid: number): void {
  try {
    Deno.kill(pid, "SIGTERM");
  } catch (error) {
    // Gone already (ESRCH), which is all a clean-up asks.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Waits until `pid` has exited. */
async function gone(pid: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} did not exit`);
    await delay(25);
  }
}

/**
 * The holder: `systemd-socket-activate` binds the socket and execs this
 * script on it, which keeps fd 3 and plays systemd's part in a restart:
 * it starts koan the n-th time once the file `start.n` exists in `dir`
 * (the test creates `start.1` at once, `start.2` after stopping the first
 * koan), until `dir/stop` exists. Each koan is started through a shell
 * that sets `LISTEN_PID` to its own pid and then execs koan, as systemd
 * sets it for the service's main process.
 */
function holderScript(options: {
  dir: string;
  config: string;
  pidFile: string;
}): string {
  const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  const koan = [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    MAIN,
    "serve",
    "--config",
    options.config,
    "--pid-file",
    options.pidFile,
  ].map(quote).join(" ");
  const dir = quote(options.dir);
  return [
    "#!/bin/sh",
    "n=0",
    `while [ ! -e ${dir}/stop ]; do`,
    "  n=$((n + 1))",
    `  while [ ! -e ${dir}/start.$n ] && [ ! -e ${dir}/stop ]; do sleep 0.02; done`,
    `  [ -e ${dir}/stop ] && break`,
    `  sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"' ${koan}`,
    "done",
    "",
  ].join("\n");
}

for (const model of MODELS) {
  const pooled = model === "threads" || model === "processes";
  // A child or a thread per connection is slow to start: fewer rounds.
  const EXCHANGES = model.endsWith("-per-connection") ? 6 : 20;
  Deno.test(`restart (${model}): with the socket held by a parent, TERM and a new start refuse, reset and drop no client`, async () => {
    await using dir = await tempDir();
    const port = freePort();
    const config = `${dir.path}/koan.toml`;
    const pidFile = `${dir.path}/koan.pid`;
    const holder = `${dir.path}/holder.sh`;
    const start = (n: number) =>
      Deno.writeTextFile(`${dir.path}/start.${n}`, "");
    await Deno.writeTextFile(
      config,
      [
        "[[listener]]",
        `protocol = "zen"`,
        `address = "127.0.0.1:${port}"`,
        `model = "${model}"`,
        ...(pooled ? ["workers = 2"] : []),
        "[log]",
        "access = false",
        "",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      holder,
      holderScript({ dir: dir.path, config, pidFile }),
    );
    await using parent = spawnService(tool("systemd-socket-activate"), [
      "-l",
      `127.0.0.1:${port}`,
      "--fdname=zen",
      "sh",
      holder,
    ]);
    await parent.waitForLog(
      new RegExp(`Listening on 127\\.0\\.0\\.1:${port} as`),
    );
    let pid: number | undefined;
    await start(1);
    const clients = new Clients(port, 3);
    try {
      // The first client starts the holder, hence the first koan.
      pid = await nextPid(pidFile, undefined);
      await clients.reach(EXCHANGES);
      // systemctl restart: stop (SIGTERM, wait for the exit), then start.
      const stopped = pid;
      Deno.kill(stopped, "SIGTERM");
      await gone(stopped);
      // No koan runs now: the socket listens still (the parent's copy),
      // and clients connecting now wait in its queue.
      assert.equal(listeningSockets(port), 1, "the parent holds the socket");
      const waiting = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await send(conn, "Flat is better than?");
          return conn;
        }),
      );
      const answeredWhileDown = clients.tally.answered;
      await delay(300);
      assert.equal(
        clients.tally.answered,
        answeredWhileDown,
        "no koan answers while none runs",
      );
      await start(2);
      pid = await nextPid(pidFile, stopped);
      // The new koan answers the clients that waited, then new ones.
      const late = await Promise.all(
        waiting.map((conn) =>
          readUntil(conn, ".", ANSWER_TIMEOUT_MS).finally(() => conn.close())
        ),
      );
      assert.deepEqual(
        late.map((reply) => reply.text),
        waiting.map(() => "nested."),
        "clients that connected while no koan ran are answered",
      );
      await clients.reach(answeredWhileDown + EXCHANGES);
      assert.match(
        parent.log,
        new RegExp(
          `listening on 127\\.0\\.0\\.1:${port} \\(zen, ${model}, socket-activated fd 3\\)[^]*listening on 127\\.0\\.0\\.1:${port} \\(zen, ${model}, socket-activated fd 3\\)`,
        ),
        "two koans, one after the other, served the held socket",
      );
    } finally {
      const tally = await clients.stop();
      await Deno.writeTextFile(`${dir.path}/stop`, "");
      if (pid !== undefined) terminate(pid);
      // The holder exits once koan has: systemd-socket-activate with it.
      const timer = setTimeout(() => parent.kill("SIGKILL"), 30_000);
      await parent.exited;
      clearTimeout(timer);
      console.log(`${model}: ${JSON.stringify(tally)}`);
    }
    const tally = clients.tally;
    assert.deepEqual(
      {
        refused: tally.refused,
        reset: tally.reset,
        unanswered: tally.unanswered,
      },
      { refused: 0, reset: 0, unanswered: 0 },
      `${tally.errors.join("\n")}\n${parent.log}`,
    );
    assert.ok(tally.answered >= 2 * EXCHANGES);
  });
}

Deno.test("restart: the shipped koan.socket is not restarted with koan.service, so its queue outlives a restart", async () => {
  const unit = await Deno.readTextFile(`${ROOT_DIR}systemd/koan.socket`);
  const keys = (key: string) =>
    [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) =>
      m[1]!.trim()
    );
  // PartOf=koan.service would propagate `systemctl restart koan` to the
  // socket: closed and bound again, its queue reset and clients refused.
  assert.deepEqual(keys("PartOf"), []);
  assert.deepEqual(keys("BindsTo"), []);
  assert.deepEqual(keys("Service"), ["koan.service"]);
  assert.deepEqual(keys("FileDescriptorName"), ["zen"]);
  assert.deepEqual(keys("Accept"), [], "one koan for every connection");
});
