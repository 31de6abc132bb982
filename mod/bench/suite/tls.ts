/**
 * HTTPS benchmark (issue 15): `GET /` "Hello, world!" over 50 keep-alive
 * TLS connections (`wrk`, which does not verify certificates), koan
 * against nginx with the same certificate (a throwaway CA's, ECDSA P-256)
 * and the same TLS versions (1.2 and 1.3, so both settle on TLS 1.3), each
 * as shipped: nginx one worker with its combined access log to a file,
 * koan `async` with the default config and its access log to a file. The
 * same two over plain HTTP in the same rounds show what TLS costs each.
 *
 * Servers on CPU 0, wrk on CPU 1 where `taskset` and two CPUs exist; each
 * round runs every server once, forwards then backwards in turn; ratios
 * per round, min and median over the rounds. No target: a report.
 *
 * Usage: deno run --allow-net --allow-read --allow-write --allow-env
 * --allow-run --allow-sys mod/bench/suite/tls.ts [--seconds N] [--rounds N]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort } from "../../net/free_port.ts";
import { makeTestPki } from "../../net/_tls_testing.ts";
import { type BenchServer, spawnDaemon } from "../spawn_daemon.ts";
import { canPin, hasCommand, onCpu, pinToServerCpu } from "./_host.ts";
import { spawnShippedKoan } from "./_koan.ts";
import { type Row, summarize, wrk, type WrkResult } from "./http.ts";
import { NGINX, nginxConfig } from "./nginx.ts";
import { stats } from "./summary.ts";

/** One server, medians over the rounds. */
export type TlsRow = Row;

/** Per-round ratios of requests per second. */
export interface TlsRatios {
  /** koan / nginx over HTTPS, keep-alive. */
  koanVsNginxHttps: number[];
  /** koan / nginx over plain HTTP in the same rounds, for reference. */
  koanVsNginxHttp: number[];
  /** koan HTTPS / koan HTTP: 1 - this is what TLS costs koan. */
  koanHttpsVsHttp: number[];
  /** nginx HTTPS / nginx HTTP. */
  nginxHttpsVsHttp: number[];
}

/** What {@linkcode benchTls} measured. */
export interface TlsResult {
  rows: TlsRow[];
  ratios: TlsRatios;
  /** koan / nginx over HTTPS by CPU time per response (nginx's over koan's). */
  cpuKoanVsNginxHttps: number[];
}

/** Options for {@linkcode benchTls}. */
export interface TlsBenchOptions {
  /** Seconds per measured run. */
  seconds: number;
  /** Rounds. @default {3} */
  rounds?: number;
  /** wrk connections. @default {50} */
  connections?: number;
  /** Called before each round. */
  onProgress?: (message: string) => void;
}

const WRK = "/usr/bin/wrk";

type Side = "nginxHttps" | "koanHttps" | "nginxHttp" | "koanHttp";

const LABELS: Record<Side, string> = {
  nginxHttps: "nginx, HTTPS",
  koanHttps: "koan async, HTTPS",
  nginxHttp: "nginx, HTTP",
  koanHttp: "koan async, HTTP",
};

/**
 * nginx's hello world (`nginx.ts`) on `port` with TLS, or plain. The
 * listen line is the only one changed; TLS as nginx ships it otherwise.
 *
 * @example Usage
 * ```ts
 * import { nginxTlsConfig } from "./tls.ts";
 * const conf = nginxTlsConfig({ port: 8443, dir: "/tmp/x" }, {
 *   cert: "/tmp/x/c.pem",
 *   key: "/tmp/x/c.key",
 * });
 * if (!conf.includes("listen 127.0.0.1:8443 ssl;")) throw new Error(conf);
 * ```
 */
export function nginxTlsConfig(
  options: { port: number; dir: string },
  tls: { cert: string; key: string } | undefined,
): string {
  const conf = nginxConfig(options);
  if (!tls) return conf;
  const listen = `    listen 127.0.0.1:${options.port};`;
  return conf.replace(
    listen,
    [
      `    listen 127.0.0.1:${options.port} ssl;`,
      `    ssl_certificate ${tls.cert};`,
      `    ssl_certificate_key ${tls.key};`,
      "    ssl_protocols TLSv1.2 TLSv1.3;",
    ].join("\n"),
  );
}

async function startNginxTls(
  port: number,
  dir: string,
  tls: { cert: string; key: string } | undefined,
  pinning: boolean,
): Promise<BenchServer> {
  await Deno.mkdir(dir, { recursive: true });
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(conf, nginxTlsConfig({ port, dir }, tls));
  const { command, args } = onCpu(pinning, 0, NGINX, [
    "-p",
    dir,
    "-e",
    `${dir}/error.log`,
    "-c",
    conf,
    "-g",
    "daemon off;",
  ]);
  const daemon = await spawnDaemon({
    command,
    args,
    output: ["stderr"],
    accepting: [port],
    timeoutMs: 20_000,
  });
  return {
    pid: daemon.pid,
    port,
    stop: async () => {
      await daemon.shutdown(10_000);
    },
  };
}

export async function benchTls(opts: TlsBenchOptions): Promise<TlsResult> {
  for (const tool of [WRK, NGINX]) {
    if (!await hasCommand(tool)) throw new Error(`${tool} not found`);
  }
  const rounds = opts.rounds ?? 3;
  const connections = opts.connections ?? 50;
  const pinning = await canPin();
  const dir = await Deno.makeTempDir({ prefix: "koan-bench-tls-" });
  const servers: BenchServer[] = [];
  try {
    const pki = await makeTestPki(dir);
    const cert = await pki.issue("server", "4b4f414e");
    const ports = {} as Record<Side, number>;
    const pids = {} as Record<Side, number>;
    for (const side of ["nginxHttps", "nginxHttp"] as const) {
      ports[side] = freePort();
      const server = await startNginxTls(
        ports[side],
        `${dir}/${side}`,
        side === "nginxHttps" ? cert : undefined,
        pinning,
      );
      servers.push(server);
      pids[side] = server.pid;
    }
    for (const side of ["koanHttps", "koanHttp"] as const) {
      ports[side] = freePort();
      const tls = side === "koanHttps"
        ? `tls_cert = "${cert.cert}"\ntls_key = "${cert.key}"\n`
        : "";
      const toml = `[[listener]]\nprotocol = "http"\naddress = "127.0.0.1:${
        ports[side]
      }"\n${tls}\n[log]\nfile = "${dir}/${side}.log"\n`;
      const server = await spawnShippedKoan(toml, ports[side]);
      servers.push(server);
      pids[side] = server.pid;
      await pinToServerCpu(server.pid, pinning);
    }
    const url = (side: Side) =>
      `${side.endsWith("Https") ? "https" : "http"}://127.0.0.1:${
        ports[side]
      }/`;
    const sides = Object.keys(LABELS) as Side[];
    for (const side of sides) {
      await wrk({
        port: ports[side],
        url: url(side),
        seconds: 1,
        connections,
        threads: 2,
      }, pinning);
    }
    const runs = Object.fromEntries(
      sides.map((side) => [side, [] as WrkResult[]]),
    ) as Record<Side, WrkResult[]>;
    for (let round = 0; round < rounds; round++) {
      opts.onProgress?.(`round ${round + 1}/${rounds}`);
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        runs[side].push(
          await wrk({
            port: ports[side],
            url: url(side),
            seconds: opts.seconds,
            connections,
            threads: 2,
            pid: pids[side],
          }, pinning),
        );
      }
    }
    const ratio = (a: Side, b: Side) =>
      runs[a].map((run, i) => run.rps / runs[b][i]!.rps);
    return {
      rows: sides.map((side) => summarize(LABELS[side], runs[side])),
      ratios: {
        koanVsNginxHttps: ratio("koanHttps", "nginxHttps"),
        koanVsNginxHttp: ratio("koanHttp", "nginxHttp"),
        koanHttpsVsHttp: ratio("koanHttps", "koanHttp"),
        nginxHttpsVsHttp: ratio("nginxHttps", "nginxHttp"),
      },
      cpuKoanVsNginxHttps: runs.koanHttps.flatMap((run, i) => {
        const mine = run.cpuUsPerRequest;
        const theirs = runs.nginxHttps[i]!.cpuUsPerRequest;
        return mine && theirs ? [theirs / mine] : [];
      }),
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
      rounds: { type: "string", default: "3" },
    },
  });
  const result = await benchTls({
    seconds: Number(values.seconds),
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
