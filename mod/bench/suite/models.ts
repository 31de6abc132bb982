/**
 * Every concurrency model side by side, in one run: Zen fast answers, Zen
 * with 50 ms of thread-blocking work per answer (pools of 8 workers at
 * `concurrency = 1`, 8 clients: the seeds' threaded-server experiment),
 * and HTTP keep-alive. One daemon per model and workload, started as a
 * process, loaded by koan's closed-loop generator (`mod/bench/load.ts`);
 * memory is the peak RSS summed over the daemon's process tree.
 *
 * Usage: deno run <bench flags> mod/bench/suite/models.ts [--seconds N]
 * (`deno task bench` calls {@linkcode benchModels}).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { BenchDaemonOptions } from "../spawn_daemon.ts";
import { compareModels } from "../compare.ts";
import type { LoadOptions } from "../load.ts";
import { PROTOCOLS } from "../../protocols/registry.ts";

/** One model under one workload. */
export interface Row {
  workload: string;
  model: string;
  /** Answers per second. */
  qps: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  /** Connections that failed. */
  errors: number;
  /** Peak resident memory of the daemon's process tree, MiB. */
  rssMiB: number;
}

/** Options for {@linkcode benchModels}. */
export interface BenchModelsOptions {
  /** Recording time per model and workload. */
  seconds: number;
  /** Called before each daemon starts. */
  onProgress?: (workload: string, model: string) => void;
}

interface Workload {
  name: string;
  load: Omit<LoadOptions, "port">;
  daemon: Omit<BenchDaemonOptions, "model" | "protocol">;
}

function workloads(seconds: number): Workload[] {
  const durationMs = seconds * 1000;
  const list: Workload[] = [
    {
      name: "zen fast",
      load: { protocol: "zen", connections: 16, durationMs, warmupMs: 1000 },
      daemon: {},
    },
    {
      name: "zen block 50 ms, 8 clients",
      load: { protocol: "zen", connections: 8, durationMs, warmupMs: 1000 },
      daemon: {
        workers: 8,
        concurrency: 1,
        sections: { zen: { work: "block", work_ms: 50 } },
      },
    },
  ];
  if (PROTOCOLS.http) {
    list.push({
      name: "http keep-alive",
      load: { protocol: "http", connections: 16, durationMs, warmupMs: 1000 },
      daemon: {},
    });
  }
  return list;
}

/** Runs every model under every workload; one row each. */
export async function benchModels(
  options: BenchModelsOptions,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const workload of workloads(options.seconds)) {
    const measured = await compareModels({
      load: workload.load,
      ...workload.daemon,
      onModel: (model) => options.onProgress?.(workload.name, model),
    });
    for (const row of measured) {
      rows.push({
        workload: workload.name,
        model: row.model,
        qps: row.qps,
        p50: row.p50,
        p99: row.p99,
        errors: row.errors,
        rssMiB: row.peakRss / 2 ** 20,
      });
    }
  }
  return rows;
}

/** Formats rows as a Markdown table. */
export function formatRows(rows: Row[]): string {
  const lines = [
    "| workload | model | QPS | p50 ms | p99 ms | errors | RSS MiB |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.workload} | ${row.model} | ${row.qps.toFixed(0)} | ${
        row.p50.toFixed(2)
      } | ${row.p99.toFixed(2)} | ${row.errors} | ${row.rssMiB.toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { seconds: { type: "string", default: "5" } },
  });
  const rows = await benchModels({
    seconds: Number(values.seconds),
    onProgress: (workload, model) =>
      console.error(`bench: ${workload} / ${model}`),
  });
  console.log(formatRows(rows));
}
