/**
 * `koan status`: what the running daemon's `/status.json` says, as a
 * table for a terminal (listeners, models, workers, connections,
 * requests a second, uptime), as `systemctl status` and `apachectl
 * status` show theirs.
 *
 * The daemon is found by its pid file as every control command finds it
 * (`daemon_pid.ts`), and is "not running" (exit 3, LSB's code for it)
 * when the pid file is missing or names no running process. The report
 * is fetched from `--url`, or from the config's first plain HTTP listener
 * this host can reach as a loopback peer (the admin routes answer only
 * loopback peers by default): `0.0.0.0` is asked on `127.0.0.1`, `[::]`
 * on `[::1]`. TLS, PROXY protocol and unix-socket listeners are passed
 * over.
 *
 * Exit codes: 0 shown; 1 no listener to ask, no answer, or a pid file
 * refused (a symlink); 2 usage, or no pid file configured; 3 not running.
 *
 * @module
 */
import { parseAddress } from "../config/address.ts";
import type { Config, ListenerConfig } from "../config/settings.ts";
import type { StatusReport } from "../metrics/status.ts";
import { EXIT } from "../util/exit.ts";
import { UsageError } from "../util/usage.ts";
import {
  parseFlags,
  PID_OPTIONS,
  pidSource,
  processRuns,
  readPid,
} from "./daemon_pid.ts";

/** `koan status`'s exit code for a daemon that is not running (LSB). */
export const NOT_RUNNING = 3;

/** How long `koan status` waits for `/status.json`. */
const FETCH_TIMEOUT_MS = 5000;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The host to connect to for a listener bound to `hostname`, if loopback can reach it. */
function loopbackHost(hostname: string, admin: string): string | undefined {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname === "::") return "[::1]";
  if (LOOPBACK.test(hostname) || admin === "on") {
    return hostname.includes(":") ? `[${hostname}]` : hostname;
  }
  return undefined;
}

/**
 * The `/status.json` URL of the first listener of `config` that this host
 * can ask, or undefined.
 *
 * @example Usage
 * ```ts
 * import { statusUrl } from "./status.ts";
 * import { buildConfig } from "../config/load.ts";
 * const { config } = await buildConfig({
 *   listener: [{ protocol: "http", address: ":8080" }],
 * });
 * if (statusUrl(config) !== "http://127.0.0.1:8080/status.json") throw new Error();
 * ```
 */
export function statusUrl(config: Config): string | undefined {
  if (config.http.admin === "off") return undefined;
  const usable = (listener: ListenerConfig) =>
    listener.protocol === "http" && !listener.tls_cert &&
    !listener.proxy_protocol;
  for (const listener of config.listener.filter(usable)) {
    const address = parseAddress(listener.address);
    if (address.path !== undefined) continue;
    const host = loopbackHost(address.hostname, config.http.admin);
    if (host) return `http://${host}:${address.port}/status.json`;
  }
  return undefined;
}

/** `93784` → `1d 2h 3m 4s`; seconds under a minute with no larger unit. */
function duration(seconds: number): string {
  let rest = Math.floor(seconds);
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (rest >= size || parts.length > 0) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  parts.push(`${rest}s`);
  return parts.join(" ");
}

/** Rows as columns padded to their widest cell. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) =>
    Math.max(...rows.map((row) => row[i]!.length))
  );
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!))
      .join("  ")
  );
}

/**
 * A status report as lines for a terminal.
 *
 * @example Usage
 * ```ts
 * import { formatStatus } from "./status.ts";
 * const lines = formatStatus({
 *   version: "1.0.0", pid: 42, uptimeSeconds: 75, draining: false,
 *   listeners: [{ protocol: "zen", address: "127.0.0.1:1060", model: "async",
 *     connections: 0, workers: [] }],
 *   connections: 0, qps: 0, p99Ms: 0, windowSeconds: 60, restarts: 0, reloads: 0,
 * });
 * if (!lines[0]!.includes("up 1m 15s")) throw new Error(lines[0]);
 * ```
 */
export function formatStatus(report: StatusReport): string[] {
  const lost =
    (report.lostConnections
      ? `, ${report.lostConnections} connections lost`
      : "") +
    (report.accessLogLostLines
      ? `, ${report.accessLogLostLines} access lines lost`
      : "");
  const p50 = report.p50Ms === undefined
    ? ""
    : `p50 ${report.p50Ms.toFixed(1)} ms, `;
  return [
    `koan ${report.version}, pid ${report.pid}, ${
      report.draining ? "draining" : "running"
    }, up ${duration(report.uptimeSeconds)}`,
    `${report.connections} connections open, ${
      report.qps.toFixed(1)
    } requests/s, ${p50}p99 ${report.p99Ms.toFixed(1)} ms (last ${
      Math.round(report.windowSeconds)
    } s), ${report.reloads} reloads, ${report.restarts} worker restarts${lost}`,
    "",
    ...table([
      ["PROTOCOL", "ADDRESS", "MODEL", "WORKERS", "CONNECTIONS"],
      ...report.listeners.map((listener) => [
        listener.protocol,
        listener.address,
        listener.model,
        String(listener.workers.length),
        String(listener.connections),
      ]),
    ]),
  ];
}

/**
 * How long `koan status` retries a 503: a pool's workers get the master's
 * report about a second after they start.
 */
const NOT_READY_MS = 3000;

/** Fetches the report; undefined (after one line on stderr) when there is none. */
async function fetchReport(url: string): Promise<StatusReport | undefined> {
  const deadline = Date.now() + NOT_READY_MS;
  let response: Response;
  for (;;) {
    try {
      response = await fetch(url, {
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error;
      console.error(
        `koan: cannot get the status: no answer from ${url} (${
          (error as Error).message
        })`,
      );
      return undefined;
    }
    if (response.status !== 503 || Date.now() >= deadline) break;
    await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (!response.ok) {
    await response.body?.cancel();
    console.error(
      `koan: cannot get the status: ${url} answered ${response.status}${
        response.status === 404
          ? " (is [http] admin off, or not loopback?)"
          : ""
      }`,
    );
    return undefined;
  }
  try {
    return await response.json() as StatusReport;
  } catch (error) {
    console.error(
      `koan: cannot get the status: ${url} sent no status report (${
        (error as Error).message
      })`,
    );
    return undefined;
  }
}

/**
 * `koan status`: prints the daemon's status; resolves with the exit code
 * ({@linkcode NOT_RUNNING} when it is not running).
 *
 * @example Usage
 * ```ts
 * import { NOT_RUNNING, runStatus } from "./status.ts";
 * const original = console.error;
 * console.error = () => {};
 * const code = await runStatus([
 *   "--pid-file", "/nonexistent/koan.pid", "--url", "http://127.0.0.1:1/status.json",
 * ]);
 * console.error = original;
 * if (code !== NOT_RUNNING) throw new Error("no pid file is not running");
 * ```
 */
export async function runStatus(args: string[]): Promise<number> {
  const flags = parseFlags(args, { ...PID_OPTIONS, url: { type: "string" } });
  if (flags.url !== undefined && !/^https?:\/\/./.test(flags.url)) {
    throw new UsageError(`--url must be an http:// URL, not "${flags.url}"`);
  }
  if (flags.url === undefined && flags["pid-file"] !== undefined) {
    throw new UsageError(
      "--pid-file needs --url: the listener to ask is found in the config",
    );
  }
  const source = await pidSource(flags, {
    command: "status",
    sections: ["http"],
    listeners: flags.url === undefined,
  });
  const read = await readPid(source);
  if ("problem" in read) {
    console.error(`koan: ${read.message}`);
    return read.problem === "absent" ? NOT_RUNNING : EXIT.failure;
  }
  if (!processRuns(read.pid)) {
    console.error(
      `koan: not running: no process ${read.pid}; pid file "${source.path}" is stale`,
    );
    return NOT_RUNNING;
  }
  const url = flags.url ?? (source.config && statusUrl(source.config));
  if (url === undefined) {
    console.error(
      `koan: cannot get the status of pid ${read.pid}: the config has no plain HTTP listener this host can ask as a loopback peer (or [http] admin is off); give --url`,
    );
    return EXIT.failure;
  }
  const report = await fetchReport(url);
  if (report === undefined) return EXIT.failure;
  console.log(formatStatus(report).join("\n"));
  return EXIT.ok;
}
