/**
 * A self-contained SVG chart of a model comparison: QPS bars and p99
 * latency bars side by side, one row per model. No libraries, no fonts to
 * fetch; it opens in any browser.
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

/**
 * Renders the chart.
 *
 * @example Usage
 * ```ts
 * import { renderChart } from "./svg.ts";
 * const svg = renderChart("Zen", [{ label: "async", qps: 1000, p99: 2, errors: 0 }]);
 * if (!svg.startsWith("<svg")) throw new Error("not svg");
 * ```
 */
export function renderChart(title: string, rows: ChartRow[]): string {
  const rowHeight = 34;
  const top = 70;
  const labelWidth = 190;
  const barWidth = 300;
  const gap = 140;
  const width = labelWidth + 2 * barWidth + gap + 40;
  const height = top + rows.length * rowHeight + 30;
  const maxQps = Math.max(1, ...rows.map((r) => r.qps));
  const maxP99 = Math.max(0.001, ...rows.map((r) => r.p99));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">${
      escape(title)
    }</text>`,
    `<text x="${labelWidth}" y="54" font-weight="bold">requests per second (higher is better)</text>`,
    `<text x="${
      labelWidth + barWidth + gap
    }" y="54" font-weight="bold">p99 latency, ms (lower is better)</text>`,
  ];
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    const qpsWidth = (row.qps / maxQps) * barWidth;
    const p99Width = (row.p99 / maxP99) * barWidth;
    const x2 = labelWidth + barWidth + gap;
    parts.push(
      `<text x="16" y="${y + 17}">${escape(row.label)}${
        row.errors ? ` (${row.errors} errors)` : ""
      }</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${
        qpsWidth.toFixed(1)
      }" height="20" fill="#3b7dd8"/>`,
      `<text x="${labelWidth + qpsWidth + 6}" y="${y + 19}">${
        format(row.qps)
      }</text>`,
      `<rect x="${x2}" y="${y + 4}" width="${
        p99Width.toFixed(1)
      }" height="20" fill="#d8703b"/>`,
      `<text x="${x2 + p99Width + 6}" y="${y + 19}">${format(row.p99)}</text>`,
    );
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}
