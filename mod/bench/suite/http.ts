/**
 * HTTP benchmark (issues 3 and 13), driven by `wrk` (Debian's package):
 * `GET /` "Hello, world!" over 50 keep-alive connections, five servers in
 * the same run:
 *
 * - nginx, one worker, access log to a file in its default combined format
 *   (`nginx.ts`);
 * - koan as shipped: the default config (access log on) with the log going
 *   to a file (also `[log] access_file` when this koan has it);
 * - koan with the access log off;
 * - a `Deno.serve` hello world (`baseline_deno_serve.ts`);
 * - the ceiling of any server on `Deno.listen`, as koan is: a loop that
 *   only counts the "\r\n\r\n" of each read and writes a precomputed
 *   response per request (`baseline_http_loop.ts`). `Deno.serve` does its
 *   HTTP in Rust (hyper); koan parses in TypeScript over `Deno.listen`,
 *   which it must (one parser for every concurrency model and inetd). So
 *   raw loop / `Deno.serve` is the most that koan / `Deno.serve` can be,
 *   and koan / raw loop is how close koan comes to that limit.
 *
 * Then koan (access log off) against `Deno.serve` again with 16 requests
 * pipelined per write (`pipeline.lua`).
 *
 * Every server runs on CPU 0 and wrk on CPU 1, where `taskset` and two
 * CPUs exist, so the two sides do not fight over a core. Each round runs
 * every server once, forwards then backwards in turn, so the servers
 * compared stand next to each other in time; a ratio is taken per round,
 * and min and median over the rounds are reported. Besides requests per
 * second, each row gives the server's CPU time per response (from /proc,
 * nginx's worker included): on a shared machine throughput swings with
 * the neighbours while CPU per request stays put.
 *
 * Usage: deno run --allow-net --allow-read --allow-write --allow-env
 * --allow-run --allow-sys mod/bench/suite/http.ts [--seconds N] [--rounds N]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort } from "../../net/free_port.ts";
import { type BenchServer, spawnServer } from "../spawn_daemon.ts";
import {
  canPin,
  cpuTimeUs,
  hasCommand,
  onCpu,
  pinToServerCpu,
} from "./_host.ts";
import { acceptsAccessFile, koanToml, spawnShippedKoan } from "./_koan.ts";
import { startNginx } from "./nginx.ts";
import { stats } from "./summary.ts";

/** One server under one workload, medians over the rounds. */
export interface Row {
  /** What ran: server and workload. */
  name: string;
  /** Requests (responses) per second. */
  rps: number;
  /** Median latency in ms, if wrk reported it (per batch when pipelined). */
  p50Ms?: number;
  /** 99th percentile latency in ms, if reported. */
  p99Ms?: number;
  /** Socket errors, timeouts and non-2xx responses over all rounds. */
  errors: number;
  /** Server CPU time (user + system) per response, µs. */
  cpuUsPerRequest?: number;
}

/** The comparisons, one ratio of requests per second per round each. */
export interface HttpRatios {
  /** koan as shipped (access log to a file) / nginx (the same), keep-alive. */
  koanDefaultVsNginx: number[];
  /** koan with the access log off / Deno.serve, keep-alive. */
  koanOffVsDenoServe: number[];
  /** koan access log on / off, keep-alive: 1 - this is the log's cost. */
  accessOnVsOff: number[];
  /** koan access log off / Deno.serve, pipelined. */
  pipelinedKoanOffVsDenoServe: number[];
  /**
   * Raw `Deno.listen` loop / Deno.serve, keep-alive: the ceiling of
   * {@linkcode HttpRatios.koanOffVsDenoServe} for any server on `Deno.listen`.
   */
  rawLoopVsDenoServe: number[];
  /** koan access log off / raw `Deno.listen` loop, keep-alive: koan's share of the ceiling. */
  koanOffVsRawLoop: number[];
}

/** What {@linkcode benchHttp} measured. */
export interface HttpResult {
  rows: Row[];
  ratios: HttpRatios;
  /**
   * The same pairs by CPU time per response, the second's over the
   * first's (the peer's over koan's; 1 = as cheap): steadier than requests
   * per second on a shared machine. Empty lists off Linux.
   */
  cpuRatios: HttpRatios;
  /** Whether koan took `[log] access_file` (else its access lines went to `[log] file`). */
  accessFile: boolean;
  /** Bytes of access log written over the run: proof both sides logged. */
  accessLogBytes: { nginx: number; koan: number };
}

/** Options for {@linkcode benchHttp}. */
export interface HttpBenchOptions {
  /** Seconds per measured run. */
  seconds: number;
  /** wrk connections. @default {50} */
  connections?: number;
  /** wrk threads. @default {2} */
  threads?: number;
  /** Rounds; each runs every server once. @default {3} */
  rounds?: number;
  /** Requests per write in the pipelined runs. @default {16} */
  depth?: number;
  /** Called before each round, for a progress line. */
  onProgress?: (message: string) => void;
}

const WRK = "/usr/bin/wrk";
const PIPELINE = new URL("./pipeline.lua", import.meta.url).pathname;

/** What one `wrk` run measured. */
export interface WrkResult {
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

/** One `wrk` run: where, how long, how hard. */
export interface WrkRun {
  port: number;
  /** The URL to load. @default {`http://127.0.0.1:${port}/`} */
  url?: string;
  seconds: number;
  connections: number;
  threads: number;
  /** The server, for its CPU time. */
  pid?: number;
  depth?: number | undefined;
}

/** Runs `wrk` (on its own CPU when `pinning`), with the server's CPU time per response. */
export async function wrk(run: WrkRun, pinning: boolean): Promise<WrkResult> {
  const cpuBefore = run.pid === undefined
    ? undefined
    : await cpuTimeUs(run.pid);
  const { command, args } = onCpu(pinning, 1, WRK, [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.seconds}s`,
    "--latency",
    ...(run.depth ? ["-s", PIPELINE] : []),
    run.url ?? `http://127.0.0.1:${run.port}/`,
    ...(run.depth ? ["--", String(run.depth)] : []),
  ]);
  const output = await new Deno.Command(command, { args }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `wrk failed: ${new TextDecoder().decode(output.stderr) || text}`,
    );
  }
  const result = parseWrk(text);
  const cpuAfter = run.pid === undefined ? undefined : await cpuTimeUs(run.pid);
  if (cpuBefore !== undefined && cpuAfter !== undefined && result.requests) {
    result.cpuUsPerRequest = (cpuAfter - cpuBefore) / result.requests;
  }
  return result;
}

/** One row of medians over the rounds' runs. */
export function summarize(name: string, runs: WrkResult[]): Row {
  const median = (values: number[]) => stats(values).median;
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

async function size(path: string): Promise<number> {
  return await Deno.stat(path).then((info) => info.size).catch(
    // Never written (NotFound): nothing was logged there.
    () => 0,
  );
}

type Side = "nginx" | "koanDefault" | "koanOff" | "denoServe" | "rawLoop";

const LABELS: Record<Side, string> = {
  nginx: "nginx, access log to a file",
  koanDefault: "koan, default config (access log to a file)",
  koanOff: "koan, access log off",
  denoServe: "Deno.serve hello world",
  rawLoop: "raw Deno.listen loop (the ceiling)",
};

/**
 * Runs the HTTP comparisons: rows per server and workload and the
 * per-round ratios.
 *
 * @throws {Error} when wrk or nginx is not installed.
 */
export async function benchHttp(opts: HttpBenchOptions): Promise<HttpResult> {
  if (!await hasCommand(WRK)) {
    throw new Error(`${WRK} not found: install Debian's "wrk" package`);
  }
  const rounds = opts.rounds ?? 3;
  const depth = opts.depth ?? 16;
  const load = {
    seconds: opts.seconds,
    connections: opts.connections ?? 50,
    threads: opts.threads ?? 2,
  };
  const pinning = await canPin();
  const dir = await Deno.makeTempDir({ prefix: "koan-bench-http-" });
  const accessFile = await acceptsAccessFile(dir);
  const koanAccessLog = accessFile
    ? `${dir}/koan-access.log`
    : `${dir}/koan.log`;
  const servers: BenchServer[] = [];
  try {
    const ports = {} as Record<Side, number>;
    const pids = {} as Record<Side, number>;
    ports.nginx = freePort();
    const nginxDir = `${dir}/nginx`;
    await Deno.mkdir(nginxDir);
    const nginx = await startNginx({
      port: ports.nginx,
      dir: nginxDir,
      pinning,
    });
    servers.push(nginx);
    pids.nginx = nginx.pid;
    for (
      const [side, script] of [
        ["denoServe", "baseline_deno_serve.ts"],
        ["rawLoop", "baseline_http_loop.ts"],
      ] as const
    ) {
      ports[side] = freePort();
      servers.push(
        await spawnServer(
          `mod/bench/suite/${script}`,
          [String(ports[side])],
          ports[side],
          ["--allow-net"],
        ),
      );
      pids[side] = servers.at(-1)!.pid;
    }
    for (const side of ["koanDefault", "koanOff"] as const) {
      ports[side] = freePort();
      const toml = koanToml({
        protocol: "http",
        port: ports[side],
        logFile: `${dir}/${side === "koanOff" ? "koan-off" : "koan"}.log`,
        access: side === "koanDefault",
        accessFile: side === "koanDefault" && accessFile
          ? koanAccessLog
          : undefined,
      });
      servers.push(await spawnShippedKoan(toml, ports[side]));
      pids[side] = servers.at(-1)!.pid;
    }
    for (
      const side of ["denoServe", "rawLoop", "koanDefault", "koanOff"] as const
    ) {
      await pinToServerCpu(pids[side], pinning);
    }
    // Warm the JIT on every side before anything counts.
    for (const side of Object.keys(LABELS) as Side[]) {
      await wrk({ ...load, seconds: 1, port: ports[side] }, pinning);
    }
    const measure = async (sides: Side[], depth?: number) => {
      const runs = Object.fromEntries(sides.map((s) => [s, [] as WrkResult[]]));
      for (let round = 0; round < rounds; round++) {
        opts.onProgress?.(
          `${depth ? `pipelined x${depth}` : "keep-alive"}, round ${
            round + 1
          }/${rounds}`,
        );
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order) {
          runs[side]!.push(
            await wrk(
              { ...load, port: ports[side], pid: pids[side], depth },
              pinning,
            ),
          );
        }
      }
      return runs as Record<Side, WrkResult[]>;
    };
    // The raw loop last: the pairs that have targets keep standing next to
    // each other, and the ceiling stands next to Deno.serve.
    const keepAlive = await measure([
      "nginx",
      "koanDefault",
      "koanOff",
      "denoServe",
      "rawLoop",
    ]);
    const pipelined = await measure(["koanOff", "denoServe"], depth);
    const ratio = (runs: Record<Side, WrkResult[]>, a: Side, b: Side) =>
      runs[a].map((run, i) => run.rps / runs[b][i]!.rps);
    const cpuRatio = (runs: Record<Side, WrkResult[]>, a: Side, b: Side) =>
      runs[a].flatMap((run, i) => {
        const mine = run.cpuUsPerRequest;
        const theirs = runs[b][i]!.cpuUsPerRequest;
        return mine && theirs ? [theirs / mine] : [];
      });
    const pairs = (measure: typeof ratio): HttpRatios => ({
      koanDefaultVsNginx: measure(keepAlive, "koanDefault", "nginx"),
      koanOffVsDenoServe: measure(keepAlive, "koanOff", "denoServe"),
      accessOnVsOff: measure(keepAlive, "koanDefault", "koanOff"),
      pipelinedKoanOffVsDenoServe: measure(pipelined, "koanOff", "denoServe"),
      rawLoopVsDenoServe: measure(keepAlive, "rawLoop", "denoServe"),
      koanOffVsRawLoop: measure(keepAlive, "koanOff", "rawLoop"),
    });
    const rows: Row[] = [];
    for (const [side, runs] of Object.entries(keepAlive)) {
      rows.push(summarize(`${LABELS[side as Side]}, keep-alive`, runs));
    }
    for (const [side, runs] of Object.entries(pipelined)) {
      rows.push(
        summarize(`${LABELS[side as Side]}, pipelined x${depth}`, runs),
      );
    }
    return {
      rows,
      ratios: pairs(ratio),
      cpuRatios: pairs(cpuRatio),
      accessFile,
      accessLogBytes: {
        nginx: await size(nginx.accessLog),
        koan: await size(koanAccessLog),
      },
    };
  } finally {
    for (const server of servers) await server.stop();
    await Deno.remove(dir, { recursive: true });
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
  const result = await benchHttp({
    seconds: Number(values.seconds),
    connections: Number(values.connections),
    rounds: Number(values.rounds),
    onProgress: (message) => console.error(message),
  });
  console.table(result.rows);
  for (const [name, ratios] of Object.entries(result.ratios)) {
    const { min, median } = stats(ratios);
    console.log(
      `${name}: min ${min.toFixed(2)}x, median ${median.toFixed(2)}x`,
    );
  }
}
