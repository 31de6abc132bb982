/**
 * Zen benchmarks (issue: foundation): closed-loop QPS of koan `async`
 * against the raw Deno.listen baseline in the same run, and 10,000
 * concurrent connections all answered with the daemon's RSS.
 *
 * @module
 */
import { runLoad } from "../load.ts";
import { treeRss } from "../proc.ts";
import { isOneOf } from "../../util/errors.ts";
import { freePort } from "../../net/free_port.ts";
import { spawnKoan, spawnServer } from "../spawn_daemon.ts";

/** One row of the comparison. */
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
  /** Alternating rounds per server (the median is reported). @default {3} */
  rounds?: number;
}

const QUIET = '[log]\naccess = false\nlevel = "warning"\n';

async function measure(port: number, seconds: number, connections: number) {
  return await runLoad({
    port,
    protocol: "zen",
    connections,
    durationMs: seconds * 1000,
    warmupMs: 500,
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** koan async vs the raw baseline; returns both rows and the ratio. */
export async function benchZen(
  options: ZenBenchOptions,
): Promise<{ rows: ZenRow[]; ratio: number }> {
  const connections = options.connections ?? 50;
  const rounds = options.rounds ?? 3;
  const results: Record<string, ZenRow[]> = { baseline: [], koan: [] };
  const basePort = freePort();
  const baseline = await spawnServer(
    "mod/bench/suite/baseline_zen.ts",
    [String(basePort)],
    basePort,
    [
      "--allow-net",
    ],
  );
  const koanPort = freePort();
  const koan = await spawnKoan(QUIET, [
    "--zen",
    `127.0.0.1:${koanPort}`,
    "--model",
    "async",
  ], koanPort);
  try {
    for (let round = 0; round < rounds; round++) {
      for (
        const [name, port] of [["baseline", basePort], [
          "koan",
          koanPort,
        ]] as const
      ) {
        const r = await measure(port, options.seconds, connections);
        results[name]!.push({
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
  }
  const summarize = (name: string, label: string): ZenRow => {
    const runs = results[name]!;
    return {
      server: label,
      qps: median(runs.map((r) => r.qps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      errors: runs.reduce((sum, r) => sum + r.errors, 0),
    };
  };
  const rows = [
    summarize("baseline", "raw Deno.listen Zen loop"),
    summarize("koan", "koan serve --model async"),
  ];
  return { rows, ratio: rows[1]!.qps / rows[0]!.qps };
}

/** Result of {@linkcode benchManyConnections}. */
export interface ManyResult {
  connections: number;
  answered: number;
  refused: number;
  rssBytes: number;
  seconds: number;
}

function softFdLimit(): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const match = /Max open files\s+(\d+)/.exec(limits);
    return match ? Number(match[1]) : Infinity;
  } catch (error) {
    // No /proc here (NotFound), or not allowed to read it: no known limit.
    if (
      !isOneOf(error, [
        Deno.errors.NotFound,
        Deno.errors.PermissionDenied,
        Deno.errors.NotCapable,
      ])
    ) throw error;
    return Infinity;
  }
}

/** Opens `count` connections to koan async at once, asks on each, measures RSS while all are open. */
export async function benchManyConnections(
  count = 10_000,
): Promise<ManyResult> {
  const limit = softFdLimit();
  if (limit < count + 200) {
    throw new RangeError(
      `The open-file limit is ${limit}; ${count} connections need ${
        count + 200
      }. Raise it (ulimit -n) and run again`,
    );
  }
  const port = freePort();
  const koan = await spawnKoan(
    `${QUIET}[limits]\nmax_connections = ${count}\n`,
    ["--zen", `127.0.0.1:${port}`, "--model", "async"],
    port,
  );
  const started = performance.now();
  const conns: Deno.TcpConn[] = [];
  let answered = 0;
  let refused = 0;
  const question = new TextEncoder().encode("Simple is better than?");
  const decoder = new TextDecoder();
  try {
    // Connect in batches so the listen backlog never overflows into SYN retries.
    const batch = 500;
    for (let i = 0; i < count; i += batch) {
      const opened = await Promise.all(
        Array.from(
          { length: Math.min(batch, count - i) },
          () =>
            // A failed connect of any kind counts as refused below.
            Deno.connect({ hostname: "127.0.0.1", port }).catch(() =>
              undefined
            ),
        ),
      );
      for (const conn of opened) {
        if (conn) conns.push(conn);
        else refused++;
      }
    }
    await Promise.all(conns.map(async (conn) => {
      const buffer = new Uint8Array(64);
      try {
        await conn.write(question);
        let text = "";
        while (!text.endsWith(".")) {
          const n = await conn.read(buffer);
          if (n === null) break;
          text += decoder.decode(buffer.subarray(0, n));
        }
        if (text === "complex.") answered++;
        else refused++;
      } catch (error) {
        // Refused by koan: reset, or closed before the question was written.
        if (
          !isOneOf(error, [
            Deno.errors.ConnectionReset,
            Deno.errors.BrokenPipe,
          ])
        ) throw error;
        refused++;
      }
    }));
    const rssBytes = await treeRss(koan.pid);
    return {
      connections: conns.length,
      answered,
      refused,
      rssBytes,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    // Only this closes them, and close() does not throw for a connection
    // the peer closed or reset (checked on Deno 2.9.6).
    for (const conn of conns) conn.close();
    await koan.stop();
  }
}
