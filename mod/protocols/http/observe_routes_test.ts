import assert from "node:assert/strict";
import {
  accessStats,
  closeAccess,
  configureAccess,
  flushAccess,
  writeAccess,
} from "../../log/access_log.ts";
import { setStatusSource, type StatusReport } from "../../metrics/status.ts";
import {
  metricsRoute,
  statusJsonRoute,
  statusPageRoute,
} from "./observe_routes.ts";
import type { Reply } from "./reply.ts";
import { HttpRequest } from "./request.ts";
import { HttpError } from "./status.ts";
import type { RouteContext } from "./route.ts";

const decoder = new TextDecoder();
// Neither route reads the request or the context.
const context = {} as RouteContext;

async function body(reply: Reply | Promise<Reply>): Promise<string> {
  return decoder.decode((await reply).body);
}

function lostOnMetrics(text: string, name: string): number {
  const match = text.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(match, `no ${name} in\n${text}`);
  return Number(match[1]);
}

const REPORT: StatusReport = {
  version: "0",
  pid: 1,
  uptimeSeconds: 1,
  draining: false,
  listeners: [],
  connections: 0,
  qps: 0,
  p99Ms: 0,
  windowSeconds: 1,
  restarts: 0,
  reloads: 0,
};

Deno.test("GET /metrics and /status.json count access lines lost to a full disk", async () => {
  const text = await body(metricsRoute.handle(new HttpRequest(), context));
  // Exported from the first scrape on, so that rate() and alerts work.
  const lost = lostOnMetrics(text, "koan_access_log_lost_lines_total");
  const errors = lostOnMetrics(text, "koan_access_log_write_errors_total");
  assert.equal(lost, accessStats().lost);
  assert.match(text, /# TYPE koan_access_log_lost_lines_total counter\n/);

  configureAccess({
    access: true,
    access_format: "$status",
    access_file: "/dev/full", // every write fails with ENOSPC
    file: "",
    format: "text",
  }, { tag: "master" });
  setStatusSource(() => REPORT);
  try {
    for (let i = 0; i < 4; i++) {
      writeAccess({
        protocol: "http",
        peer: "10.0.0.1:1",
        bytesIn: 1,
        bytesOut: 1,
        durationMs: 1,
        outcome: "keep-alive",
        status: 200,
      });
    }
    flushAccess();
    const after = await body(metricsRoute.handle(new HttpRequest(), context));
    assert.equal(
      lostOnMetrics(after, "koan_access_log_lost_lines_total") - lost,
      4,
    );
    assert.equal(
      lostOnMetrics(after, "koan_access_log_write_errors_total") - errors,
      1,
    );
    const report = JSON.parse(
      await body(statusJsonRoute.handle(new HttpRequest(), context)),
    );
    assert.equal(report.accessLogLostLines - lost, 4);
    assert.equal(report.accessLogWriteErrors - errors, 1);
    assert.equal(report.reloads, 0, "the rest of the report as it was");
  } finally {
    setStatusSource(undefined);
    closeAccess();
  }
});

Deno.test("GET /status draws the page from the live report; before there is one, a page that waits", async () => {
  const waiting = await statusPageRoute.handle(new HttpRequest(), context);
  assert.equal(waiting.status, 200);
  assert.match(decoder.decode(waiting.body), /Waiting for the first report/);
  assert.throws(
    () => statusJsonRoute.handle(new HttpRequest(), context),
    (error) => error instanceof HttpError && error.status === 503,
  );
  setStatusSource(() => ({ ...REPORT, reloads: 31337 }));
  try {
    const reply = await statusPageRoute.handle(new HttpRequest(), context);
    assert.equal(reply.status, 200);
    const html = decoder.decode(reply.body);
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<b id="reloads">31337<\/b>/);
  } finally {
    setStatusSource(undefined);
  }
});
