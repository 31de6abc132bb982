import assert from "node:assert/strict";
import { renderChart } from "./svg.ts";

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
