/**
 * The ledger of lost connections against the real daemon: each event kind
 * is provoked — a worker killed with -9 while answers are in flight, a
 * TERM with connections held past `shutdown_timeout`, refusals at
 * `max_connections` — and the ledger (log line, `/metrics`,
 * `/status.json`) must count exactly what the test's clients saw.
 */
import assert from "node:assert/strict";
import {
  childProcesses,
  connect,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
} from "./_helpers.ts";
import { type LoggedEvent, parseLedgerLines } from "../mod/metrics/ledger.ts";

/** What one client saw after asking a question (or holding a connection). */
type Seen = "answered" | "cut" | "busy" | "closed";

async function askAndWatch(
  conn: Deno.TcpConn,
  question: string | undefined,
  timeoutMs = 15_000,
): Promise<Seen> {
  if (question !== undefined) await send(conn, question);
  const { text, closed } = await readUntil(conn, ".", timeoutMs);
  conn.close();
  if (text.startsWith("Error: server busy")) return "busy";
  if (text.endsWith(".")) return "answered";
  if (!closed) throw new Error(`no close and no answer: ${text}`);
  return question === undefined ? "closed" : "cut";
}

function count(seen: Seen[], kind: Seen): number {
  return seen.filter((s) => s === kind).length;
}

/** Sums `koan_lost_connections_total` series whose labels include `labels`. */
async function lost(http: number, labels: string[]): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("koan_lost_connections_total{")) continue;
    if (labels.every((label) => line.includes(label))) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

/** The ledger lines of one kind in the daemon's log. */
function ledgerLines(log: string, kind: string): LoggedEvent[] {
  return parseLedgerLines(log).filter((event) => event.kind === kind);
}

Deno.test("ledger: a TERM past shutdown_timeout counts the cut clients exactly", async () => {
  const zen = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "async"
[zen]
work = "sleep"
work_ms = 6000
[limits]
shutdown_timeout = 1
`,
    ports: [zen],
  });
  try {
    const busy = await Promise.all([1, 2, 3].map(() => connect(zen)));
    const idle = await Promise.all([1, 2].map(() => connect(zen)));
    const watching = [
      ...busy.map((c) => askAndWatch(c, "Beautiful is better than?")),
      ...idle.map((c) => askAndWatch(c, undefined)),
    ];
    await new Promise((r) => setTimeout(r, 300)); // the questions arrive
    daemon.kill("SIGTERM");
    const seen = await Promise.all(watching);
    assert.equal((await daemon.exited).code, 0);
    assert.deepEqual(
      [count(seen, "cut"), count(seen, "closed"), count(seen, "answered")],
      [3, 2, 0],
    );
    const [stop] = ledgerLines(daemon.log, "stop");
    assert.ok(stop, `a ledger line for the stop in:\n${daemon.log}`);
    assert.deepEqual(stop, {
      kind: "stop",
      listener: "all",
      lost: count(seen, "cut"),
      total: seen.length,
      refused: 0,
      cut: count(seen, "cut"),
      undelivered: count(seen, "cut"),
      closed: count(seen, "closed"),
      reason: "shutdown_timeout",
    });
  } finally {
    await daemon.stop();
  }
});

Deno.test("ledger: a worker killed with -9 counts its cut clients exactly", async () => {
  const zen = freePort();
  const http = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "processes"
workers = 1
[[listener]]
protocol = "http"
address = "127.0.0.1:${http}"
model = "async"
[zen]
work = "sleep"
work_ms = 8000
`,
    ports: [zen, http],
  });
  try {
    const conns = await Promise.all([1, 2, 3, 4].map(() => connect(zen)));
    const watching = conns.map((c) =>
      askAndWatch(c, "Beautiful is better than?")
    );
    // The worker's heartbeat has told the master about all four.
    let pid = 0;
    await eventually(async () => {
      const status = await (await fetch(`http://127.0.0.1:${http}/status.json`))
        .json();
      const listener = status.listeners.find((l: { protocol: string }) =>
        l.protocol === "zen"
      );
      pid = listener.workers[0].pid;
      return listener.connections === 4;
    }, "the master counts 4 connections in the worker");
    const before = await lost(http, ['event="crash"', 'protocol="zen"']);
    Deno.kill(pid, "SIGKILL");
    const seen = await Promise.all(watching);
    assert.equal(count(seen, "cut"), 4, `every client cut: ${seen}`);
    await eventually(
      async () =>
        (await lost(http, ['event="crash"', 'protocol="zen"'])) - before ===
          count(seen, "cut"),
      "the crash in /metrics",
    );
    await daemon.waitForLog(/ledger: crash /);
    const crash = ledgerLines(daemon.log, "crash").at(-1);
    assert.ok(crash, daemon.log);
    assert.equal(crash.cut, count(seen, "cut"));
    assert.equal(crash.undelivered, count(seen, "cut"));
    assert.equal(crash.reason, "SIGKILL");
    const status = await (await fetch(`http://127.0.0.1:${http}/status.json`))
      .json();
    if (status.events) {
      const event = status.events.findLast((e: { kind: string }) =>
        e.kind === "crash"
      );
      assert.equal(event.cut, count(seen, "cut"));
    }
  } finally {
    await daemon.stop();
  }
});

Deno.test("ledger: refusals at max_connections are counted exactly", async () => {
  const zen = freePort();
  const http = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "async"
[[listener]]
protocol = "http"
address = "127.0.0.1:${http}"
model = "async"
[limits]
max_connections = 2
`,
    ports: [zen, http],
  });
  try {
    const held = await Promise.all([1, 2].map(() => connect(zen)));
    await new Promise((r) => setTimeout(r, 200));
    const extra = await Promise.all([1, 2, 3].map(() => connect(zen)));
    const seen = await Promise.all(extra.map((c) => askAndWatch(c, "Hi?")));
    assert.equal(
      count(seen, "busy"),
      3,
      `refused with the busy reply: ${seen}`,
    );
    const labels = [
      'event="refusal"',
      'protocol="zen"',
      'reason="max_connections"',
    ];
    await eventually(
      async () => (await lost(http, labels)) === count(seen, "busy"),
      "the refusals in /metrics",
    );
    await daemon.waitForLog(/ledger: refusal /);
    const lines = ledgerLines(daemon.log, "refusal");
    assert.equal(
      lines.reduce((n, l) => n + l.refused, 0),
      count(seen, "busy"),
      daemon.log,
    );
    for (const conn of held) conn.close();
  } finally {
    await daemon.stop();
  }
});

Deno.test("ledger: a reload that moves a listener loses nothing and says so", async () => {
  const zen = freePort();
  const config = (model: string) => `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "${model}"
[zen]
work = "sleep"
work_ms = 1500
`;
  const daemon = await startDaemon([], {
    config: config("async"),
    ports: [zen],
  });
  try {
    const conns = await Promise.all([1, 2, 3].map(() => connect(zen)));
    const watching = conns.map((c) =>
      askAndWatch(c, "Beautiful is better than?")
    );
    await new Promise((r) => setTimeout(r, 300));
    await Deno.writeTextFile(daemon.configPath!, config("threads"));
    daemon.kill("SIGHUP");
    const seen = await Promise.all(watching);
    assert.equal(count(seen, "answered"), 3, `${seen}`);
    await daemon.waitForLog(/ledger: reload /);
    const [reload] = ledgerLines(daemon.log, "reload");
    assert.deepEqual(
      [reload!.lost, reload!.total, reload!.cut, reload!.closed],
      [0, 3, 0, 3],
    );
  } finally {
    await daemon.stop();
  }
});

Deno.test("ledger: a worker recycled at max_requests is one event", async () => {
  const zen = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "processes"
workers = 1
[limits]
max_requests = 2
`,
    ports: [zen],
  });
  try {
    for (let i = 0; i < 3; i++) {
      const seen = await askAndWatch(await connect(zen), "Hi?");
      assert.equal(seen, "answered");
    }
    await daemon.waitForLog(/ledger: recycle /);
    const [recycle] = ledgerLines(daemon.log, "recycle");
    assert.equal(recycle!.lost, 0);
    assert.equal(recycle!.reason, "recycled");
  } finally {
    await daemon.stop();
  }
});

Deno.test("ledger: a connection process killed with -9 is one crash, one cut", async () => {
  const zen = freePort();
  const daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "process-per-connection"
[zen]
work = "sleep"
work_ms = 8000
`,
    ports: [zen],
  });
  try {
    const watching = askAndWatch(
      await connect(zen),
      "Beautiful is better than?",
    );
    let child: number | undefined;
    await eventually(() => {
      child = childProcesses(daemon.pid).find((p) =>
        p.cmdline.includes(" conn")
      )?.pid;
      return child !== undefined;
    }, "the connection's process");
    await new Promise((r) => setTimeout(r, 300)); // it has the question
    Deno.kill(child!, "SIGKILL");
    assert.equal(await watching, "cut");
    await daemon.waitForLog(/ledger: crash /);
    const [crash] = ledgerLines(daemon.log, "crash");
    assert.deepEqual([crash!.cut, crash!.undelivered, crash!.reason], [
      1,
      1,
      "SIGKILL",
    ]);
  } finally {
    await daemon.stop();
  }
});
