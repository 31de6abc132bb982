import assert from "node:assert/strict";
import {
  aside,
  check,
  formatSummary,
  formatTarget,
  meets,
  stats,
} from "./summary.ts";

Deno.test("stats() gives min, median and max, averaging the middle pair", () => {
  assert.deepEqual(stats([3, 1, 2]), { min: 1, median: 2, max: 3 });
  assert.deepEqual(stats([4, 1, 3, 2]), { min: 1, median: 2.5, max: 4 });
  assert.deepEqual(stats([7]), { min: 7, median: 7, max: 7 });
});

Deno.test("stats() rejects an empty series and NaN", () => {
  assert.throws(() => stats([]), RangeError);
  assert.throws(() => stats([1, NaN]), RangeError);
});

Deno.test("check() judges the median, not the min or the max", () => {
  const higher = { op: ">=", value: 0.9 } as const;
  // One bad round out of three does not fail the comparison...
  assert.equal(check("a", [0.5, 0.95, 0.97], higher).verdict, "PASS");
  // ...and one good round does not pass it.
  assert.equal(check("a", [0.5, 0.85, 1.2], higher).verdict, "MISS");
  const lower = { op: "<=", value: 2 } as const;
  assert.equal(check("b", [1.5, 2, 9], lower).verdict, "PASS");
  assert.equal(check("b", [1, 2.1, 2.2], lower).verdict, "MISS");
  const row = check("c", [150.5, 149], { op: "<=", value: 150 }, "MiB");
  assert.deepEqual(
    { min: row.min, median: row.median, rounds: row.rounds, unit: row.unit },
    { min: 149, median: 149.75, rounds: 2, unit: "MiB" },
  );
  assert.equal(row.verdict, "PASS");
});

Deno.test("check() judges the worst round when every round must keep the limit", () => {
  const all = { op: ">=", value: 10_000 } as const;
  assert.equal(check("a", [10_000, 9_999, 10_000], all).verdict, "PASS");
  const row = check("a", [10_000, 9_999, 10_000], all, "answered", "worst");
  assert.equal(row.verdict, "MISS");
  assert.equal(row.decidedBy, "worst");
  const ms = { op: "<=", value: 1000 } as const;
  assert.equal(check("b", [900, 1200, 800], ms, "ms", "worst").verdict, "MISS");
  assert.equal(check("b", [900, 1000, 800], ms, "ms", "worst").verdict, "PASS");
  assert.match(
    formatSummary([check("c", [1], { op: ">=", value: 1 }, "x", "worst")]),
    /\| c \(every round\) \|/,
  );
});

Deno.test("meets() includes the target itself", () => {
  assert.ok(meets(0.9, { op: ">=", value: 0.9 }));
  assert.ok(meets(1000, { op: "<=", value: 1000 }));
  assert.ok(!meets(1000.1, { op: "<=", value: 1000 }));
});

Deno.test("formatSummary() prints one Markdown row per check with units", () => {
  const table = formatSummary([
    check("HTTP koan / nginx", [0.88, 0.93, 0.95], { op: ">=", value: 0.9 }),
    check("RSS at 10k", [123.45], { op: "<=", value: 150 }, "MiB"),
  ]);
  assert.equal(
    table,
    [
      "| comparison | target | min | median | max | rounds | verdict |",
      "|---|---|---:|---:|---:|---:|---|",
      "| HTTP koan / nginx | >= 0.90x | 0.88x | 0.93x | 0.95x | 3 | PASS |",
      "| RSS at 10k | <= 150 MiB | 123.5 MiB | 123.5 MiB | 123.5 MiB | 1 | PASS |",
    ].join("\n"),
  );
  assert.equal(formatTarget({ op: "<=", value: 1000 }, "ms"), "<= 1000 ms");
});

Deno.test("aside() gives min, median, max and rounds with no verdict", () => {
  assert.deepEqual(aside("raw / peer", [0.9, 0.8, 0.95], "ceiling"), {
    name: "raw / peer",
    kind: "ceiling",
    unit: "x",
    min: 0.8,
    median: 0.9,
    max: 0.95,
    rounds: 3,
  });
  assert.equal(aside("a", [1]).kind, "info");
  assert.throws(() => aside("a", []), RangeError);
});

Deno.test("formatSummary() prints a check's asides under it and says where its target lies against the ceiling", () => {
  const target = { op: ">=", value: 1 } as const;
  const table = formatSummary([
    {
      ...check("koan / peer", [0.8, 0.84, 0.9], target),
      asides: [
        aside("raw loop / peer", [0.88, 0.91, 0.95], "ceiling"),
        aside("koan / raw loop", [0.9, 0.93, 0.95]),
      ],
    },
    {
      ...check("zen", [0.97], { op: ">=", value: 0.95 }),
      asides: [aside("raw / peer", [1.2], "ceiling")],
    },
  ]);
  assert.equal(
    table.split("\n").slice(2).join("\n"),
    [
      "| koan / peer | >= 1.00x | 0.80x | 0.84x | 0.90x | 3 | MISS |",
      "| ↳ raw loop / peer | the limit | 0.88x | 0.91x | 0.95x | 3 | target above it |",
      "| ↳ koan / raw loop | no target | 0.90x | 0.93x | 0.95x | 3 | info |",
      "| zen | >= 0.95x | 0.97x | 0.97x | 0.97x | 1 | PASS |",
      "| ↳ raw / peer | the limit | 1.20x | 1.20x | 1.20x | 1 | target within it |",
    ].join("\n"),
  );
});
