/**
 * `deno task bench --only inetd`: what one connection costs when inetd
 * starts koan for it. The real `xinetd` (or, where it is not installed,
 * `systemd-socket-activate --inetd`) launches three programs the same way,
 * from wrapper scripts with explicit permission flags: `koan inetd
 * --protocol http` answering `GET /`, `koan inetd --protocol zen`
 * answering one question (both with the shipped `config/koan.toml`, logs
 * to a file), and a trivial Deno program that reads a line and
 * writes an HTTP 200 hello. Each sample times connect → first byte of the
 * answer on loopback; samples alternate between the three so that a busy
 * moment of the machine hits all of them alike. The figure that matters is
 * the ratio of koan's HTTP median to the trivial program's (target ≤ 2x):
 * the part of the start-up that is koan's own.
 *
 * @module
 */
import { freePort } from "../../net/free_port.ts";
import { waitForPort } from "../spawn_daemon.ts";
import { koanRun } from "./_koan.ts";
import { hasCommand } from "./_host.ts";

/** Options for {@linkcode benchInetd}. */
export interface InetdBenchOptions {
  /** Rounds; in each, every program is sampled in turn. */
  rounds: number;
  /** Connections per program per round. @default {15} */
  samples?: number;
  /** Called with a line of progress. */
  onProgress?: (message: string) => void;
}

/** One program in one round. */
export interface InetdRow {
  name: string;
  /** Median connect → first byte, ms. */
  p50Ms: number;
  /** Fastest connect → first byte, ms. */
  minMs: number;
}

/** What {@linkcode benchInetd} measured. */
export interface InetdResult {
  rows: InetdRow[];
  /** Median over the rounds of koan HTTP p50 / trivial program p50. */
  ratio: number;
  /** That ratio in each round. */
  ratios: number[];
  /** What started the programs. */
  launcher: "xinetd" | "systemd-socket-activate";
}

/**
 * The `p`-th percentile (0–100) of `values`, interpolated linearly between
 * the two nearest ranks (so the 50th of an even count is the mean of the
 * middle two).
 *
 * @example Usage
 * ```ts
 * import { percentile } from "./inetd.ts";
 * if (percentile([3, 1, 2], 50) !== 2) throw new Error("median of 1 2 3");
 * if (percentile([1, 2, 3, 4], 50) !== 2.5) throw new Error("even count");
 * ```
 *
 * @throws {RangeError} for no values, a NaN, or `p` outside 0–100.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0 || values.some(Number.isNaN)) {
    throw new RangeError(
      `Cannot take a percentile of "${values.join(", ")}": need numbers`,
    );
  }
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(`Percentile must be from 0 to 100, got "${p}"`);
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/**
 * koan HTTP p50 / trivial program p50 for each round, and their median:
 * the bench's verdict figure.
 *
 * @example Usage
 * ```ts
 * import { roundRatios } from "./inetd.ts";
 * // One round: koan's median 22 ms, the trivial program's 11 ms.
 * const { ratio } = roundRatios([[20, 22, 24]], [[10, 11, 12]]);
 * if (ratio !== 2) throw new Error(String(ratio));
 * ```
 *
 * @throws {RangeError} when the two lists of rounds differ in length.
 */
export function roundRatios(
  koanRounds: readonly (readonly number[])[],
  trivialRounds: readonly (readonly number[])[],
): { ratio: number; ratios: number[] } {
  if (koanRounds.length !== trivialRounds.length || koanRounds.length === 0) {
    throw new RangeError(
      `Cannot compare ${koanRounds.length} rounds with ${trivialRounds.length}`,
    );
  }
  const ratios = koanRounds.map((samples, i) =>
    percentile(samples, 50) / percentile(trivialRounds[i]!, 50)
  );
  return { ratio: percentile(ratios, 50), ratios };
}

const XINETD = "/usr/sbin/xinetd";
const SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate";
const PGREP = "/usr/bin/pgrep";
const MAIN = new URL("../../../main.ts", import.meta.url).pathname;
/** The example config koan ships (`/etc/koan/koan.toml` in the install). */
const SHIPPED_CONFIG = new URL("../../../config/koan.toml", import.meta.url);
/** Longest a sample or a start may take before the bench gives up. */
const TIMEOUT_MS = 15_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const HTTP_GET = encoder.encode(
  "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n",
);

/** The trivial program: one line in, an HTTP hello out, nothing loaded. */
const TRIVIAL_PROGRAM = `const buffer = new Uint8Array(4096);
let text = "";
while (!text.includes("\\n")) {
  const n = await Deno.stdin.read(buffer);
  if (n === null) break;
  text += new TextDecoder().decode(buffer.subarray(0, n));
}
Deno.stdout.writeSync(new TextEncoder().encode(
  "HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 14\\r\\nConnection: close\\r\\n\\r\\nHello, world!\\n",
));
`;

interface Program {
  name: string;
  /** The wrapper script inetd runs, and its arguments. */
  server: string;
  args: string[];
  request: Uint8Array;
  /** Whether the answer so far is complete (then the client closes). */
  complete: (text: string) => boolean;
  /** What the whole answer must look like. */
  answer: RegExp;
  port: number;
}

async function delay(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Writes a `/bin/sh` wrapper that runs `deno run` as the installed
 * launcher does (`scripts/install.ts`): koan's permission flags (never
 * -A), its V8 flags and `--cached-only`, with the environment inetd does
 * not pass on: DENO_DIR and HOME, so both programs find the module cache.
 */
async function writeWrapper(path: string, script: string): Promise<string> {
  const home = Deno.env.get("HOME") ?? "/root";
  const denoDir = Deno.env.get("DENO_DIR") ?? `${home}/.cache/deno`;
  await Deno.writeTextFile(
    path,
    [
      "#!/bin/sh",
      `export DENO_DIR='${denoDir}' HOME='${home}'`,
      `exec '${Deno.execPath()}' ${
        koanRun().join(" ")
      } --cached-only --quiet '${script}' "$@"`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** Connect → first byte of the answer, in ms; reads the answer to its end. */
async function sample(program: Program): Promise<number> {
  const start = performance.now();
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: program.port,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close(); // the pending read fails
  }, TIMEOUT_MS);
  try {
    for (let sent = 0; sent < program.request.length;) {
      sent += await conn.write(program.request.subarray(sent));
    }
    const buffer = new Uint8Array(16384);
    let first: number | undefined;
    let text = "";
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      first ??= performance.now() - start;
      text += decoder.decode(buffer.subarray(0, n));
      if (program.complete(text)) break;
    }
    if (first === undefined || !program.answer.test(text)) {
      throw new Error(
        `${program.name}: wrong answer ${JSON.stringify(text.slice(0, 200))}`,
      );
    }
    return first;
  } catch (error) {
    if (timedOut) {
      throw new Error(`${program.name}: no answer within ${TIMEOUT_MS} ms`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
}

/** A running launcher: xinetd, or one systemd-socket-activate per program. */
interface Launcher {
  kind: InetdResult["launcher"];
  /** Processes whose children are the programs it started. */
  pids: number[];
  stop(): Promise<void>;
}

function spawn(command: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function stopAll(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch (error) {
      // Already gone.
      if (!(error instanceof TypeError)) throw error;
    }
  }
  await Promise.all(children.map((child) => child.status));
}

/**
 * Waits until the launcher accepts on every program's port (each probe
 * starts the program, which finds its client gone); stops it and throws,
 * naming it, when one port never does.
 */
async function whenListening(
  launcher: Launcher,
  programs: Program[],
): Promise<Launcher> {
  try {
    for (const program of programs) {
      await waitForPort(program.port, TIMEOUT_MS);
    }
  } catch (error) {
    await launcher.stop();
    // Any failure means the same here: the launcher cannot be used.
    throw new Error(
      `${launcher.kind}: ${error instanceof Error ? error.message : error}`,
      {
        cause: error,
      },
    );
  }
  return launcher;
}

async function startXinetd(
  dir: string,
  programs: Program[],
): Promise<Launcher> {
  const user = Deno.env.get("USER") ?? "root";
  const services = programs.map((program, i) =>
    [
      `service koan-bench-${i}`,
      "{",
      "\ttype = UNLISTED",
      `\tid = koan-bench-${i}`,
      "\tsocket_type = stream",
      "\tprotocol = tcp",
      `\tport = ${program.port}`,
      "\tbind = 127.0.0.1",
      "\twait = no",
      `\tuser = ${user}`,
      `\tserver = ${program.server}`,
      ...(program.args.length
        ? [`\tserver_args = ${program.args.join(" ")}`]
        : []),
      "\tinstances = 10",
      "\tper_source = UNLIMITED",
      "\tcps = 1000 1",
      "\tdisable = no",
      "}",
    ].join("\n")
  );
  const conf = `${dir}/xinetd.conf`;
  await Deno.writeTextFile(
    conf,
    `defaults\n{\n\tlog_type = FILE ${dir}/xinetd.log\n}\n${
      services.join("\n")
    }\n`,
  );
  const child = spawn(XINETD, [
    "-dontfork",
    "-f",
    conf,
    "-pidfile",
    `${dir}/xinetd.pid`,
  ]);
  return await whenListening({
    kind: "xinetd",
    pids: [child.pid],
    stop: () => stopAll([child]),
  }, programs);
}

async function startSocketActivate(programs: Program[]): Promise<Launcher> {
  const children = programs.map((program) =>
    spawn(SOCKET_ACTIVATE, [
      "-l",
      `127.0.0.1:${program.port}`,
      "--accept",
      "--inetd",
      program.server,
      ...program.args,
    ])
  );
  return await whenListening({
    kind: "systemd-socket-activate",
    pids: children.map((child) => child.pid),
    stop: () => stopAll(children),
  }, programs);
}

/**
 * Waits until no program the launcher started is still running, so that
 * one sample's exit never overlaps the next one's start.
 */
async function waitForQuiet(launcher: Launcher, pgrep: boolean): Promise<void> {
  if (!pgrep) {
    await delay(200);
    return;
  }
  const deadline = performance.now() + TIMEOUT_MS;
  for (;;) {
    const { code } = await new Deno.Command(PGREP, {
      args: ["-P", launcher.pids.join(",")],
      stdout: "null",
      stderr: "null",
    }).output();
    if (code === 1) return; // pgrep: no process matched
    if (code !== 0) throw new Error(`pgrep failed with exit code ${code}`);
    if (performance.now() > deadline) {
      throw new Error("a program started by the launcher did not exit");
    }
    await delay(5);
  }
}

/**
 * Runs the inetd start-up benchmark: `options.rounds` rounds of
 * `options.samples` connections to each program, alternating, under
 * xinetd when installed, else systemd-socket-activate. Only loopback;
 * every process it starts is stopped and its temp dir removed at the end.
 *
 * @throws {Error} when neither launcher is installed or a program does not
 *   answer within 15 s.
 */
export async function benchInetd(
  options: InetdBenchOptions,
): Promise<InetdResult> {
  const count = options.samples ?? 15;
  const progress = options.onProgress ?? (() => {});
  const useXinetd = await hasCommand(XINETD);
  if (!useXinetd && !await hasCommand(SOCKET_ACTIVATE)) {
    throw new Error(
      `inetd bench: neither ${XINETD} nor ${SOCKET_ACTIVATE} is installed`,
    );
  }
  const pgrep = await hasCommand(PGREP);
  const dir = await Deno.makeTempDir({ prefix: "koan-bench-inetd-" });
  let launcher: Launcher | undefined;
  try {
    const trivial = await writeWrapper(
      `${dir}/trivial`,
      `${dir}/trivial.ts`,
    );
    await Deno.writeTextFile(`${dir}/trivial.ts`, TRIVIAL_PROGRAM);
    const koan = await writeWrapper(`${dir}/koan`, MAIN);
    // As an operator runs it (inetd/xinetd.d/koan-http): the shipped
    // config file, every key set, with logs to a file, never the client.
    const config = `${dir}/koan.toml`;
    const shipped = await Deno.readTextFile(SHIPPED_CONFIG);
    const withLogFile = shipped.replace(
      /^file = ""/m,
      `file = ${JSON.stringify(`${dir}/koan.log`)}`,
    );
    if (withLogFile === shipped) {
      throw new Error(`no 'file = ""' line in ${SHIPPED_CONFIG.pathname}`);
    }
    await Deno.writeTextFile(config, withLogFile);
    const untilClosed = () => false; // Connection: close
    const hello = /^HTTP\/1\.1 200 [^]*\r\n\r\nHello, world!/;
    const programs: Program[] = [
      {
        name: "trivial Deno program, HTTP hello",
        server: trivial,
        args: [],
        request: HTTP_GET,
        complete: untilClosed,
        answer: hello,
        port: freePort(),
      },
      {
        name: "koan inetd --protocol http, GET /",
        server: koan,
        args: ["inetd", "--protocol", "http", "--config", config],
        request: HTTP_GET,
        complete: untilClosed,
        answer: hello,
        port: freePort(),
      },
      {
        name: "koan inetd --protocol zen, one question",
        server: koan,
        args: ["inetd", "--protocol", "zen", "--config", config],
        request: encoder.encode("Beautiful is better than?"),
        complete: (text) => text.includes("."),
        answer: /^ugly\.$/,
        port: freePort(),
      },
    ];
    launcher = useXinetd
      ? await startXinetd(dir, programs)
      : await startSocketActivate(programs);
    const started = launcher;
    await waitForQuiet(started, pgrep);
    // One unrecorded connection each: the first run of a program fills
    // Deno's caches.
    for (const program of programs) {
      await sample(program);
      await waitForQuiet(started, pgrep);
    }
    const rows: InetdRow[] = [];
    const perRound: number[][][] = [];
    for (let round = 0; round < options.rounds; round++) {
      const samples: number[][] = programs.map(() => []);
      for (let i = 0; i < count; i++) {
        for (let k = 0; k < programs.length; k++) {
          // Rotate who goes first, round by round.
          const index = (k + round) % programs.length;
          samples[index]!.push(await sample(programs[index]!));
          await waitForQuiet(started, pgrep);
        }
      }
      perRound.push(samples);
      programs.forEach((program, index) => {
        const values = samples[index]!;
        rows.push({
          name: `${program.name} (round ${round + 1})`,
          p50Ms: percentile(values, 50),
          minMs: Math.min(...values),
        });
      });
      progress(`inetd: round ${round + 1} of ${options.rounds} done`);
    }
    const { ratio, ratios } = roundRatios(
      perRound.map((round) => round[1]!),
      perRound.map((round) => round[0]!),
    );
    return { rows, ratio, ratios, launcher: started.kind };
  } finally {
    await launcher?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
