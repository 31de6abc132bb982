/**
 * The verdict table of `deno task bench`: every comparison as one row with
 * its target, the min and median over the rounds, and PASS or MISS. The
 * median decides (one slow round on a noisy machine is not a regression);
 * the min shows how far the worst round fell. A check may carry asides,
 * figures with no target printed under it: above all the measured limit
 * of what it compares, where the target may lie past what can be reached.
 * Pure, so it is unit-tested.
 *
 * @module
 */

/** A goal for a figure: at least or at most `value`. */
export interface Target {
  /** `">="` when higher is better, `"<="` when lower is better. */
  op: ">=" | "<=";
  value: number;
}

/** Min, median and max of a series. */
export interface Stats {
  min: number;
  median: number;
  max: number;
}

/** One line of the summary. */
export interface Check {
  /** What was compared, e.g. `"HTTP koan default / nginx"`. */
  name: string;
  /** Unit of the figures: `"x"` for a ratio, else `"MiB"`, `"ms"`... */
  unit: string;
  target: Target;
  /** Smallest value over the rounds. */
  min: number;
  /** Median over the rounds: what {@linkcode Check.verdict} judges. */
  median: number;
  /** Largest value over the rounds. */
  max: number;
  /** How many rounds the figures come from. */
  rounds: number;
  /** Which round is judged: the median, or the worst for a hard limit. */
  decidedBy: "median" | "worst";
  verdict: "PASS" | "MISS";
  /** Figures printed under this check, with no verdict of their own. */
  asides?: Aside[];
}

/**
 * A figure with no target, shown under the {@linkcode Check} it explains.
 * A `"ceiling"` is the most the check's figure can be, measured in the
 * same run (e.g. the fastest any server of koan's kind can go against the
 * peer); an `"info"` aside is anything else worth reading beside it (e.g.
 * how close koan comes to that ceiling).
 */
export interface Aside {
  name: string;
  kind: "ceiling" | "info";
  /** Unit of the figures, as in {@linkcode Check.unit}. */
  unit: string;
  min: number;
  median: number;
  max: number;
  rounds: number;
}

/**
 * Min, median (the mean of the middle two for an even count) and max.
 *
 * @throws {RangeError} for an empty series or one holding NaN.
 *
 * @example Usage
 * ```ts
 * import { stats } from "./summary.ts";
 * const { min, median } = stats([0.97, 0.91, 1.02]);
 * if (min !== 0.91 || median !== 0.97) throw new Error("wrong stats");
 * ```
 */
export function stats(values: readonly number[]): Stats {
  if (values.length === 0 || values.some(Number.isNaN)) {
    throw new RangeError(
      `Cannot summarize "${values.join(", ")}": need at least one number`,
    );
  }
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { min: sorted[0]!, median, max: sorted[sorted.length - 1]! };
}

/** Whether `value` meets `target`. */
export function meets(value: number, target: Target): boolean {
  return target.op === ">=" ? value >= target.value : value <= target.value;
}

/**
 * One summary row from the per-round figures of a comparison. The median
 * round is judged, unless `decidedBy` is `"worst"`: for a limit that every
 * round must keep (no answer lost), the smallest value for a `">="` target
 * and the largest for `"<="`.
 *
 * @example Usage
 * ```ts
 * import { check } from "./summary.ts";
 * const row = check("HTTP koan / nginx", [0.95, 0.88, 0.93], {
 *   op: ">=",
 *   value: 0.9,
 * });
 * if (row.verdict !== "PASS" || row.min !== 0.88) throw new Error("wrong row");
 * ```
 */
export function check(
  name: string,
  values: readonly number[],
  target: Target,
  unit = "x",
  decidedBy: "median" | "worst" = "median",
): Check {
  const { min, median, max } = stats(values);
  const judged = decidedBy === "median"
    ? median
    : target.op === ">="
    ? min
    : max;
  return {
    name,
    unit,
    target,
    min,
    median,
    max,
    rounds: values.length,
    decidedBy,
    verdict: meets(judged, target) ? "PASS" : "MISS",
  };
}

/**
 * An {@linkcode Aside} from per-round figures: a `"ceiling"` or `"info"`
 * row to set under a check.
 *
 * @throws {RangeError} as {@linkcode stats} does.
 *
 * @example Usage
 * ```ts
 * import { aside, check } from "./summary.ts";
 * const row = {
 *   ...check("koan / peer", [0.84, 0.8], { op: ">=", value: 1 }),
 *   asides: [aside("raw loop / peer", [0.9, 0.92], "ceiling")],
 * };
 * if (row.asides[0]!.median !== 0.91) throw new Error("wrong aside");
 * ```
 */
export function aside(
  name: string,
  values: readonly number[],
  kind: Aside["kind"] = "info",
  unit = "x",
): Aside {
  return { name, kind, unit, ...stats(values), rounds: values.length };
}

function figure(value: number, unit: string): string {
  if (unit === "x") return `${value.toFixed(2)}x`;
  const digits = Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)} ${unit}`;
}

/** The target as text, e.g. `">= 0.90x"` or `"<= 150 MiB"`. */
export function formatTarget(target: Target, unit: string): string {
  return `${target.op} ${figure(target.value, unit)}`;
}

/**
 * The checks as a Markdown table, one row each: target, min, median, max,
 * rounds and verdict (a check judged on its worst round says "every round").
 * A check's asides follow it, marked "↳", with no verdict: a ceiling's
 * says whether the check's target lies within it or above it (then no
 * server of that kind can pass, and the ceiling is the measured proof).
 *
 * @example Usage
 * ```ts
 * import { check, formatSummary } from "./summary.ts";
 * const table = formatSummary([check("zen", [1.01], { op: ">=", value: 0.95 })]);
 * if (!table.includes("| zen | >= 0.95x | 1.01x | 1.01x | 1.01x | 1 | PASS |")) {
 *   throw new Error(table);
 * }
 * ```
 */
export function formatSummary(checks: readonly Check[]): string {
  const lines = [
    "| comparison | target | min | median | max | rounds | verdict |",
    "|---|---|---:|---:|---:|---:|---|",
  ];
  for (const c of checks) {
    const name = c.decidedBy === "worst" ? `${c.name} (every round)` : c.name;
    const cells = [
      name,
      formatTarget(c.target, c.unit),
      figure(c.min, c.unit),
      figure(c.median, c.unit),
      figure(c.max, c.unit),
      String(c.rounds),
      c.verdict,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
    for (const a of c.asides ?? []) {
      const ceiling = a.kind === "ceiling";
      const cells = [
        `↳ ${a.name}`,
        ceiling ? "the limit" : "no target",
        figure(a.min, a.unit),
        figure(a.median, a.unit),
        figure(a.max, a.unit),
        String(a.rounds),
        !ceiling
          ? "info"
          : meets(a.median, c.target)
          ? "target within it"
          : "target above it",
      ];
      lines.push(`| ${cells.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}
