/**
 * `koan bench --model all`: the same workload against every model in turn,
 * one daemon at a time, measured with the same load generator.
 *
 * @module
 */
import { MODEL_NAMES } from "../config/settings.ts";
import { startBenchDaemon } from "./spawn_daemon.ts";
import { type LoadOptions, runLoad } from "./load.ts";
import { peakRss } from "./proc.ts";

/** One model's measurement. */
export interface ModelRow {
  model: string;
  qps: number;
  p50: number;
  p90: number;
  p99: number;
  errors: number;
  /** Peak resident memory of the daemon's process tree, bytes. */
  peakRss: number;
  requests: number;
}

/** Options for {@linkcode compareModels}. */
export interface CompareOptions {
  /** Models to run; default every model. */
  models?: readonly string[];
  /** The workload (the port is filled in per daemon). */
  load: Omit<LoadOptions, "port">;
  /** Workers for the pooled models. */
  workers?: number;
  /** Per-worker concurrency. */
  concurrency?: number;
  /** Extra config sections (e.g. Zen work). */
  sections?: Record<string, Record<string, unknown>>;
  /** Called before each model starts. */
  onModel?: (model: string) => void;
}

/** Runs the workload against each model; one row per model. */
export async function compareModels(
  options: CompareOptions,
): Promise<ModelRow[]> {
  const rows: ModelRow[] = [];
  for (const model of options.models ?? MODEL_NAMES) {
    options.onModel?.(model);
    const daemon = await startBenchDaemon({
      protocol: options.load.protocol,
      model,
      ...(options.workers !== undefined ? { workers: options.workers } : {}),
      ...(options.concurrency !== undefined
        ? { concurrency: options.concurrency }
        : {}),
      ...(options.sections ? { sections: options.sections } : {}),
    });
    const memory = peakRss(daemon.pid);
    try {
      const result = await runLoad({ ...options.load, port: daemon.port });
      rows.push({
        model,
        qps: result.qps,
        p50: result.p50,
        p90: result.p90,
        p99: result.p99,
        errors: result.errors,
        peakRss: await memory.stop(),
        requests: result.requests,
      });
    } finally {
      await memory.stop();
      await daemon.stop();
    }
  }
  return rows;
}
