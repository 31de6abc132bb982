/**
 * nginx as the HTTP peer of `deno task bench`: Debian's nginx started from
 * a config written into a temp dir (pid, error log and temp paths inside
 * it, so no root and no /var), one worker process, answering every request
 * with "Hello, world!" as text/plain and writing its access log to a file
 * in the default combined format, as nginx ships.
 *
 * @module
 */
import { spawnDaemon } from "../spawn_daemon.ts";
import { hasCommand, onCpu } from "./_host.ts";

/** Where Debian installs nginx. */
export const NGINX = "/usr/sbin/nginx";

/** Options for {@linkcode startNginx}. */
export interface NginxOptions {
  port: number;
  /** A directory for the config, pid, logs and temp files. */
  dir: string;
  /** Start it on CPU 0 through taskset. @default {false} */
  pinning?: boolean;
}

/** A running nginx. */
export interface Nginx {
  /** The master's pid; its worker is its child. */
  pid: number;
  port: number;
  /** The access log it writes. */
  accessLog: string;
  /** SIGTERM (fast shutdown), then wait. */
  stop(): Promise<void>;
}

/**
 * The config: what nginx needs to run unprivileged from `dir`, and the
 * hello-world server; everything else at nginx's defaults.
 *
 * @example Usage
 * ```ts
 * import { nginxConfig } from "./nginx.ts";
 * const conf = nginxConfig({ port: 8080, dir: "/tmp/x" });
 * if (!conf.includes('return 200 "Hello, world!";')) throw new Error(conf);
 * ```
 */
export function nginxConfig(options: NginxOptions): string {
  const dir = options.dir;
  return [
    "worker_processes 1;",
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    "events { worker_connections 1024; }",
    "http {",
    "  default_type text/plain;",
    // No format named: nginx's predefined "combined".
    `  access_log ${dir}/access.log;`,
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) =>
      `  ${t}_temp_path ${dir}/${t};`
    ),
    "  server {",
    `    listen 127.0.0.1:${options.port};`,
    '    location / { return 200 "Hello, world!"; }',
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * Writes the config into `dir`, starts nginx in the foreground and waits
 * until it accepts connections.
 *
 * @throws {Error} when nginx is not installed or does not start.
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  if (!await hasCommand(NGINX)) {
    throw new Error(
      `${NGINX} not found: install Debian's "nginx-light" package`,
    );
  }
  const conf = `${options.dir}/nginx.conf`;
  await Deno.writeTextFile(conf, nginxConfig(options));
  const { command, args } = onCpu(options.pinning ?? false, 0, NGINX, [
    "-p",
    options.dir,
    "-e",
    `${options.dir}/error.log`,
    "-c",
    conf,
    "-g",
    "daemon off;",
  ]);
  const daemon = await spawnDaemon({
    command,
    args,
    output: ["stderr"],
    accepting: [options.port],
    timeoutMs: 20_000,
  }).catch(async (error: Error) => {
    const log = await Deno.readTextFile(`${options.dir}/error.log`).catch(
      // Any failure to read it: it was never written; the cause says more.
      () => "",
    );
    throw new Error(`nginx did not start: ${log.trim()}`, { cause: error });
  });
  return {
    pid: daemon.pid,
    port: options.port,
    accessLog: `${options.dir}/access.log`,
    async stop() {
      await daemon.shutdown(10_000);
    },
  };
}
