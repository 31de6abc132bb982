/**
 * Metrics aggregated across workers (issue 6): a daemon with Zen and echo
 * listeners under `threads` and `processes` (two workers each); a client
 * makes exactly N Zen answers and M echo connections per listener, and the
 * master's aggregate counts exactly that — read through the test hook
 * `KOAN_METRICS_DUMP` (the master writes `aggregate()` as JSON there).
 * A SIGKILLed worker is restarted and counted, and its counts stay.
 */
import assert from "node:assert/strict";
import type { MetricsSnapshot } from "../mod/metrics/registry.ts";
import {
  ask,
  childProcesses,
  connect,
  eventually,
  freePort,
  readUntil,
  send,
  startDaemon,
} from "./_helpers.ts";

const ZEN_ANSWERS = 7;
const ECHO_CONNECTIONS = 5;

function sum(
  series: Record<string, number>,
  name: string,
  ...parts: string[]
): number {
  let total = 0;
  for (const [key, value] of Object.entries(series)) {
    if (
      (key === name || key.startsWith(`${name}{`)) &&
      parts.every((part) => key.includes(part))
    ) {
      total += value;
    }
  }
  return total;
}

async function read(path: string): Promise<MetricsSnapshot | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as MetricsSnapshot;
  } catch {
    return undefined;
  }
}

Deno.test("metrics: the master's aggregate counts every worker's clients, across threads and processes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-metrics-" });
  const dump = `${dir}/metrics.json`;
  const ports = {
    zenThreads: freePort(),
    echoThreads: freePort(),
    zenProcesses: freePort(),
    echoProcesses: freePort(),
  };
  const listener = (protocol: string, port: number, model: string) => `
[[listener]]
protocol = "${protocol}"
address = "127.0.0.1:${port}"
model = "${model}"
workers = 2
`;
  await using daemon = await startDaemon([], {
    config: [
      listener("zen", ports.zenThreads, "threads"),
      listener("echo", ports.echoThreads, "threads"),
      listener("zen", ports.zenProcesses, "processes"),
      listener("echo", ports.echoProcesses, "processes"),
      "[limits]\nworker_timeout = 2",
    ].join("\n"),
    ports: Object.values(ports),
    env: { KOAN_METRICS_DUMP: dump },
    timeoutMs: 30_000,
  });

  // N Zen answers per Zen listener, over several connections.
  for (const port of [ports.zenThreads, ports.zenProcesses]) {
    const questions = Array(ZEN_ANSWERS).fill("Readability?");
    assert.equal((await ask(port, questions.slice(0, 3))).length, 3);
    assert.equal((await ask(port, questions.slice(3))).length, 4);
  }
  // M echo connections per echo listener.
  for (const port of [ports.echoThreads, ports.echoProcesses]) {
    for (let i = 0; i < ECHO_CONNECTIONS; i++) {
      using conn = await connect(port);
      await send(conn, `ping ${i}\n`);
      assert.equal((await readUntil(conn, "\n")).text, `ping ${i}\n`);
    }
  }

  const expected = (snapshot: MetricsSnapshot) =>
    sum(snapshot.counters, "koan_requests_total", 'protocol="zen"') ===
      2 * ZEN_ANSWERS &&
    sum(
        snapshot.counters,
        "koan_connections_closed_total",
        'protocol="echo"',
      ) ===
      2 * ECHO_CONNECTIONS &&
    sum(snapshot.gauges, "koan_connections_open") === 0;
  let snapshot: MetricsSnapshot | undefined;
  await eventually(async () => {
    snapshot = await read(dump);
    return snapshot !== undefined && expected(snapshot);
  }, "the aggregate to count every client");
  const s = snapshot!;
  for (const [name, port] of Object.entries(ports)) {
    const label = `listener="127.0.0.1:${port}"`;
    assert.equal(sum(s.gauges, "koan_workers", label), 2, name);
    const connections = name.startsWith("zen") ? 2 : ECHO_CONNECTIONS;
    assert.equal(
      sum(s.counters, "koan_connections_total", label),
      connections,
      name,
    );
  }
  assert.equal(
    s.histograms[`koan_request_duration_seconds{protocol="zen"}`]?.count,
    4,
    "one duration per Zen connection",
  );
  assert.equal(sum(s.counters, "koan_worker_restarts_total"), 0);

  // A worker dies: it is restarted and counted; what it counted stays.
  const victim = childProcesses(daemon.pid).find((child) =>
    child.cmdline.includes("_worker pool")
  );
  assert.ok(victim, daemon.log);
  Deno.kill(victim.pid, "SIGKILL");
  await daemon.waitForLog(/was killed by SIGKILL; restarting/);
  await eventually(async () => {
    const after = await read(dump);
    return after !== undefined &&
      sum(after.counters, "koan_worker_restarts_total") === 1 &&
      sum(after.gauges, "koan_workers") === 8;
  }, "the restart counted and the pool whole again");
  const after = (await read(dump))!;
  assert.ok(expected(after), JSON.stringify(after.counters));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("metrics: /metrics served by a worker shows the whole daemon (at most about two seconds stale)", async () => {
  const http = freePort();
  const zen = freePort();
  await using _daemon = await startDaemon([], {
    config: `
[[listener]]
protocol = "http"
address = "127.0.0.1:${http}"
model = "threads"
workers = 2

[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "processes"
workers = 2

[limits]
worker_timeout = 2
`,
    ports: [http, zen],
    timeoutMs: 30_000,
  });
  const questions = Array(ZEN_ANSWERS).fill("Readability?");
  assert.equal((await ask(zen, questions)).length, ZEN_ANSWERS);
  // Counted in a child process; served by a thread: only the master's
  // push can bring the one to the other.
  await eventually(async () => {
    const response = await fetch(`http://127.0.0.1:${http}/metrics`);
    const text = await response.text();
    return new RegExp(
      `koan_requests_total\\{protocol="zen",status="answered"\\} ${ZEN_ANSWERS}\\b`,
    ).test(text);
  }, "the worker's /metrics to show the other pool's answers");
});
