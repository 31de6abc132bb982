/**
 * The `GET /status` page, drawn on the server from the live report so it
 * works without JavaScript: tiles, inline SVG charts of the last fifteen
 * minutes, and tables of listeners, workers, lost-connection events and
 * the charts' data per minute. A small inline script polls `/status.json`
 * every second and redraws the same HTML with the same functions: their
 * source is shipped in the page (`Function.prototype.toString`), so the
 * drawing is written once. No library, no CDN, no external file; without
 * JavaScript a `<noscript>` refresh reloads the page every five seconds.
 *
 * The functions between the markers below run in the browser too: each may
 * use only the others, its arguments and what JavaScript has built in.
 *
 * @module
 */
import type { HistoryColumns } from "./history.ts";
import type { LossEvent } from "./ledger.ts";
import type { StatusReport } from "./status.ts";

/** One line of a chart. */
interface Series {
  name: string;
  values: readonly (number | null)[];
  color: string;
}

/** One chart: a title, a unit for its figures, and its lines. */
interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  series: Series[];
  /** Entries a full history holds: the time axis spans this many steps. */
  size: number;
}

// --- shipped to the browser: start ---

/** Text made safe for HTML text and attribute values. */
function esc(value: unknown): string {
  return String(value).replace(
    /[&<>"']/g,
    (c) => "&#" + c.charCodeAt(0) + ";",
  );
}

/** A figure as the page shows it: 1,234 · 56.7 · 0.5 · – (none). */
function num(value: number | null | undefined): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return String(Math.round(value * 10) / 10);
}

/** Seconds as `2h 5m`, `3m 20s` or `42s`. */
function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
}

/** `12:03:11`, UTC, as the log and the ledger write times. */
function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** The SVG path of one line; a `null` breaks it. */
function linePath(
  values: readonly (number | null)[],
  x: (i: number) => number,
  y: (v: number) => number,
): string {
  let d = "";
  let pen = "M";
  values.forEach((v, i) => {
    if (typeof v !== "number") {
      pen = "M";
      return;
    }
    d += pen + x(i).toFixed(1) + " " + y(v).toFixed(1);
    pen = "L";
  });
  return d;
}

/**
 * One chart as `<figure>`: the SVG (a fixed fifteen-minute axis ending at
 * "now", y from 0 to a round maximum) and a caption with each line's last
 * value. Labels inside the SVG are short and placed from estimated widths
 * (7 px a character at 11 px), so none runs past the edge.
 */
function chart(spec: ChartSpec): string {
  const width = 460, height = 150, top = 8, bottom = height - 22;
  let highest = 0;
  for (const s of spec.series) {
    for (const v of s.values) {
      if (typeof v === "number" && v > highest) highest = v;
    }
  }
  const power = Math.pow(10, Math.floor(Math.log10(Math.max(1, highest))));
  const max = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= highest) ??
    1;
  const ticks = [max, max / 2, 0];
  const left = 8 + Math.max(...ticks.map((t) => num(t).length)) * 7;
  const right = width - 10;
  const slots = Math.max(2, spec.size);
  const n = Math.max(0, ...spec.series.map((s) => s.values.length));
  const x = (i: number) => right - (n - 1 - i) * (right - left) / (slots - 1);
  const y = (v: number) => bottom - (v / max) * (bottom - top);
  const parts = ticks.map((t) =>
    '<line x1="' + left + '" x2="' + right + '" y1="' + y(t).toFixed(1) +
    '" y2="' + y(t).toFixed(1) + '" stroke="#e4e4e4"/><text x="' +
    (left - 4) + '" y="' + (y(t) + 4).toFixed(1) +
    '" text-anchor="end">' + num(t) + "</text>"
  );
  const xs = [
    [left, "−15 min", "start"],
    [
      left + (right - left) / 3,
      "−10 min",
      "middle",
    ],
    [left + (right - left) * 2 / 3, "−5 min", "middle"],
    [
      right,
      "now",
      "end",
    ],
  ] as const;
  for (const [at, label, anchor] of xs) {
    parts.push(
      '<text x="' + at.toFixed(1) + '" y="' + (height - 6) +
        '" text-anchor="' + anchor + '">' + label + "</text>",
    );
  }
  for (const s of spec.series) {
    parts.push(
      '<path class="line" data-series="' + esc(s.name) + '" d="' +
        linePath(s.values, x, y) + '" fill="none" stroke="' + s.color +
        '" stroke-width="1.5"/>',
    );
  }
  const caption = spec.series.map((s) =>
    '<span class="key" style="color:' + s.color + '">■</span> ' +
    esc(s.name) + ' <b class="last" data-series="' + esc(s.name) + '">' +
    num(s.values[s.values.length - 1]) + "</b>"
  ).join(" · ");
  return '<figure class="chart" id="chart-' + spec.id +
    '"><figcaption><b>' + esc(spec.title) + "</b> " + caption + " " +
    esc(spec.unit) + '</figcaption><svg role="img" aria-label="' +
    esc(spec.title) + '" viewBox="0 0 ' + width + " " + height +
    '" width="' + width + '" height="' + height +
    '" font-size="11" font-family="sans-serif" fill="#555">' +
    parts.join("") + "</svg></figure>";
}

/** The charts of a history. */
function charts(h: HistoryColumns): string {
  const palette = [
    "#3b7dd8",
    "#d8703b",
    "#3b9d5d",
    "#9b59b6",
    "#c0392b",
    "#16a085",
    "#7f8c8d",
    "#d4a017",
  ];
  const workers = (pick: "connections" | "accepted") =>
    h.workers.map((w, i) => ({
      name: w.tag,
      values: w[pick],
      color: palette[i % palette.length]!,
    }));
  const specs: ChartSpec[] = [
    {
      id: "rps",
      title: "requests per second",
      unit: "/s",
      series: [{ name: "all", values: h.rps, color: palette[0]! }],
      size: h.size,
    },
    {
      id: "latency",
      title: "request duration",
      unit: "ms",
      series: [
        { name: "p50", values: h.p50, color: palette[0]! },
        { name: "p99", values: h.p99, color: palette[1]! },
      ],
      size: h.size,
    },
    {
      id: "connections",
      title: "open connections",
      unit: "",
      series: [{ name: "all", values: h.connections, color: palette[0]! }],
      size: h.size,
    },
    {
      id: "worker-accepted",
      title: "connections accepted per worker",
      unit: "/s",
      series: workers("accepted"),
      size: h.size,
    },
    {
      id: "worker-connections",
      title: "open connections per worker",
      unit: "",
      series: workers("connections"),
      size: h.size,
    },
    {
      id: "restarts",
      title: "worker restarts",
      unit: "in all",
      series: [{ name: "restarts", values: h.restarts, color: palette[4]! }],
      size: h.size,
    },
    {
      id: "lost",
      title: "lost connections",
      unit: "in all",
      series: [{ name: "lost", values: h.lost, color: palette[4]! }],
      size: h.size,
    },
  ];
  return '<div class="charts">' + specs.map(chart).join("") + "</div>";
}

/** A table row of escaped cells. */
function row(cells: readonly unknown[]): string {
  return "<tr>" + cells.map((c) => "<td>" + esc(c) + "</td>").join("") +
    "</tr>";
}

/** A table with a header row; `id` names its body. */
function table(id: string, head: readonly string[], rows: string[]): string {
  return "<table><thead><tr>" +
    head.map((h) => "<th>" + esc(h) + "</th>").join("") +
    '</tr></thead><tbody id="' + id + '">' + rows.join("") +
    "</tbody></table>";
}

/** One tile: a caption and a figure with an id the tests and scripts read. */
function tile(id: string, caption: string, value: string, title = ""): string {
  return '<div class="tile"' + (title ? ' title="' + esc(title) + '"' : "") +
    ">" + esc(caption) + '<b id="' + id + '">' + esc(value) + "</b></div>";
}

/** The figures at the top. */
function tiles(r: StatusReport): string {
  const accessLost = r.accessLogLostLines ?? 0;
  return '<div class="tiles">' + [
    tile("qps", "QPS (last minute)", r.qps.toFixed(1)),
    tile("p50", "p50 ms (last minute)", r.p50Ms ? num(r.p50Ms) : "–"),
    tile(
      "p99",
      "p99 ms (last minute)",
      r.p99Ms ? num(r.p99Ms) : "–",
      "HTTP requests; Zen and echo connections",
    ),
    tile("connections", "open connections", String(r.connections)),
    tile("restarts", "worker restarts", String(r.restarts)),
    tile("reloads", "reloads", String(r.reloads)),
    tile(
      "lostConnections",
      "lost connections",
      String(r.lostConnections ?? 0),
      "refused or cut by a stop, reload, recycle, crash or limit",
    ),
    tile(
      "lost",
      "access lines lost",
      String(accessLost),
      (r.accessLogWriteErrors ?? 0) + " failed writes",
    ),
    tile("uptime", "uptime", duration(r.uptimeSeconds)),
  ].join("") + "</div>";
}

/** Listeners, workers (with their load now), and the ledger's last events. */
function tables(r: StatusReport): string {
  const load = new Map(
    (r.history?.workers ?? []).map((w) => [w.tag, w] as const),
  );
  const now = (values: readonly (number | null)[] | undefined) =>
    num(values?.[values.length - 1]);
  const events = (r.events ?? []).slice(-10).reverse().map((e: LossEvent) => {
    // lost = refused + cut, as the ledger's lostOf() counts it.
    return row([
      e.kind + " " + clock(e.at) + " — " + (e.refused + e.cut) + " lost of " +
      e.total,
      e.listener,
      e.reason,
      e.refused,
      e.cut,
      e.undelivered,
      e.closed,
    ]);
  });
  return table(
    "listeners",
    ["protocol", "address", "model", "connections", "workers"],
    r.listeners.map((l) =>
      row([l.protocol, l.address, l.model, l.connections, l.workers.length])
    ),
  ) + table(
    "workers",
    [
      "listener",
      "worker",
      "pid",
      "uptime",
      "restarts",
      "open connections",
      "accepted/s",
    ],
    r.listeners.flatMap((l) =>
      l.workers.map((w) =>
        row([
          l.protocol + " " + l.address,
          w.id,
          w.pid,
          duration(w.uptimeSeconds),
          w.restarts,
          now(load.get(w.id)?.connections),
          now(load.get(w.id)?.accepted),
        ])
      )
    ),
  ) + "<h2>lost-connection events (UTC)</h2>" + table(
    "events",
    [
      "event",
      "listener",
      "reason",
      "refused",
      "cut",
      "not delivered",
      "closed normally",
    ],
    events.length ? events : ['<tr><td colspan="7">none yet</td></tr>'],
  );
}

/** The charts' data, one row a minute, newest first: the charts as a table. */
function minutes(h: HistoryColumns): string {
  const rows: string[] = [];
  for (let end = h.rps.length; end > 0; end -= 60) {
    const from = Math.max(0, end - 60);
    const part = (values: readonly (number | null)[]) =>
      values.slice(from, end).filter((v): v is number => typeof v === "number");
    const rps = part(h.rps);
    const p99 = part(h.p99);
    rows.push(row([
      clock(h.start + from * h.step) + "–" +
      clock(h.start + (end - 1) * h.step),
      num(rps.reduce((a, b) => a + b, 0) / Math.max(1, rps.length)),
      num(p99.length ? Math.max(...p99) : null),
      num(h.connections[end - 1]),
      num(h.restarts[end - 1]),
      num(h.lost[end - 1]),
    ]));
  }
  return '<details id="minutes"><summary>the charts as a table, per minute (UTC)</summary>' +
    table("minute-rows", [
      "minute",
      "requests/s (mean)",
      "p99 ms (worst second)",
      "open connections (end)",
      "worker restarts",
      "lost connections",
    ], rows) + "</details>";
}

/** Everything below the heading, from one report: what the script redraws each second. */
function renderLive(r: StatusReport): string {
  return '<h1>koan <span id="version">' + esc(r.version) +
    '</span> <span id="state" class="' + (r.draining ? "draining" : "") +
    '">' + (r.draining ? "draining" : "") + "</span></h1>" + tiles(r) +
    (r.history ? charts(r.history) : "") + tables(r) +
    (r.history ? minutes(r.history) : "");
}

// --- shipped to the browser: end ---

const SHIPPED = [
  esc,
  num,
  duration,
  clock,
  linePath,
  chart,
  charts,
  row,
  table,
  tile,
  tiles,
  tables,
  minutes,
  renderLive,
].map(String).join("\n")
  // Inside <script>, "</" could close it: "<\/" means the same in JavaScript.
  .replaceAll("</", "<\\/");

/** Polls, redraws in place, keeps an opened `<details>` open, says when the daemon is gone. */
const POLL = `
const live = document.getElementById("live");
const error = document.getElementById("error");
async function refresh() {
  try {
    const response = await fetch("/status.json", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const report = await response.json();
    const open = document.getElementById("minutes")?.open;
    live.innerHTML = renderLive(report);
    if (open) document.getElementById("minutes").open = true;
    window.koanReport = report;
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed ?? 0) + 1);
    error.textContent = "";
  } catch (e) {
    error.textContent = "cannot reach the daemon: " + e.message;
  }
}
setInterval(refresh, 1000);
`;

const STYLE = `
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  h2 { font-size: 1rem; margin: 1rem 0 .4rem; }
  .tiles { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: 1.5rem; }
  .tile { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; min-width: 8rem; }
  .tile b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(470px, 1fr)); gap: .5rem 1.5rem; margin-bottom: 1.5rem; }
  figure { margin: 0; }
  figcaption { font-variant-numeric: tabular-nums; }
  svg { display: block; max-width: 100%; height: auto; }
  table { border-collapse: collapse; margin-bottom: 1.5rem; }
  th, td { border-bottom: 1px solid #eee; padding: .3rem .8rem; text-align: left; font-variant-numeric: tabular-nums; }
  .draining { color: #b00; font-weight: bold; }
  #error { color: #b00; }
`;

/**
 * The status page for `report`: complete HTML that shows the report as
 * it is and, where JavaScript runs, redraws itself from `/status.json`
 * every second. Without a report yet (a pool worker's first second) it
 * says so and fills itself in.
 *
 * @example Usage
 * ```ts
 * import { renderStatusPage } from "./status_page.ts";
 * const html = renderStatusPage({
 *   version: "1.0.0", pid: 42, uptimeSeconds: 75, draining: false,
 *   listeners: [{ protocol: "http", address: "127.0.0.1:8080", model: "async",
 *     connections: 0, workers: [] }],
 *   connections: 0, qps: 0, p99Ms: 0, windowSeconds: 60, restarts: 0, reloads: 0,
 * });
 * if (!html.includes("127.0.0.1:8080")) throw new Error("no listener row");
 * ```
 */
export function renderStatusPage(report: StatusReport | undefined): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<title>koan status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<div id="live">${
    report
      ? renderLive(report)
      : "<h1>koan</h1><p>Waiting for the first report (a worker gets one from the master within a second).</p>"
  }</div>
<p id="error"></p>
<noscript><p>JavaScript is off: this page reloads every 5 seconds.</p></noscript>
<script>
"use strict";
${SHIPPED}
${POLL}
</script>
</body>
</html>
`;
}

/** The functions the page's script runs, as source: for tests that run them elsewhere. */
export const PAGE_SCRIPT_FUNCTIONS: string = SHIPPED;
