/**
 * Zen QPS (issue 13): koan `async`, started as a user would (default config,
 * log to a file), against the smallest raw `Deno.listen` Zen loop
 * (`baseline_zen.ts`) in the same run. Rounds alternate which server goes
 * first; each round gives one koan/baseline ratio, and the min and median
 * of those ratios are reported (on a noisy machine the pair measured back
 * to back is steadier than either figure alone).
 *
 * @module
 */
import { runLoad } from "../load.ts";
import { freePort } from "../../net/free_port.ts";
import { spawnServer } from "../spawn_daemon.ts";
import { stats } from "./summary.ts";
import { koanToml, spawnShippedKoan } from "./_koan.ts";

/** One server, summarized over the rounds (medians). */
export interface ZenRow {
  server: string;
  qps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Options for {@linkcode benchZen}. */
export interface ZenBenchOptions {
  /** Seconds per measured run. */
  seconds: number;
  /** Closed-loop clients. @default {50} */
  connections?: number;
  /** Rounds; each runs both servers once. @default {3} */
  rounds?: number;
}

/** What {@linkcode benchZen} measured. */
export interface ZenResult {
  rows: ZenRow[];
  /** koan QPS / baseline QPS, one per round. */
  ratios: number[];
  /** Median of {@linkcode ZenResult.ratios}. */
  ratio: number;
}

async function measure(port: number, seconds: number, connections: number) {
  return await runLoad({
    port,
    protocol: "zen",
    connections,
    durationMs: seconds * 1000,
    warmupMs: 500,
  });
}

/** koan async vs the raw baseline: both rows and the per-round ratios. */
export async function benchZen(options: ZenBenchOptions): Promise<ZenResult> {
  const connections = options.connections ?? 50;
  const rounds = options.rounds ?? 3;
  const dir = await Deno.makeTempDir({ prefix: "koan-bench-zen-" });
  const runs = { baseline: [] as ZenRow[], koan: [] as ZenRow[] };
  const basePort = freePort();
  const baseline = await spawnServer(
    "mod/bench/suite/baseline_zen.ts",
    [String(basePort)],
    basePort,
    ["--allow-net"],
  );
  const koanPort = freePort();
  const koan = await spawnShippedKoan(
    koanToml({ protocol: "zen", port: koanPort, logFile: `${dir}/koan.log` }),
    koanPort,
  ).catch(async (error) => {
    await baseline.stop();
    throw error;
  });
  try {
    const sides = [["baseline", basePort], ["koan", koanPort]] as const;
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const [name, port] of order) {
        const r = await measure(port, options.seconds, connections);
        runs[name].push({
          server: name,
          qps: r.qps,
          p50: r.p50,
          p99: r.p99,
          errors: r.errors,
        });
      }
    }
  } finally {
    await baseline.stop();
    await koan.stop();
    await Deno.remove(dir, { recursive: true });
  }
  const summarize = (list: ZenRow[], label: string): ZenRow => ({
    server: label,
    qps: stats(list.map((r) => r.qps)).median,
    p50: stats(list.map((r) => r.p50)).median,
    p99: stats(list.map((r) => r.p99)).median,
    errors: list.reduce((sum, r) => sum + r.errors, 0),
  });
  const ratios = runs.koan.map((r, i) => r.qps / runs.baseline[i]!.qps);
  return {
    rows: [
      summarize(runs.baseline, "raw Deno.listen Zen loop"),
      summarize(runs.koan, "koan serve, async, default config"),
    ],
    ratios,
    ratio: stats(ratios).median,
  };
}
