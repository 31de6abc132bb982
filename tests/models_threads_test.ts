/**
 * The `threads` model's supervision against the real daemon: worker
 * counts, SIGTTIN/SIGTTOU, a hung thread replaced, reloads reaching every
 * thread, and `concurrency = 1` serving one connection per thread — from
 * one listening socket that every thread accepts from.
 */
import assert from "node:assert/strict";
import {
  ask,
  connect,
  eventually,
  freePort,
  listeningSockets,
  readAll,
  readUntil,
  send,
  startDaemon,
  type TestDaemon,
  writeConfig,
} from "./_helpers.ts";

function config(port: number, extra = "", workers = 2, concurrency = 0) {
  return `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${port}"
model = "threads"
workers = ${workers}
concurrency = ${concurrency}

${extra}
`;
}

/** Socket descriptors `pid` holds (listening and connected). */
function socketCount(pid: number): number {
  let count = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (
        Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`).startsWith("socket:")
      ) {
        count++;
      }
    } catch {
      // Closed while we looked.
    }
  }
  return count;
}

/** Tags of the threads that logged "accepting", in order. */
function acceptingTags(daemon: TestDaemon): string[] {
  return [
    ...daemon.log.matchAll(/\[(w\d+) \d+\] koan\.worker: w\d+ accepting on/g),
  ]
    .map((match) => match[1]!);
}

Deno.test("threads: SIGTTIN adds a thread, SIGTTOU retires one", async () => {
  const port = freePort();
  await using daemon = await startDaemon([], {
    config: config(port),
    ports: [port],
  });
  // The port listens once the first thread accepts; the second says so
  // a moment later.
  await daemon.waitForLog(/w2 accepting on/);
  assert.deepEqual(acceptingTags(daemon).sort(), ["w1", "w2"]);
  assert.equal(listeningSockets(port), 1, "one socket for every thread");
  const sockets = socketCount(daemon.pid);
  daemon.kill("SIGTTIN");
  await daemon.waitForLog(/w3 accepting on/);
  await daemon.waitForLog(/listener\[0\] \(threads\): now 3 workers/);
  assert.equal(listeningSockets(port), 1);
  daemon.kill("SIGTTOU");
  await daemon.waitForLog(/w3 \(pid \d+\) retiring \(scaled down\)/);
  await daemon.waitForLog(/w3 \(pid \d+\) exited with code 0 after retiring/);
  // The retired thread closed its own descriptor of the socket.
  await eventually(
    () => socketCount(daemon.pid) <= sockets,
    "no socket descriptor left",
  );
  assert.equal(listeningSockets(port), 1);
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
  }
});

Deno.test("threads: a hung thread is replaced while the others serve", async () => {
  const port = freePort();
  await using daemon = await startDaemon([], {
    config: config(
      port,
      '[zen]\nwork = "cpu"\nwork_ms = 3000\n\n[limits]\nworker_timeout = 1',
    ),
    ports: [port],
  });
  using conn = await connect(port);
  await send(conn, "Readability?");
  let finished = false;
  const outcome = readAll(conn).then((text) => {
    finished = true;
    return text;
  });
  // The busy thread cannot heartbeat: the master gives up on it and
  // starts a replacement while the thread is still spinning.
  await daemon.waitForLog(
    /w[12] \(pid \d+\) silent for [\d.]+ s \(limits\.worker_timeout = 1\): killing and replacing it/,
  );
  await daemon.waitForLog(/w[12] \(pid \d+\) was terminated; restarting/);
  await daemon.waitForLog(/w3 accepting on/);
  assert.equal(finished, false, "replaced while the thread was still hung");
  // The shared socket is served by the others meanwhile.
  assert.deepEqual(await ask(port, ["Readability?"]), ["counts."]);
  // Deno stops a terminated worker when its current task returns; the
  // task may still get its answer out, or the connection just closes.
  assert.match(await outcome, /^(counts\.)?$/);
  assert.equal(listeningSockets(port), 1);
});

Deno.test("threads: SIGHUP reaches every thread", async () => {
  const table = await writeConfig('[aphorisms]\n"Why?" = "Because."\n');
  const port = freePort();
  await using daemon = await startDaemon([], {
    config: config(port, `[zen]\naphorisms = "${table}"`),
    ports: [port],
  });
  assert.deepEqual(await ask(port, ["Why?"]), ["Because."]);
  await Deno.writeTextFile(table, '[aphorisms]\n"Why?" = "Why not."\n');
  daemon.kill("SIGHUP");
  await daemon.waitForLog(/reloaded/);
  await eventually(async () => {
    for (let i = 0; i < 10; i++) {
      const [answer] = await ask(port, ["Why?"]);
      if (answer !== "Why not.") return false;
    }
    return true;
  }, "every thread answering from the new table");
  await Deno.remove(table);
});

Deno.test("threads: concurrency = 1 serves one connection per thread at a time", async () => {
  const port = freePort();
  await using daemon = await startDaemon([], {
    config: config(port, "", 1, 1),
    ports: [port],
  });
  using first = await connect(port);
  assert.equal(await askOn(first), "counts.");
  using second = await connect(port);
  await send(second, "Readability?");
  let answered = false;
  const answer = readUntil(second, ".").then((result) => {
    answered = true;
    return result.text;
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(answered, false, "the one thread is busy with the first client");
  first.close();
  assert.equal(await answer, "counts.");
  assert.ok(
    daemon.log.includes("(thread, concurrency 1, shared socket)"),
    daemon.log,
  );
});

async function askOn(conn: Deno.Conn): Promise<string> {
  await send(conn, "Readability?");
  return (await readUntil(conn, ".")).text;
}
