import assert from "node:assert/strict";
import {
  renderChart,
  renderLineChart,
  renderRatioChart,
  textWidth,
} from "./svg.ts";
import { MODEL_NAMES } from "../config/settings.ts";

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

/**
 * Every `<text>` of `svg` as the box it fills: horizontally from
 * {@linkcode textWidth} and `text-anchor`, vertically a full em above the
 * baseline and 0.3 em below it (descenders). Fails on anything the box
 * would not account for (a transform, a `<tspan>`, dx/dy), so a layout
 * that starts to rotate or wrap labels has to teach this helper first.
 */
function textBoxes(svg: string) {
  const root = /<svg ([^>]*)>/.exec(svg)![1]!;
  const rootSize = Number(/font-size="([\d.]+)"/.exec(root)![1]);
  assert.doesNotMatch(svg, /<tspan|transform=|\bd[xy]=/);
  const { width, height } = texts(svg);
  const boxes = [...svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].map(
    ([, attributes, body]) => {
      const attr = (name: string) =>
        new RegExp(`(?:^| )${name}="([^"]*)"`).exec(attributes!)?.[1];
      const text = body!.replace(/&(lt|gt|amp|quot);/g, "_");
      const size = Number(attr("font-size") ?? rootSize);
      const w = textWidth(text, size, attr("font-weight") === "bold");
      const x = Number(attr("x"));
      const y = Number(attr("y"));
      const anchor = attr("text-anchor") ?? "start";
      const left = anchor === "end"
        ? x - w
        : anchor === "middle"
        ? x - w / 2
        : x;
      return {
        text,
        left,
        right: left + w,
        top: y - size,
        bottom: y + 0.3 * size,
      };
    },
  );
  const bars = [...svg.matchAll(/<rect ([^>]*)\/>/g)]
    .map(([, attributes]) => {
      const attr = (name: string) =>
        new RegExp(`(?:^| )${name}="([^"]*)"`).exec(attributes!)?.[1];
      return {
        x: attr("x"),
        y: attr("y"),
        w: attr("width"),
        h: attr("height"),
      };
    })
    .filter((r) => r.x !== undefined) // not the 100% background
    .map((r) => ({
      left: Number(r.x),
      right: Number(r.x) + Number(r.w),
      top: Number(r.y),
      bottom: Number(r.y) + Number(r.h),
    }));
  return { width, height, boxes, bars };
}

interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function overlap(a: Box, b: Box): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom &&
    b.top < a.bottom;
}

/** Every text inside the viewBox, clear of every other text and every bar. */
function assertLegible(svg: string): void {
  const { width, height, boxes, bars } = textBoxes(svg);
  for (const [i, box] of boxes.entries()) {
    assert.ok(
      box.left >= 0 && box.right <= width && box.top >= 0 &&
        box.bottom <= height,
      `"${box.text}" fills x ${box.left}..${box.right}, y ${box.top}..${box.bottom}: outside the viewBox 0 0 ${width} ${height}`,
    );
    for (const other of boxes.slice(i + 1)) {
      assert.ok(
        !overlap(box, other),
        `"${box.text}" (x ${box.left}..${box.right}, y ${box.top}..${box.bottom}) overlaps "${other.text}" (x ${other.left}..${other.right}, y ${other.top}..${other.bottom})`,
      );
    }
    for (const bar of bars) {
      assert.ok(
        !overlap(box, bar),
        `"${box.text}" (x ${box.left}..${box.right}) runs into the bar at x ${bar.left}..${bar.right}, y ${bar.top}..${bar.bottom}`,
      );
    }
  }
}

const LONG_NAME =
  "process-per-connection with a deliberately long name, longer than any model koan has or is likely to have";

Deno.test("renderChart() of every model and a long name: each label inside the viewBox, none overlapping", () => {
  const names = [...MODEL_NAMES, "shared-queue", LONG_NAME];
  const rows = names.map((label, i) => ({
    label,
    qps: [98_765.4, 1, 0, 12_345.6, 5e9][i % 5]!,
    p99: [0.004, 1234.5, 0, 2.5, 9e6][i % 5]!,
    errors: i % 3 === 1 ? 1_234_567 : 0,
  }));
  for (const order of [rows, [...rows].reverse()]) {
    const svg = renderChart(
      "koan bench: zen, 256 connections, sleep 10 ms per answer",
      order,
    );
    for (const name of names) {
      assert.ok(svg.includes(`>${name}`), `the chart names ${name}`);
    }
    assertLegible(svg);
  }
});

Deno.test("renderChart() keeps labels apart and inside whatever the number and length of names", () => {
  for (const count of [1, 2, 7, 40]) {
    const rows = Array.from({ length: count }, (_, i) => ({
      label: `${MODEL_NAMES[i % MODEL_NAMES.length]}-${"x".repeat(i * 7)}`,
      qps: (i + 1) * 1000,
      p99: 100 / (i + 1),
      errors: i,
    }));
    assertLegible(renderChart(`${count} models`, rows));
  }
  assertLegible(renderChart("", []));
});
