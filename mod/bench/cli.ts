/**
 * `koan bench`: load a running server, compare every model, or drill
 * reload and shutdown.
 *
 * ```
 * koan bench ADDR [--protocol zen|echo|http] [-c 50] [-d 5 | -n N] [--pipeline N] [--warmup S]
 * koan bench --model all|M[,M...] [--protocol P] [--work block --work-ms 50 --workers 8 --concurrency 1]
 *            [--out report.svg] [--json report.json]
 * koan bench --drill [--model M[,M...]] [--protocol zen|http]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { clientAddress } from "../config/address.ts";
import { UsageError } from "../util/usage.ts";
import { MODEL_NAMES } from "../config/settings.ts";
import { compareModels, type ModelRow } from "./compare.ts";
import { type DrillResult, runDrill } from "./drill.ts";
import { type LoadOptions, type LoadProtocol, runLoad } from "./load.ts";
import { renderChart } from "./svg.ts";

/** `koan bench --help`: the usage and every option, with its default. */
export const BENCH_HELP = `Usage:
  koan bench ADDR [options]              load a running server (closed loop)
  koan bench --model all|M[,M...] [options]
                                         start koan once per model, load each, print a table
  koan bench --drill [--model M[,M...]]  HUP then TERM under load: any lost answer or reset?

Load options:
  --protocol zen|echo|http  what to speak [zen]
  -c, --connections N       connections at once [50]
  -d, --duration S          seconds of load [5]
  -n, --requests N          stop after N requests instead of a duration
  --pipeline N              requests in flight per connection [1]
  --warmup S                seconds of load not measured (not with -n) [0.5]
  --question Q              the Zen question to ask ["Beautiful is better than?"]
  --path P                  the HTTP path to request [/]

Model comparison (--model) and drill (--drill) options:
  --model all|M[,M...]      ${MODEL_NAMES.join(", ")}
  --workers N               workers per pooled model [one per CPU]
  --concurrency N           connections per worker at once; 1 = blocking pool [0]
  --work none|sleep|block|cpu, --work-ms MS
                            simulated work per Zen answer [sleep, 0 ms]
  --out FILE.svg            write a chart of the comparison
  --json FILE               write the results as JSON
  --drill                   the reload and shutdown self-test

  -h, --help                this help

Exit codes: 0 no errors, 1 errors or lost answers, 2 usage error.
`;

/** `koan bench` options; each is in {@linkcode BENCH_HELP}. */
export const BENCH_OPTIONS = {
  help: { type: "boolean", short: "h", default: false },
  protocol: { type: "string", default: "zen" },
  connections: { type: "string", short: "c", default: "50" },
  duration: { type: "string", short: "d", default: "5" },
  requests: { type: "string", short: "n" },
  pipeline: { type: "string", default: "1" },
  warmup: { type: "string", default: "0.5" },
  question: { type: "string" },
  path: { type: "string" },
  model: { type: "string" },
  workers: { type: "string" },
  concurrency: { type: "string" },
  work: { type: "string" },
  "work-ms": { type: "string" },
  out: { type: "string" },
  json: { type: "string" },
  drill: { type: "boolean", default: false },
} as const;

function number(
  name: string,
  text: string | undefined,
  min: number,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) {
    throw new UsageError(
      `--${name} must be a number of at least ${min}, got "${text}"`,
    );
  }
  return value;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/** Formats model rows as an aligned text table. */
export function formatTable(rows: ModelRow[]): string {
  const header = [
    "model",
    "qps",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "errors",
    "peak RSS MiB",
  ];
  const body = rows.map((r) => [
    r.model,
    Math.round(r.qps).toString(),
    r.p50.toFixed(2),
    r.p90.toFixed(2),
    r.p99.toFixed(2),
    String(r.errors),
    mib(r.peakRss),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((row) => row[i]!.length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, i) =>
      i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)
    ).join("  ");
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...body.map(line),
  ].join("\n");
}

function progress(
  label: string,
): ((done: number, ms: number) => void) | undefined {
  if (!Deno.stdout.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  return (done, ms) => {
    const qps = ms > 0 ? Math.round(done / (ms / 1000)) : 0;
    Deno.stdout.writeSync(
      encoder.encode(`\r${label}: ${done} requests, ${qps}/s   `),
    );
  };
}

function endProgress(): void {
  if (Deno.stdout.isTerminal()) {
    Deno.stdout.writeSync(new TextEncoder().encode("\r\x1b[K"));
  }
}

function modelsFrom(text: string): string[] {
  const models = text === "all" ? [...MODEL_NAMES] : text.split(",");
  for (const model of models) {
    if (!(MODEL_NAMES as readonly string[]).includes(model)) {
      throw new UsageError(
        `--model: "${model}" is not a model (${MODEL_NAMES.join(", ")}, all)`,
      );
    }
  }
  return models;
}

/** Runs `koan bench`; resolves with the exit code. */
export async function runBench(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: BENCH_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(BENCH_HELP);
    return 0;
  }
  const protocol = v.protocol as LoadProtocol;
  if (!["zen", "echo", "http"].includes(protocol)) {
    throw new UsageError(
      `--protocol must be zen, echo or http, got "${protocol}"`,
    );
  }
  const requests = number("requests", v.requests, 1);
  const load: Omit<LoadOptions, "port"> = {
    protocol,
    connections: number("connections", v.connections, 1)!,
    durationMs: number("duration", v.duration, 0.1)! * 1000,
    pipeline: number("pipeline", v.pipeline, 1)!,
    warmupMs: requests === undefined
      ? number("warmup", v.warmup, 0)! * 1000
      : 0,
    ...(requests !== undefined ? { requests } : {}),
    ...(v.question !== undefined ? { question: v.question } : {}),
    ...(v.path !== undefined ? { path: v.path } : {}),
  };

  if (v.drill) {
    if (protocol === "echo") throw new UsageError("--drill runs zen or http");
    const results: DrillResult[] = [];
    for (const model of modelsFrom(v.model ?? "async")) {
      const workers = number("workers", v.workers, 1);
      results.push(
        await runDrill({ protocol, model, ...(workers ? { workers } : {}) }),
      );
    }
    for (const r of results) {
      console.log(
        `drill ${r.protocol}/${r.model}: sent ${r.sent}, answered ${r.answered}, lost ${r.lost}, ` +
          `resets ${r.resets}, in flight at TERM ${r.inFlightAtTerm}, new connections after TERM ` +
          `${
            r.refusedAfterTerm ? "refused" : "SERVED"
          }, exit ${r.exitCode} after ${Math.round(r.stopMs)} ms` +
          (r.samples.length ? `\n  e.g. ${r.samples.join("; ")}` : ""),
      );
      for (const event of r.ledger) {
        console.log(
          `  ledger ${event.kind}: ${event.lost} lost of ${event.total} (${event.refused} refused, ${event.cut} cut, ${event.undelivered} answers not delivered, ${event.closed} closed normally)`,
        );
      }
      console.log(
        `  ledger ${r.ledgerLost} lost, clients ${r.resets} lost: ${
          r.agrees ? "agree" : "DISAGREE"
        }`,
      );
    }
    if (v.json) {
      await Deno.writeTextFile(v.json, JSON.stringify(results, null, 2));
    }
    const clean = results.every((r) =>
      r.lost === 0 && r.resets === 0 && r.exitCode === 0 &&
      r.refusedAfterTerm && r.agrees
    );
    return clean ? 0 : 1;
  }

  if (v.model !== undefined) {
    const sections: Record<string, Record<string, unknown>> = {};
    if (v.work !== undefined || v["work-ms"] !== undefined) {
      sections.zen = {
        work: v.work ?? "sleep",
        work_ms: number("work-ms", v["work-ms"], 0) ?? 0,
      };
    }
    const workers = number("workers", v.workers, 1);
    const concurrency = number("concurrency", v.concurrency, 0);
    const rows = await compareModels({
      models: modelsFrom(v.model),
      load,
      ...(workers !== undefined ? { workers } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      sections,
      onModel: (model) => {
        if (Deno.stdout.isTerminal()) console.log(`… ${model}`);
      },
    });
    const title = `koan bench: ${protocol}, ${load.connections} connections` +
      (sections.zen
        ? `, ${sections.zen.work} ${sections.zen.work_ms} ms per answer`
        : "");
    console.log(title);
    console.log(formatTable(rows));
    if (v.out) {
      await Deno.writeTextFile(
        v.out,
        renderChart(
          title,
          rows.map((r) => ({
            label: r.model,
            qps: r.qps,
            p99: r.p99,
            errors: r.errors,
          })),
        ),
      );
      console.log(`chart written to ${v.out}`);
    }
    if (v.json) {
      await Deno.writeTextFile(
        v.json,
        JSON.stringify({ title, rows }, null, 2),
      );
      console.log(`results written to ${v.json}`);
    }
    return rows.some((r) => r.errors > 0) ? 1 : 0;
  }

  const [target] = parsed.positionals;
  if (!target) {
    throw new UsageError("koan bench needs ADDR, --model or --drill");
  }
  let address;
  try {
    address = clientAddress(target);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  const onProgress = progress(`${protocol} ${target}`);
  const result = await runLoad({
    ...load,
    hostname: address.hostname,
    port: address.port,
    ...(onProgress ? { onProgress } : {}),
  });
  endProgress();
  console.log(
    `${result.requests} requests in ${
      (result.durationMs / 1000).toFixed(2)
    } s: ` +
      `${Math.round(result.qps)}/s, p50 ${result.p50.toFixed(2)} ms, p90 ${
        result.p90.toFixed(2)
      } ms, ` +
      `p99 ${result.p99.toFixed(2)} ms, ${result.errors} errors` +
      (result.errorSamples.length
        ? ` (${result.errorSamples.join("; ")})`
        : ""),
  );
  if (v.json) await Deno.writeTextFile(v.json, JSON.stringify(result, null, 2));
  return result.errors > 0 ? 1 : 0;
}
