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

Deno.test("the status page loads in Chromium and its numbers move under load", async () => {
  const zen = freePort();
  const http = freePort();
  await using _daemon = await startDaemon(
    ["--zen", `127.0.0.1:${zen}`, "--http", `127.0.0.1:${http}`],
    { ports: [zen, http] },
  );
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--headless",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
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
    await page.waitForFunction(
      'document.getElementById("connections").textContent !== "–"',
    );
    const before = Number(await page.textContent("#qps"));
    // Load: a few hundred answers over a second or two.
    const loaders = Array.from({ length: 4 }, async () => {
      using conn = await connect(zen);
      for (let i = 0; i < 150; i++) {
        await send(conn, "Readability?");
        await readUntil(conn, ".");
      }
    });
    await Promise.all(loaders);
    await page.waitForFunction(
      `Number(document.getElementById("qps").textContent) > ${before}`,
      undefined,
      { timeout: 10_000 },
    );
    const rows = await page.locator("#listeners tr").count();
    assert.equal(rows, 2);
    await Deno.mkdir(`${ROOT_DIR}tests/artifacts`, { recursive: true });
    await page.screenshot({ path: `${ROOT_DIR}tests/artifacts/status.png` });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
