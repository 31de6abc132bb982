/**
 * Observability end to end: /metrics parsed by a real Prometheus text
 * parser with counts equal to what the test client did (in-isolate, threads
 * and processes: the master sums every worker), /status.json, and the live
 * status page in headless Chromium.
 */
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { chromium } from "playwright-core";
import {
  ask,
  connect,
  freePort,
  readUntil,
  ROOT_DIR,
  send,
  startDaemon,
} from "./_helpers.ts";

interface Family {
  name: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
  }[];
}

async function scrape(port: number): Promise<Family[]> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(
    response.headers.get("content-type") ?? "",
    /^text\/plain; version=0\.0\.4/,
  );
  return parsePrometheus(await response.text()) as Family[];
}

function value(
  families: Family[],
  name: string,
  labels: Record<string, string>,
): number {
  const family = families.find((f) => f.name === name);
  let total = 0;
  for (const metric of family?.metrics ?? []) {
    if (Object.entries(labels).every(([k, v]) => metric.labels?.[k] === v)) {
      total += Number(metric.value ?? 0);
    }
  }
  return total;
}

async function eventually(
  check: () => Promise<void>,
  timeoutMs = 8000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

for (const model of ["async", "threads", "processes"] as const) {
  Deno.test(`/metrics counts exactly what clients did (${model}, summed over workers)`, async () => {
    const zen = freePort();
    const http = freePort();
    const echo = freePort();
    const pooled = model !== "async";
    await using _daemon = await startDaemon(
      [
        "--zen",
        `127.0.0.1:${zen}`,
        "--http",
        `127.0.0.1:${http}`,
        "--echo",
        `127.0.0.1:${echo}`,
        "--model",
        model,
        ...(pooled ? ["--workers", "2"] : []),
      ],
      { ports: [zen, http, echo], timeoutMs: 30_000 },
    );
    // 4 connections x 3 answers, 5 HTTP requests, 3 echo connections.
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(
        await ask(zen, ["Readability?", "Flat is better than?", "Nope?"]),
        [
          "counts.",
          "nested.",
          "Error: unknown aphorism.",
        ],
      );
    }
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`http://127.0.0.1:${http}/`);
      assert.equal(await response.text(), "Hello, world!");
    }
    for (let i = 0; i < 3; i++) {
      using conn = await connect(echo);
      await send(conn, "ping");
      await readUntil(conn, "ping");
    }
    await eventually(async () => {
      const families = await scrape(http);
      assert.equal(
        value(families, "koan_requests_total", {
          protocol: "zen",
          status: "answered",
        }),
        12,
      );
      assert.equal(
        value(families, "koan_requests_total", {
          protocol: "http",
          status: "200",
        }) >= 5,
        true,
      );
      assert.equal(
        value(families, "koan_connections_closed_total", { protocol: "echo" }),
        3,
      );
      assert.equal(
        value(families, "koan_connections_closed_total", { protocol: "zen" }),
        4,
      );
      assert.equal(
        value(families, "koan_received_bytes_total", { protocol: "echo" }),
        12,
      );
      const histogram = families.find((f) =>
        f.name === "koan_request_duration_seconds"
      );
      assert.equal(histogram?.type, "HISTOGRAM");
    });
  });
}

for (const model of ["async", "processes"] as const) {
  Deno.test(`/status.json reports listeners, models and workers (${model})`, async () => {
    const zen = freePort();
    const http = freePort();
    const pooled = model === "processes";
    await using _daemon = await startDaemon(
      [
        "--zen",
        `127.0.0.1:${zen}`,
        "--http",
        `127.0.0.1:${http}`,
        "--model",
        model,
        ...(pooled ? ["--workers", "2"] : []),
      ],
      { ports: [zen, http], timeoutMs: 30_000 },
    );
    await ask(zen, ["Readability?"]);
    // Under a pool the HTTP worker serves the report the master pushed (about once a second).
    await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${http}/status.json`);
      assert.equal(response.status, 200, await response.clone().text());
      const report = await response.json();
      assert.equal(report.draining, false);
      assert.deepEqual(
        report.listeners.map((l: { protocol: string; model: string }) =>
          `${l.protocol}/${l.model}`
        ),
        [`zen/${model}`, `http/${model}`],
      );
      assert.equal(report.listeners[0].workers.length, pooled ? 2 : 1);
      assert.equal(typeof report.qps, "number");
    });
  });
}

Deno.test("/metrics counts a Zen answer when it is answered, not when the connection closes, and once", async () => {
  const zen = freePort();
  const http = freePort();
  await using _daemon = await startDaemon(
    ["--zen", `127.0.0.1:${zen}`, "--http", `127.0.0.1:${http}`],
    { ports: [zen, http] },
  );
  const answered = async () =>
    value(await scrape(http), "koan_requests_total", {
      protocol: "zen",
      status: "answered",
    });
  {
    using conn = await connect(zen);
    for (let i = 0; i < 3; i++) {
      await send(conn, "Readability?");
      await readUntil(conn, ".");
    }
    assert.equal(await answered(), 3, "counted while the connection is open");
  }
  await eventually(async () => {
    const closed = value(await scrape(http), "koan_connections_closed_total", {
      protocol: "zen",
    });
    assert.equal(closed, 1);
  });
  assert.equal(await answered(), 3, "and not again at close");
});

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

const CHARTS = [
  "rps",
  "latency",
  "connections",
  "worker-accepted",
  "worker-connections",
  "restarts",
  "lost",
];

/** `count` Zen questions over one connection. */
async function zenLoad(port: number, count: number): Promise<void> {
  using conn = await connect(port);
  for (let i = 0; i < count; i++) {
    await send(conn, "Readability?");
    await readUntil(conn, ".");
  }
}

Deno.test("the status page: charts drawn on the server work without JavaScript", async () => {
  const zen = freePort();
  const http = freePort();
  await using _daemon = await startDaemon(
    ["--zen", `127.0.0.1:${zen}`, "--http", `127.0.0.1:${http}`],
    { ports: [zen, http] },
  );
  await zenLoad(zen, 20);
  // Two ticks of history at least: the charts have a line to draw.
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${http}/status`);
    for (const id of CHARTS) {
      assert.equal(await page.locator(`#chart-${id} svg`).count(), 1, id);
    }
    const d = await page.getAttribute(
      "#chart-rps path.line",
      "d",
    );
    assert.match(d ?? "", /^M[\d.]+ [\d.]+L/, "the rps line has points");
    assert.equal(await page.locator("#listeners tr").count(), 2);
    assert.equal(await page.textContent("#reloads"), "0");
    assert.ok(await page.locator("noscript").count() >= 1);
  } finally {
    await browser.close();
  }
});

Deno.test("the status page in Chromium: charts redraw each second under load and show what /status.json says", async () => {
  const zen = freePort();
  const http = freePort();
  await using daemon = await startDaemon(
    [
      "--zen",
      `127.0.0.1:${zen}`,
      "--http",
      `127.0.0.1:${http}`,
      "--model",
      "processes",
      "--workers",
      "2",
    ],
    { ports: [zen, http], timeoutMs: 30_000 },
  );
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`http://127.0.0.1:${http}/status`);
    // Page-side expressions as text: this file is type-checked without the DOM.
    const refreshed = () =>
      page.evaluate("Number(document.body.dataset.refreshed ?? 0)") as Promise<
        number
      >;
    await page.waitForFunction("document.body.dataset.refreshed >= 1");
    const lineBefore = await page.getAttribute("#chart-rps path.line", "d");
    await Promise.all(Array.from({ length: 4 }, () => zenLoad(zen, 150)));
    // The rps chart's last second shows the load, drawn by the script.
    await page.waitForFunction(
      `[...document.querySelectorAll("#chart-rps b.last")]
        .some((b) => Number(b.textContent.replace(/,/g, "")) > 0)`,
      undefined,
      { timeout: 10_000 },
    );
    assert.notEqual(
      await page.getAttribute("#chart-rps path.line", "d"),
      lineBefore,
      "the line was redrawn",
    );
    // A worker killed: a restart, and the chart and tiles say so.
    const workers = (await (await fetch(
      `http://127.0.0.1:${http}/status.json`,
    )).json()).listeners[0].workers as { pid: number }[];
    Deno.kill(workers[0]!.pid, "SIGKILL");
    await daemon.waitForLog(/restarting in/);
    await page.waitForFunction(
      'document.getElementById("restarts").textContent !== "0"',
      undefined,
      { timeout: 10_000 },
    );
    // Each redraw is one report: the page's figures are that report's.
    const count = await refreshed();
    await page.waitForFunction(
      `Number(document.body.dataset.refreshed) > ${count}`,
    );
    const shown = await page.evaluate(`(() => {
      const r = window.koanReport;
      const text = (id) => document.getElementById(id).textContent;
      const last = (id, name) => document.querySelector(
        "#chart-" + id + ' b.last[data-series="' + name + '"]').textContent;
      const points = (id, name) => (document.querySelector(
        "#chart-" + id + ' path.line[data-series="' + name + '"]')
        .getAttribute("d").match(/[ML]/g) ?? []).length;
      return {
        page: {
          qps: text("qps"),
          restarts: text("restarts"),
          reloads: text("reloads"),
          lost: text("lostConnections"),
          connections: text("connections"),
          rpsLast: last("rps", "all"),
          restartsLast: last("restarts", "restarts"),
          rpsPoints: points("rps", "all"),
          listeners: document.querySelectorAll("#listeners tr").length,
          workers: document.querySelectorAll("#workers tr").length,
        },
        report: {
          qps: r.qps.toFixed(1),
          restarts: String(r.restarts),
          reloads: String(r.reloads),
          lost: String(r.lostConnections),
          connections: String(r.connections),
          rpsLast: String(r.history.rps.at(-1)),
          restartsLast: String(r.history.restarts.at(-1)),
          rpsPoints: r.history.rps.length,
          listeners: r.listeners.length,
          workers: r.listeners.reduce((n, l) => n + l.workers.length, 0),
        },
      };
    })()`) as {
      page: Record<string, unknown>;
      report: Record<string, unknown>;
    };
    assert.deepEqual(shown.page, shown.report);
    assert.ok(Number(shown.report.restarts) >= 1);
    // The report the page read is the one /status.json serves.
    const direct = await (await fetch(`http://127.0.0.1:${http}/status.json`))
      .json();
    assert.equal(String(direct.restarts), shown.report.restarts);
    assert.equal(String(direct.reloads), shown.report.reloads);
    assert.ok(
      Math.abs(direct.history.rps.length - Number(shown.report.rpsPoints)) <= 2,
    );
    // The kill cut nothing in flight here, but the ledger lists the crash.
    assert.match(
      await page.textContent("#events") ?? "",
      /crash \d\d:\d\d:\d\d/,
    );
    await Deno.mkdir(`${ROOT_DIR}tests/artifacts`, { recursive: true });
    await page.screenshot({
      path: `${ROOT_DIR}tests/artifacts/status.png`,
      fullPage: true,
    });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
