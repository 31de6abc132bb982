/**
 * Self-contained SVG charts for the benchmarks: no libraries, no fonts to
 * fetch; they open in any browser. {@linkcode renderChart} draws a model
 * comparison (QPS and p99 bars, one row per model; `koan bench --model`),
 * {@linkcode renderRatioChart} the verdicts of `deno task bench` and
 * {@linkcode renderLineChart} a curve such as connections → RSS.
 *
 * Every layout is sized from its text: widths come from
 * {@linkcode textWidth}, a deliberately generous estimate, so no label runs
 * past the edge or into a bar whatever the numbers are.
 *
 * @module
 */

/** One bar group. */
export interface ChartRow {
  label: string;
  qps: number;
  p99: number;
  errors: number;
}

const FONT_SIZE = 13;
const TITLE_SIZE = 17;

/**
 * A safe upper estimate of how wide `text` renders in a sans-serif font at
 * `fontSize` px: 0.62 em a character (0.68 when bold), above the average
 * advance of Helvetica, Arial and DejaVu Sans for digits and lower case.
 *
 * @example Usage
 * ```ts
 * import { textWidth } from "./svg.ts";
 * if (textWidth("1,000", 10) !== 31) throw new Error("5 characters at 6.2 px");
 * ```
 */
export function textWidth(
  text: string,
  fontSize = FONT_SIZE,
  bold = false,
): number {
  return Math.ceil(text.length * fontSize * (bold ? 0.68 : 0.62));
}

function escape(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!,
  );
}

function format(value: number): string {
  return value >= 100
    ? Math.round(value).toLocaleString("en-US")
    : value.toFixed(2);
}

/** Three significant digits, thousands separated: 8.25, 86.3, 1,234. */
function figure(value: number): string {
  if (value >= 100 || value === 0) {
    return Math.round(value).toLocaleString("en-US");
  }
  return value.toPrecision(3).replace(/\.?0+$/, "");
}

/** A round step (1, 2, 2.5 or 5 times a power of ten) of at least `raw`. */
function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
}

function open(width: number, height: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="${FONT_SIZE}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
  ];
}

function title(text: string): string {
  return `<text x="16" y="26" font-size="${TITLE_SIZE}" font-weight="bold">${
    escape(text)
  }</text>`;
}

/**
 * Renders the model comparison: QPS bars and p99 bars side by side.
 *
 * @example Usage
 * ```ts
 * import { renderChart } from "./svg.ts";
 * const svg = renderChart("Zen", [{ label: "async", qps: 1000, p99: 2, errors: 0 }]);
 * if (!svg.startsWith("<svg")) throw new Error("not svg");
 * ```
 */
export function renderChart(heading: string, rows: ChartRow[]): string {
  const rowHeight = 34;
  const top = 70;
  const barWidth = 300;
  const labels = rows.map((row) =>
    `${row.label}${row.errors ? ` (${row.errors} errors)` : ""}`
  );
  const labelWidth = Math.max(
    190,
    16 + Math.max(0, ...labels.map((l) => textWidth(l))) + 16,
  );
  const widest = (values: number[]) =>
    Math.max(0, ...values.map((v) => textWidth(format(v))));
  const qpsHeader = "requests per second (higher is better)";
  const p99Header = "p99 latency, ms (lower is better)";
  const gap = Math.max(
    140,
    6 + widest(rows.map((r) => r.qps)) + 24,
    textWidth(qpsHeader, FONT_SIZE, true) - barWidth + 24,
  );
  const x2 = labelWidth + barWidth + gap;
  const width = Math.max(
    x2 + Math.max(barWidth + 6 + widest(rows.map((r) => r.p99)) + 16, 0) + 16,
    x2 + textWidth(p99Header, FONT_SIZE, true) + 16,
    16 + textWidth(heading, TITLE_SIZE, true) + 16,
  );
  const height = top + rows.length * rowHeight + 30;
  const maxQps = Math.max(1, ...rows.map((r) => r.qps));
  const maxP99 = Math.max(0.001, ...rows.map((r) => r.p99));
  const parts = [
    ...open(width, height),
    title(heading),
    `<text x="${labelWidth}" y="54" font-weight="bold">${qpsHeader}</text>`,
    `<text x="${x2}" y="54" font-weight="bold">${p99Header}</text>`,
  ];
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    const qpsWidth = (row.qps / maxQps) * barWidth;
    const p99Width = (row.p99 / maxP99) * barWidth;
    parts.push(
      `<text x="16" y="${y + 17}">${escape(labels[index]!)}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${
        qpsWidth.toFixed(1)
      }" height="20" fill="#3b7dd8"/>`,
      `<text x="${(labelWidth + qpsWidth + 6).toFixed(1)}" y="${y + 19}">${
        format(row.qps)
      }</text>`,
      `<rect x="${x2}" y="${y + 4}" width="${
        p99Width.toFixed(1)
      }" height="20" fill="#d8703b"/>`,
      `<text x="${(x2 + p99Width + 6).toFixed(1)}" y="${y + 19}">${
        format(row.p99)
      }</text>`,
    );
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}

/** One comparison for {@linkcode renderRatioChart}. */
export interface RatioChartRow {
  label: string;
  /** The smallest round: a tick. */
  min: number;
  /** The median round: the bar. */
  median: number;
  /** The goal, drawn as a dashed mark across the row. */
  target: number;
  /** `">="` when higher is better. */
  op: ">=" | "<=";
  /** Whether the median meets the target (green) or not (red). */
  pass: boolean;
}

/**
 * Renders ratios as bars (the median), a black tick at the min round and a
 * dashed mark at the target, with the figures and the verdict after them.
 *
 * @example Usage
 * ```ts
 * import { renderRatioChart } from "./svg.ts";
 * const svg = renderRatioChart("koan / peers", [
 *   { label: "HTTP koan / nginx", min: 0.88, median: 0.93, target: 0.9, op: ">=", pass: true },
 * ]);
 * if (!svg.includes("0.93x")) throw new Error("no figure");
 * ```
 */
export function renderRatioChart(
  heading: string,
  rows: RatioChartRow[],
): string {
  const rowHeight = 34;
  const top = 70;
  const barWidth = 360;
  const labelWidth = 16 +
    Math.max(0, ...rows.map((r) => textWidth(r.label))) + 16;
  // Up to twice the largest target: a ratio far past it (pipelining at 8x)
  // would squash every other bar; it runs to the edge, marked as cut.
  const largestTarget = Math.max(1, ...rows.map((r) => r.target));
  const scale = Math.min(
    Math.max(largestTarget, ...rows.flatMap((r) => [r.min, r.median])),
    2 * largestTarget,
  ) * 1.05;
  const x = (value: number) =>
    labelWidth + (Math.min(value, scale) / scale) * barWidth;
  const notes = rows.map((r) =>
    `${r.median.toFixed(2)}x (min ${r.min.toFixed(2)}x, target ${r.op} ${
      r.target.toFixed(2)
    }x) ${r.pass ? "PASS" : "MISS"}`
  );
  const header = "median round (bar), smallest round (tick), target (dash)";
  const width = Math.max(
    labelWidth + barWidth + 8 +
      Math.max(0, ...notes.map((n) => textWidth(n))) + 16,
    labelWidth + textWidth(header, FONT_SIZE, true) + 16,
    16 + textWidth(heading, TITLE_SIZE, true) + 16,
  );
  const height = top + rows.length * rowHeight + 30;
  const parts = [
    ...open(width, height),
    title(heading),
    `<text x="${labelWidth}" y="54" font-weight="bold">${header}</text>`,
  ];
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    parts.push(
      `<text x="16" y="${y + 17}">${escape(row.label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${
        (x(row.median) - labelWidth).toFixed(1)
      }" height="20" fill="${row.pass ? "#3b9d5d" : "#d8463b"}"/>`,
      ...(row.median > scale
        ? [
          `<path d="M${x(scale) - 10} ${
            y + 4
          }l6 10l-6 10" fill="none" stroke="#fff" stroke-width="3"/>`,
        ]
        : []),
      `<line x1="${x(row.min).toFixed(1)}" y1="${y + 1}" x2="${
        x(row.min).toFixed(1)
      }" y2="${y + 27}" stroke="#000" stroke-width="2"/>`,
      `<line x1="${x(row.target).toFixed(1)}" y1="${y}" x2="${
        x(row.target).toFixed(1)
      }" y2="${y + 28}" stroke="#000" stroke-dasharray="3,2"/>`,
      `<text x="${labelWidth + barWidth + 8}" y="${y + 19}">${
        escape(notes[index]!)
      }</text>`,
    );
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}

/** One point of a {@linkcode renderLineChart} curve. */
export interface LinePoint {
  x: number;
  y: number;
}

/** What {@linkcode renderLineChart} draws. */
export interface LineChartOptions {
  title: string;
  /** Says what x is, under the axis. */
  xLabel: string;
  /** Says what y is, above the axis. */
  yLabel: string;
  /** Unit after each point's value, e.g. `"MiB"`. @default {""} */
  yUnit?: string;
  points: LinePoint[];
  /** A horizontal goal line, e.g. `{ y: 150, label: "target 150 MiB" }`. */
  limit?: { y: number; label: string };
}

/**
 * Renders a curve on linear axes from 0, each point labelled with its
 * value and its x below the axis; labels near an edge are pulled inside.
 *
 * @example Usage
 * ```ts
 * import { renderLineChart } from "./svg.ts";
 * const svg = renderLineChart({
 *   title: "RSS",
 *   xLabel: "connections",
 *   yLabel: "MiB",
 *   points: [{ x: 1000, y: 40 }, { x: 10000, y: 90 }],
 * });
 * if (!svg.includes("10,000")) throw new Error("no tick label");
 * ```
 */
export function renderLineChart(options: LineChartOptions): string {
  const unit = options.yUnit ? ` ${options.yUnit}` : "";
  const plotWidth = 520;
  const plotHeight = 260;
  const points = [...options.points].sort((a, b) => a.x - b.x);
  const maxX = Math.max(1, ...points.map((p) => p.x)) * 1.05;
  const top = 60;
  const highest = Math.max(options.limit?.y ?? 0, ...points.map((p) => p.y));
  const step = niceStep(highest * 1.15 / 4);
  const yTicks = Array.from(
    { length: Math.floor(highest * 1.15 / step) + 2 },
    (_, i) => i * step,
  );
  const maxY = yTicks.at(-1)!;
  const yTickText = yTicks.map((v) => figure(v));
  const left = 16 + Math.max(...yTickText.map((t) => textWidth(t))) + 10;
  const width = Math.max(
    left + plotWidth + 24,
    16 + textWidth(options.title, TITLE_SIZE, true) + 16,
    16 + textWidth(options.yLabel) + 16,
    16 + textWidth(options.xLabel) + 16,
    16 + textWidth(options.limit?.label ?? "") + 24,
  );
  const height = top + plotHeight + 60;
  const px = (x: number) => left + (x / maxX) * plotWidth;
  const py = (y: number) => top + plotHeight - (y / maxY) * plotHeight;
  // Centered text moved inside [4, width - 4].
  const centered = (x: number, text: string) => {
    const half = textWidth(text) / 2;
    return Math.min(Math.max(x, 4 + half), width - 4 - half).toFixed(1);
  };
  const parts = [
    ...open(width, height),
    title(options.title),
    `<text x="16" y="${top - 12}">${escape(options.yLabel)}</text>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${
      top + plotHeight
    }" stroke="#000"/>`,
    `<line x1="${left}" y1="${top + plotHeight}" x2="${left + plotWidth}" y2="${
      top + plotHeight
    }" stroke="#000"/>`,
  ];
  yTicks.forEach((value, i) => {
    const y = py(value).toFixed(1);
    parts.push(
      `<line x1="${left}" y1="${y}" x2="${
        left + plotWidth
      }" y2="${y}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${
        (py(value) + 4).toFixed(1)
      }" text-anchor="end">${yTickText[i]}</text>`,
    );
  });
  if (options.limit) {
    const y = py(options.limit.y);
    const label = options.limit.label;
    // Right-aligned on the plot's edge, unless that pushes it off the left.
    const end = Math.max(left + plotWidth, 4 + textWidth(label));
    parts.push(
      `<line x1="${left}" y1="${y.toFixed(1)}" x2="${left + plotWidth}" y2="${
        y.toFixed(1)
      }" stroke="#d8463b" stroke-dasharray="6,4"/>`,
      `<text x="${end.toFixed(1)}" y="${
        (y - 5).toFixed(1)
      }" text-anchor="end" fill="#d8463b">${escape(label)}</text>`,
    );
  }
  if (points.length > 0) {
    parts.push(
      `<polyline fill="none" stroke="#3b7dd8" stroke-width="2" points="${
        points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(
          " ",
        )
      }"/>`,
    );
  }
  for (const point of points) {
    const x = px(point.x);
    const y = py(point.y);
    const value = `${figure(point.y)}${unit}`;
    const tick = format(point.x);
    parts.push(
      `<circle cx="${x.toFixed(1)}" cy="${
        y.toFixed(1)
      }" r="4" fill="#3b7dd8"/>`,
      `<text x="${centered(x, value)}" y="${
        (y - 9).toFixed(1)
      }" text-anchor="middle">${escape(value)}</text>`,
      `<line x1="${x.toFixed(1)}" y1="${top + plotHeight}" x2="${
        x.toFixed(1)
      }" y2="${top + plotHeight + 5}" stroke="#000"/>`,
      `<text x="${centered(x, tick)}" y="${
        top + plotHeight + 20
      }" text-anchor="middle">${escape(tick)}</text>`,
    );
  }
  parts.push(
    `<text x="${centered(left + plotWidth / 2, options.xLabel)}" y="${
      top + plotHeight + 44
    }" text-anchor="middle">${escape(options.xLabel)}</text>`,
    "</svg>\n",
  );
  return parts.join("\n");
}
