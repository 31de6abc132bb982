/**
 * Every concurrency model side by side, in one run: Zen fast answers, Zen
 * with 50 ms of thread-blocking work per answer (pools of 8 workers at
 * `concurrency = 1`, 8 clients: the seeds' threaded-server experiment),
 * and HTTP keep-alive. One daemon per model and workload, started as a
 * process, loaded by koan's closed-loop generator (`mod/bench/load.ts`);
 * memory is the peak RSS summed over the daemon's process tree.
 *
 * Usage: deno run <bench flags> bench/models.ts [--seconds N]
 * (`deno task bench` calls {@linkcode benchModels}).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MODEL_NAMES } from "../mod/config/settings.ts";
import {
  type BenchDaemonOptions,
  startBenchDaemon,
} from "../mod/bench/daemon.ts";
import { type LoadOptions, runLoad } from "../mod/bench/load.ts";
import { peakRss } from "../mod/bench/proc.ts";
import { PROTOCOLS } from "../mod/protocols/registry.ts";

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

/**
 * Waits for the master's "listening on" line, which a pool logs only once
 * every worker listens. Connecting as soon as the port answers is not
 * enough: the kernel spreads each new connection over the reusePort
 * sockets open at that moment, so clients that connect while the pool is
 * still booting all land on its first workers.
 */
async function allListening(log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!/listening on/.test(log())) {
    if (Date.now() > deadline) throw new Error(`never listening:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs every model under every workload; one row each. */
export async function benchModels(
  options: BenchModelsOptions,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const workload of workloads(options.seconds)) {
    for (const model of MODEL_NAMES) {
      options.onProgress?.(workload.name, model);
      const daemon = await startBenchDaemon({
        ...workload.daemon,
        protocol: workload.load.protocol,
        model,
        // Info level for the "listening on" line; still no access lines.
        sections: {
          ...workload.daemon.sections,
          log: { level: "info", access: false },
        },
      });
      const memory = peakRss(daemon.pid);
      try {
        await allListening(daemon.log);
        const result = await runLoad({ ...workload.load, port: daemon.port });
        rows.push({
          workload: workload.name,
          model,
          qps: result.qps,
          p50: result.p50,
          p99: result.p99,
          errors: result.errors,
          rssMiB: memory.stop() / 2 ** 20,
        });
      } finally {
        memory.stop();
        await daemon.stop();
      }
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
