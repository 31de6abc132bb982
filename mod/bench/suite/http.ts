/**
 * HTTP benchmark (issue 3): koan's own HTTP/1.1 stack on the `async` model
 * against a `Deno.serve` hello world in the same run, driven by `wrk`
 * (Debian's package): keep-alive `GET /` with 50 connections, then the
 * same with 16 requests pipelined per write (`mod/bench/suite/pipeline.lua`).
 *
 * Both servers run with logging off and, where `taskset` and two CPUs
 * exist, pinned to CPU 0 with wrk on CPU 1, so the two sides do not fight
 * over cores; runs alternate between the servers and the median is kept.
 * Besides requests per second, each row gives the server's CPU time per
 * response (from /proc): on a machine shared with other work, throughput
 * swings with the neighbours while CPU per request stays put.
 *
 * Usage: deno run --allow-net --allow-read --allow-write --allow-env
 * --allow-run --allow-sys mod/bench/suite/http.ts [--seconds N] [--connections N]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort } from "../../net/free_port.ts";
import { isOneOf } from "../../util/errors.ts";
import { type BenchServer, spawnKoan, spawnServer } from "../spawn_daemon.ts";

/** One measured configuration. */
export interface Row {
  /** What ran: server and workload. */
  name: string;
  /** Requests (responses) per second, median of the rounds. */
  rps: number;
  /** Median latency in ms, if wrk reported it (per batch when pipelined). */
  p50Ms?: number;
  /** 99th percentile latency in ms, if reported. */
  p99Ms?: number;
  /** Socket errors, timeouts and non-2xx responses over all rounds. */
  errors: number;
  /**
   * Server CPU time (user + system, from /proc) per response in µs, median
   * of the rounds: steadier than rps when other work shares the machine.
   */
  cpuUsPerRequest?: number;
}

/** Options for {@linkcode benchHttp}. */
export interface HttpBenchOptions {
  /** Seconds per measured run. */
  seconds: number;
  /** wrk connections. */
  connections: number;
  /** Alternating rounds per server and workload. @default {3} */
  rounds?: number;
  /** Requests per write in the pipelined runs. @default {16} */
  depth?: number;
}

const WRK = "/usr/bin/wrk";
const PIPELINE = new URL("./pipeline.lua", import.meta.url).pathname;
const QUIET = '[log]\naccess = false\nlevel = "warning"\n';

interface WrkResult {
  rps: number;
  /** Responses counted by wrk. */
  requests: number;
  p50Ms?: number;
  p99Ms?: number;
  errors: number;
  cpuUsPerRequest?: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

/** Reads the figures out of wrk's report. */
export function parseWrk(text: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(
      text,
    );
    // wrk prints 0 when it has no sample for a percentile (pipelining).
    const ms = match ? toMs(match[1]!, match[2]!) : 0;
    return ms > 0 ? ms : undefined;
  };
  let errors = 0;
  const socket =
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
      .exec(text);
  if (socket) {
    errors += socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  }
  errors += Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const result: WrkResult = { rps, requests, errors };
  const p50 = percentile("50");
  const p99 = percentile("99");
  if (p50 !== undefined) result.p50Ms = p50;
  if (p99 !== undefined) result.p99Ms = p99;
  return result;
}

/**
 * CPU time (user + system) of `pid` in µs, from /proc; undefined off
 * Linux. Read through `cat`: Deno grants another process's /proc entries
 * only with --allow-all, which benchmarks do not take.
 */
async function cpuTimeUs(pid: number): Promise<number | undefined> {
  try {
    const output = await new Deno.Command("cat", {
      args: [`/proc/${pid}/stat`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!output.success) return undefined;
    const stat = new TextDecoder().decode(output.stdout);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15, in clock ticks (100 a second
    // on every Linux koan runs on; USER_HZ is fixed in the kernel ABI).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch (error) {
    // No `cat` here (NotFound), or not allowed to run it.
    if (!isOneOf(error, NOT_THERE)) throw error;
    return undefined;
  }
}

/** What running or looking at a program throws when it is not there for us. */
const NOT_THERE = [
  Deno.errors.NotFound,
  Deno.errors.NotADirectory,
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable,
];

async function hasCommand(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (!isOneOf(error, NOT_THERE)) throw error;
    return false;
  }
}

/** Pins every thread of `pid` to CPU 0, when possible; returns whether it did. */
async function pin(pid: number, pinning: boolean): Promise<void> {
  if (!pinning) return;
  await new Deno.Command("taskset", {
    args: ["-a", "-c", "-p", "0", String(pid)],
    stdout: "null",
    stderr: "null",
  }).output();
}

async function wrk(
  options: { port: number; seconds: number; connections: number; pid?: number },
  extra: { pinning: boolean; depth?: number },
): Promise<WrkResult> {
  const cpuBefore = options.pid === undefined
    ? undefined
    : await cpuTimeUs(options.pid);
  const wrkArgs = [
    "-t1",
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    "--latency",
    ...(extra.depth ? ["-s", PIPELINE] : []),
    `http://127.0.0.1:${options.port}/`,
    ...(extra.depth ? ["--", String(extra.depth)] : []),
  ];
  const command = extra.pinning
    ? new Deno.Command("taskset", { args: ["-c", "1", WRK, ...wrkArgs] })
    : new Deno.Command(WRK, { args: wrkArgs });
  const output = await command.output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `wrk failed: ${new TextDecoder().decode(output.stderr) || text}`,
    );
  }
  const result = parseWrk(text);
  const cpuAfter = options.pid === undefined
    ? undefined
    : await cpuTimeUs(options.pid);
  if (cpuBefore !== undefined && cpuAfter !== undefined && result.requests) {
    result.cpuUsPerRequest = (cpuAfter - cpuBefore) / result.requests;
  }
  return result;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function summarize(name: string, runs: WrkResult[]): Row {
  const row: Row = {
    name,
    rps: median(runs.map((r) => r.rps)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
  const p50 = runs.flatMap((r) => r.p50Ms === undefined ? [] : [r.p50Ms]);
  const p99 = runs.flatMap((r) => r.p99Ms === undefined ? [] : [r.p99Ms]);
  const cpu = runs.flatMap((r) =>
    r.cpuUsPerRequest === undefined ? [] : [r.cpuUsPerRequest]
  );
  if (p50.length) row.p50Ms = median(p50);
  if (p99.length) row.p99Ms = median(p99);
  if (cpu.length) row.cpuUsPerRequest = median(cpu);
  return row;
}

/**
 * Runs the HTTP comparison and returns one row per server and workload,
 * baseline first, plus the koan/Deno.serve ratios as rows of their own:
 * `rps` holds the throughput ratio, `cpuUsPerRequest` the efficiency ratio
 * (Deno.serve's CPU per response over koan's; 1 = as cheap).
 *
 * @throws {Error} when wrk is not installed.
 */
export async function benchHttp(opts: HttpBenchOptions): Promise<Row[]> {
  if (!await hasCommand(WRK)) {
    throw new Error(`${WRK} not found: install Debian's "wrk" package`);
  }
  const rounds = opts.rounds ?? 3;
  const depth = opts.depth ?? 16;
  const pinning = navigator.hardwareConcurrency >= 2 &&
    await hasCommand("/usr/bin/taskset");
  const servers: BenchServer[] = [];
  try {
    const basePort = freePort();
    servers.push(
      await spawnServer(
        "mod/bench/suite/baseline_deno_serve.ts",
        [String(basePort)],
        basePort,
        ["--allow-net"],
      ),
    );
    const koanPort = freePort();
    servers.push(
      await spawnKoan(QUIET, [
        "--http",
        `127.0.0.1:${koanPort}`,
        "--model",
        "async",
      ], koanPort),
    );
    for (const server of servers) await pin(server.pid, pinning);
    const sides = [
      ["Deno.serve", basePort, servers[0]!.pid],
      ["koan async", koanPort, servers[1]!.pid],
    ] as const;
    const workloads = [["keep-alive", undefined], [
      `pipelined x${depth}`,
      depth,
    ]] as const;
    const runs = new Map<string, WrkResult[]>();
    for (const [, port] of sides) {
      // Warm the JIT on both sides before anything counts.
      await wrk({ port, seconds: 1, connections: opts.connections }, {
        pinning,
      });
    }
    for (const [workload, pipelineDepth] of workloads) {
      for (let round = 0; round < rounds; round++) {
        // Alternate which side goes first so drift hits both alike.
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const [side, port, pid] of order) {
          const key = `${side}, ${workload}`;
          const result = await wrk(
            { port, seconds: opts.seconds, connections: opts.connections, pid },
            pipelineDepth === undefined
              ? { pinning }
              : { pinning, depth: pipelineDepth },
          );
          runs.set(key, [...(runs.get(key) ?? []), result]);
        }
      }
    }
    const rows: Row[] = [];
    for (const [workload] of workloads) {
      const base = summarize(
        `Deno.serve, ${workload}`,
        runs.get(`Deno.serve, ${workload}`)!,
      );
      const koan = summarize(
        `koan async, ${workload}`,
        runs.get(`koan async, ${workload}`)!,
      );
      const ratio: Row = {
        name: `ratio koan/Deno.serve, ${workload}`,
        rps: koan.rps / base.rps,
        errors: 0,
      };
      if (koan.cpuUsPerRequest && base.cpuUsPerRequest) {
        // Requests per CPU-second, koan over Deno.serve.
        ratio.cpuUsPerRequest = base.cpuUsPerRequest / koan.cpuUsPerRequest;
      }
      rows.push(base, koan, ratio);
    }
    return rows;
  } finally {
    for (const server of servers) await server.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "5" },
      connections: { type: "string", default: "50" },
      rounds: { type: "string", default: "3" },
    },
  });
  const rows = await benchHttp({
    seconds: Number(values.seconds),
    connections: Number(values.connections),
    rounds: Number(values.rounds),
  });
  console.table(rows.map((row) => {
    const ratio = row.name.startsWith("ratio");
    const cpu = row.cpuUsPerRequest;
    return {
      ...row,
      rps: ratio ? `${row.rps.toFixed(2)}x` : Math.round(row.rps),
      cpuUsPerRequest: cpu === undefined
        ? undefined
        : ratio
        ? `${cpu.toFixed(2)}x`
        : Number(cpu.toFixed(2)),
    };
  }));
}
