import assert from "node:assert/strict";
import {
  renderChart,
  renderLineChart,
  renderRatioChart,
  textWidth,
} from "./svg.ts";

Deno.test("renderChart() scales bars to the largest value and escapes labels", () => {
  const svg = renderChart("A <test>", [
    { label: "fast", qps: 1000, p99: 1, errors: 0 },
    { label: "slow & steady", qps: 250, p99: 4, errors: 2 },
  ]);
  assert.match(svg, /A &lt;test&gt;/);
  assert.match(svg, /slow &amp; steady \(2 errors\)/);
  const widths = [
    ...svg.matchAll(
      /<rect x="\d+" y="\d+" width="([\d.]+)" height="20" fill="#3b7dd8"/g,
    ),
  ]
    .map((m) => Number(m[1]));
  assert.deepEqual(widths, [300, 75]);
});

/** Every `<text>` of `svg`, with where it starts and ends horizontally. */
function texts(svg: string) {
  const [, width, height] = /viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(svg)!;
  const found = [...svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].map(
    ([, attributes, body]) => {
      const attr = (name: string) =>
        new RegExp(`${name}="([^"]*)"`).exec(attributes!)?.[1];
      const text = body!.replace(/&(lt|gt|amp|quot);/g, "_");
      const size = Number(attr("font-size") ?? 13);
      const w = textWidth(text, size, attr("font-weight") === "bold");
      const x = Number(attr("x"));
      const anchor = attr("text-anchor") ?? "start";
      const start = anchor === "end"
        ? x - w
        : anchor === "middle"
        ? x - w / 2
        : x;
      return { text, start, end: start + w, y: Number(attr("y")), size };
    },
  );
  return { width: Number(width), height: Number(height), found };
}

function assertNoClipping(svg: string): void {
  const { width, height, found } = texts(svg);
  assert.ok(found.length > 0, "the chart has text");
  for (const t of found) {
    assert.ok(
      t.start >= 0 && t.end <= width,
      `"${t.text}" spans x ${t.start}..${t.end}, outside 0..${width}`,
    );
    assert.ok(
      t.y - t.size >= 0 && t.y <= height,
      `"${t.text}" at y ${t.y} is outside 0..${height}`,
    );
  }
}

Deno.test("renderLineChart() keeps every label inside the viewBox, whatever the figures", () => {
  const cases = [
    [{ x: 1000, y: 31.5 }, { x: 5000, y: 52 }, { x: 10000, y: 88.2 }, {
      x: 19800,
      y: 160.4,
    }],
    [{ x: 0, y: 0 }],
    [{ x: 1, y: 123_456_789 }, { x: 987_654_321, y: 0.001 }],
    [],
  ];
  for (const points of cases) {
    const svg = renderLineChart({
      title: "koan async: idle Zen connections and the daemon's RSS",
      xLabel: "open connections (capped at 19,800 by the open-file limit)",
      yLabel: "resident memory of the daemon, MiB",
      yUnit: "MiB",
      points,
      limit: { y: 150, label: "target: at most 150 MiB at 10,000 connections" },
    });
    assertNoClipping(svg);
  }
});

Deno.test("renderLineChart() plots points left to right and labels each", () => {
  const svg = renderLineChart({
    title: "RSS",
    xLabel: "connections",
    yLabel: "MiB",
    yUnit: "MiB",
    points: [{ x: 10000, y: 90 }, { x: 1000, y: 40 }],
  });
  const [, list] = /<polyline [^>]*points="([^"]+)"/.exec(svg)!;
  const xs = list!.split(" ").map((pair) => Number(pair.split(",")[0]));
  assert.equal(xs.length, 2);
  assert.ok(xs[0]! < xs[1]!, `x ascends: ${xs}`);
  assert.match(svg, />40 MiB</);
  assert.match(svg, />10,000</);
});

Deno.test("renderRatioChart() and renderChart() keep long labels and figures inside", () => {
  assertNoClipping(renderRatioChart("every ratio of deno task bench", [
    {
      label:
        "HTTP keep-alive: koan, default config (access log to a file) / nginx",
      min: 0.71,
      median: 0.93,
      target: 0.9,
      op: ">=",
      pass: true,
    },
    {
      label: "inetd connect to first byte",
      min: 3.5,
      median: 4.2,
      target: 2,
      op: "<=",
      pass: false,
    },
  ]));
  assertNoClipping(renderChart("HTTP GET / with wrk", [
    {
      label: "koan async, default config, access log on",
      qps: 123_456_789,
      p99: 987_654,
      errors: 12,
    },
    { label: "nginx", qps: 1, p99: 0.001, errors: 0 },
  ]));
});
