import assert from "node:assert/strict";
import { History } from "./history.ts";
import type { LossEvent } from "./ledger.ts";
import { Metrics } from "./registry.ts";
import type { StatusReport } from "./status.ts";
import { PAGE_SCRIPT_FUNCTIONS, renderStatusPage } from "./status_page.ts";

function report(extra: Partial<StatusReport> = {}): StatusReport {
  return {
    version: "9.9.9",
    pid: 42,
    uptimeSeconds: 3725,
    draining: false,
    listeners: [{
      protocol: "http",
      address: "127.0.0.1:8080",
      model: "processes",
      connections: 3,
      workers: [{ id: "w1", pid: 100, uptimeSeconds: 60, restarts: 1 }],
    }],
    connections: 3,
    qps: 12.34,
    p50Ms: 0.5,
    p99Ms: 25,
    windowSeconds: 60,
    restarts: 1,
    reloads: 2,
    lostConnections: 7,
    ...extra,
  };
}

/** A history of `seconds` ticks at 10 requests a second, w1 busy. */
function history(seconds: number) {
  const m = new Metrics();
  const h = new History();
  for (let s = 0; s < seconds; s++) {
    m.inc('koan_requests_total{protocol="http",status="200"}', 10);
    for (let i = 0; i < 10; i++) {
      m.observe('koan_request_duration_seconds{protocol="http"}', 0.002);
    }
    h.push({
      at: 1_700_000_000_000 + s * 1000,
      snapshot: m.snapshot(),
      connections: s % 5,
      workers: { w1: { connections: s % 5, accepted: s * 2 } },
    });
  }
  return h.columns();
}

const EVENT: LossEvent = {
  kind: "stop",
  at: 1_700_000_000_000,
  reason: "shutdown_timeout",
  protocol: "zen",
  listener: "127.0.0.1:1060",
  refused: 1,
  cut: 2,
  undelivered: 2,
  closed: 5,
  total: 8,
};

Deno.test("renderStatusPage() draws tiles, tables and events without JavaScript", () => {
  const html = renderStatusPage(report({ events: [EVENT] }));
  assert.match(html, /<b id="qps">12\.3<\/b>/);
  assert.match(html, /<b id="p50">0\.5<\/b>/);
  assert.match(html, /<b id="p99">25<\/b>/);
  assert.match(html, /<b id="lostConnections">7<\/b>/);
  assert.match(html, /<b id="uptime">1h 2m<\/b>/);
  assert.match(html, /<td>127\.0\.0\.1:8080<\/td><td>processes<\/td>/);
  assert.match(html, /<td>stop 22:13:20 — 3 lost of 8<\/td>/);
  assert.match(html, /<td>shutdown_timeout<\/td>/);
  assert.match(html, /<noscript><meta http-equiv="refresh" content="5">/);
  // No history yet: no charts, and nothing fetched from elsewhere.
  assert.doesNotMatch(html.slice(0, html.indexOf("<script>")), /<svg/);
  assert.doesNotMatch(html, /https?:\/\//);
});

Deno.test("renderStatusPage() draws one SVG chart per figure from the history", () => {
  const html = renderStatusPage(report({ history: history(120) }));
  for (
    const id of [
      "rps",
      "latency",
      "connections",
      "worker-accepted",
      "worker-connections",
      "restarts",
      "lost",
    ]
  ) {
    assert.match(html, new RegExp(`<figure class="chart" id="chart-${id}">`));
  }
  // 10 requests a second: the last value in the caption, a line drawn.
  assert.match(html, /data-series="all">10<\/b>/);
  const line = /<path class="line" data-series="all" d="([^"]+)"/.exec(html);
  assert.ok(line);
  assert.equal(line[1]!.match(/[ML]/g)!.length, 120);
  // Per minute table: two minutes.
  assert.equal(
    html.split('<tbody id="minute-rows">')[1]!.split("</tbody>")[0]!
      .match(/<tr>/g)!.length,
    2,
  );
});

Deno.test("renderStatusPage() escapes what a report carries", () => {
  const html = renderStatusPage(report({
    listeners: [{
      protocol: "http",
      address: "<script>alert(1)</script>",
      model: "async",
      connections: 0,
      workers: [],
    }],
  }));
  assert.doesNotMatch(html, /<script>alert/);
  assert.match(html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
});

Deno.test("the page's script redraws with the very functions the server used", () => {
  const r = report({ history: history(30), events: [EVENT] });
  // What the browser runs: the shipped source, alone, in a fresh scope.
  const renderLive = new Function(
    `${PAGE_SCRIPT_FUNCTIONS}\nreturn renderLive;`,
  )() as (report: StatusReport) => string;
  const html = renderStatusPage(r);
  const live = html.slice(
    html.indexOf('<div id="live">') + '<div id="live">'.length,
    html.indexOf('</div>\n<p id="error">'),
  );
  assert.equal(renderLive(JSON.parse(JSON.stringify(r))), live);
});

Deno.test("chart labels stay inside the SVG, whatever the figures", () => {
  const h = history(900);
  h.rps = h.rps.map((_, i) => i * 1234.5);
  const html = renderStatusPage(report({ history: h }));
  let labels = 0;
  for (const svg of html.match(/<svg[^>]*>.*?<\/svg>/gs)!) {
    const width = Number(/viewBox="0 0 (\d+) /.exec(svg)![1]);
    for (
      const text of svg.matchAll(
        /<text x="([\d.]+)"[^>]*text-anchor="(\w+)">([^<]*)</g,
      )
    ) {
      const x = Number(text[1]);
      const chars = text[3]!.length * 7;
      const [from, to] = text[2] === "end"
        ? [x - chars, x]
        : text[2] === "middle"
        ? [x - chars / 2, x + chars / 2]
        : [x, x + chars];
      assert.ok(
        from >= 0 && to <= width,
        `"${text[3]}" at ${from}..${to} of ${width}`,
      );
      labels++;
    }
  }
  // Seven charts, each with three y labels and four x labels.
  assert.equal(labels, 7 * 7);
});
