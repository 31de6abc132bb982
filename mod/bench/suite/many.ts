/**
 * Many connections (issue 13): what holding idle Zen connections costs koan
 * `async`, and whether all of them get answered at once.
 *
 * - The curve: one daemon, started as a user would (default config, log to
 *   a file, the V8 flags koan ships with) with `max_connections` raised,
 *   holds 1k, 5k, 10k and 20k idle connections in turn; at each step, once
 *   its descriptor count shows it accepted them all, its resident memory
 *   (VmRSS) is read.
 * - The answers: a fresh daemon holds 10k connections, then every one asks
 *   one question at once while all stay open, three rounds on the same
 *   connections: how many are answered, the p50 and p99 latency (write to
 *   answer, per connection), the total time and the RSS afterwards.
 *
 * Clients are `zen_holder.ts` processes, at most 5,000 connections each, so
 * no client runs into its own open-file limit. The daemon is one process
 * and must fit under that limit itself: a step above it is capped, and the
 * result says so. The daemon runs on CPU 0 and the clients on CPU 1 where
 * `taskset` and two CPUs exist.
 *
 * @module
 */
import { freePort } from "../../net/free_port.ts";
import type { BenchServer } from "../spawn_daemon.ts";
import { quantile } from "../load.ts";
import {
  canPin,
  onCpu,
  openFds,
  pinToServerCpu,
  softFdLimit,
  vmRss,
} from "./_host.ts";
import { benchV8Flags, koanToml, spawnShippedKoan } from "./_koan.ts";

/** One step of the curve. */
export interface CurvePoint {
  /** Connections asked for. */
  requested: number;
  /** Connections the clients opened. */
  connections: number;
  /** Connections the daemon held when RSS was read (from its descriptors). */
  accepted: number;
  /** Connects that failed. */
  failed: number;
  /** The daemon's VmRSS, MiB. */
  rssMiB: number;
}

/** One round of every connection asking once while all stay open. */
export interface AnswerRound {
  answered: number;
  /** Connections not answered "complex." (failed connects included). */
  failed: number;
  p50Ms: number;
  p99Ms: number;
  /** From the first question to the last answer, seconds. */
  seconds: number;
  /** The daemon's VmRSS after the answers, MiB. */
  rssMiB: number;
}

/** The answers part of {@linkcode ManyResult}. */
export interface AnswersResult {
  /** Connections open when the questions went out. */
  connections: number;
  /** The daemon's VmRSS before the first question, MiB. */
  idleRssMiB: number;
  rounds: AnswerRound[];
}

/** What {@linkcode benchMany} measured. */
export interface ManyResult {
  /** The V8 flags the daemon ran with (`--v8-flags`; none: V8's defaults). */
  v8Flags: string[];
  /** The open-file limit the daemon inherits. */
  fdLimit: number;
  /** The most connections the daemon can hold under that limit. */
  cap: number;
  /** Steps that were capped, said in words. */
  notes: string[];
  curve: CurvePoint[];
  answers: AnswersResult;
}

/** Options for {@linkcode benchMany}. */
export interface ManyOptions {
  /** Idle connections per step of the curve. @default {[1000, 5000, 10000, 20000]} */
  counts?: number[];
  /** Connections that all ask at once. @default {10000} */
  answersAt?: number;
  /** Times they all ask, on the same connections. @default {3} */
  rounds?: number;
  /** Connections per client process. @default {5000} */
  perClient?: number;
  /** Called with what is being done, for a progress line. */
  onProgress?: (message: string) => void;
}

/** Descriptors the daemon needs besides connections: stdio, listener, logs, runtime. */
const DAEMON_FDS = 200;
/** Descriptors a client process needs besides its connections. */
const CLIENT_FDS = 100;
const HOLDER = new URL("./zen_holder.ts", import.meta.url).pathname;
const MIB = 2 ** 20;

/** One `zen_holder.ts` process. */
class Holder {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #pending = "";
  held = 0;

  constructor(port: number, pinning: boolean) {
    const { command, args } = onCpu(pinning, 1, Deno.execPath(), [
      "run",
      "--allow-net",
      HOLDER,
      String(port),
    ]);
    this.#child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  async send<T>(command: Record<string, unknown>): Promise<T> {
    await this.#writer.write(
      new TextEncoder().encode(JSON.stringify(command) + "\n"),
    );
    for (;;) {
      const end = this.#pending.indexOf("\n");
      if (end >= 0) {
        const line = this.#pending.slice(0, end);
        this.#pending = this.#pending.slice(end + 1);
        return JSON.parse(line) as T;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("a Zen client process exited early");
      this.#pending += value;
    }
  }

  /** Closes its connections: end of stdin, then wait for the exit. */
  async close(): Promise<void> {
    await this.#writer.close();
    await this.#child.status;
    await this.#reader.cancel();
  }
}

/** A koan daemon and the client processes holding connections to it. */
class Fleet {
  readonly holders: Holder[] = [];
  failed = 0;

  constructor(
    readonly daemon: BenchServer,
    readonly baseFds: number,
    readonly perClient: number,
    readonly pinning: boolean,
  ) {}

  get held(): number {
    return this.holders.reduce((sum, h) => sum + h.held, 0);
  }

  /** Opens connections until `total` are held (or failed), over the clients. */
  async grow(total: number): Promise<void> {
    const work: Promise<void>[] = [];
    let missing = total - this.held - this.failed;
    for (let i = 0; missing > 0; i++) {
      if (i === this.holders.length) {
        this.holders.push(new Holder(this.daemon.port, this.pinning));
      }
      const holder = this.holders[i]!;
      const more = Math.min(missing, this.perClient - holder.held);
      if (more <= 0) continue;
      missing -= more;
      work.push(
        holder.send<{ open: number; failed: number }>({ open: more }).then(
          (reply) => {
            holder.held = reply.open;
            this.failed += reply.failed;
          },
        ),
      );
    }
    await Promise.all(work);
  }

  /**
   * Waits until the daemon's descriptors show every held connection
   * accepted, or stop growing for 3 s (60 s at most); returns how many.
   */
  async accepted(): Promise<number> {
    const deadline = Date.now() + 60_000;
    let last = -1;
    let since = Date.now();
    for (;;) {
      const count = await openFds(this.daemon.pid) - this.baseFds;
      if (count >= this.held || Date.now() > deadline) return count;
      if (count !== last) [last, since] = [count, Date.now()];
      else if (Date.now() - since > 3000) return count;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.holders.map((h) => h.close()));
  }
}

async function withFleet<T>(
  maxConnections: number,
  perClient: number,
  v8Flags: string[],
  run: (fleet: Fleet) => Promise<T>,
): Promise<T> {
  const pinning = await canPin();
  const dir = await Deno.makeTempDir({ prefix: "koan-bench-many-" });
  const port = freePort();
  // Idle connections are the point: keep koan's idle timeout (60 s by
  // default) from closing the first ones while the last ones connect.
  const extra =
    `[zen]\nidle_timeout = 600\n\n[limits]\nmax_connections = ${maxConnections}\n`;
  const daemon = await spawnShippedKoan(
    koanToml({ protocol: "zen", port, logFile: `${dir}/koan.log`, extra }),
    port,
    v8Flags,
  );
  await pinToServerCpu(daemon.pid, pinning);
  const fleet = new Fleet(
    daemon,
    await openFds(daemon.pid),
    perClient,
    pinning,
  );
  try {
    return await run(fleet);
  } finally {
    // Clients first, so the daemon has nothing left to drain.
    await fleet.close();
    await daemon.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Percentile `q` of unsorted latencies, 0 for none. */
function percentile(values: number[], q: number): number {
  return quantile(Float64Array.from(values).sort(), q);
}

/** The curve and the answers; see the module comment. */
export async function benchMany(
  options: ManyOptions = {},
): Promise<ManyResult> {
  const counts = options.counts ?? [1000, 5000, 10_000, 20_000];
  const answersAt = options.answersAt ?? 10_000;
  const v8Flags = benchV8Flags();
  options.onProgress?.(
    `koan runs with ${
      v8Flags.length ? `--v8-flags=${v8Flags.join(",")}` : "V8's defaults"
    }`,
  );
  const fdLimit = await softFdLimit();
  const cap = Math.max(0, fdLimit - DAEMON_FDS);
  const perClient = Math.min(options.perClient ?? 5000, fdLimit - CLIENT_FDS);
  const notes: string[] = [];
  const capped = (n: number) => {
    if (n <= cap) return n;
    notes.push(
      `${n.toLocaleString("en-US")} connections capped at ${
        cap.toLocaleString("en-US")
      }: the daemon is one process and its open-file limit is ${fdLimit} ` +
        `(ulimit -n; raise the hard limit to measure more)`,
    );
    return cap;
  };
  // Capped step → the most connections asked for at it.
  const steps = new Map<number, number>();
  for (const n of counts) {
    const step = capped(n);
    steps.set(step, Math.max(n, steps.get(step) ?? 0));
  }
  const ordered = [...steps].sort(([a], [b]) => a - b);
  const curve = await withFleet(
    Math.max(...steps.keys()),
    perClient,
    v8Flags,
    async (fleet) => {
      const points: CurvePoint[] = [];
      for (const [step, requested] of ordered) {
        options.onProgress?.(`opening ${step} idle connections`);
        await fleet.grow(step);
        const accepted = await fleet.accepted();
        // Let the daemon finish setting up what it just accepted.
        await new Promise((resolve) => setTimeout(resolve, 500));
        points.push({
          requested,
          connections: fleet.held,
          accepted,
          failed: fleet.failed,
          rssMiB: await vmRss(fleet.daemon.pid) / MIB,
        });
      }
      return points;
    },
  );
  const target = capped(answersAt);
  options.onProgress?.(`${target} connections asking at once`);
  const answers = await withFleet(target, perClient, v8Flags, async (fleet) => {
    await fleet.grow(target);
    await fleet.accepted();
    const idleRssMiB = await vmRss(fleet.daemon.pid) / MIB;
    const rounds: AnswerRound[] = [];
    for (let round = 0; round < (options.rounds ?? 3); round++) {
      const started = performance.now();
      const replies = await Promise.all(
        fleet.holders.map((h) =>
          h.send<{ answered: number; failed: number; latencies: number[] }>({
            ask: true,
          })
        ),
      );
      const seconds = (performance.now() - started) / 1000;
      const latencies = replies.flatMap((r) => r.latencies);
      rounds.push({
        answered: replies.reduce((sum, r) => sum + r.answered, 0),
        failed: replies.reduce((sum, r) => sum + r.failed, 0) + fleet.failed,
        p50Ms: percentile(latencies, 0.5),
        p99Ms: percentile(latencies, 0.99),
        seconds,
        rssMiB: await vmRss(fleet.daemon.pid) / MIB,
      });
    }
    return { connections: fleet.held, idleRssMiB, rounds };
  });
  return { v8Flags, fdLimit, cap, notes: [...new Set(notes)], curve, answers };
}
