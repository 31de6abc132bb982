/**
 * Helpers for the service tests: real tools found on the machine (CI
 * installs them, see .ci/run), a fake `$NOTIFY_SOCKET`, a steady Zen load
 * that counts every failed request, and a `koan` wrapper script for tools
 * that start koan by path (xinetd, systemd-socket-activate, systemd-analyze).
 *
 * @module
 */
import { MAIN, readUntil, send, TestDaemon } from "../_helpers.ts";

const decoder = new TextDecoder();

const SEARCH_PATH = [
  ...(Deno.env.get("PATH") ?? "").split(":"),
  "/usr/local/sbin",
  "/usr/sbin",
  "/sbin",
];

/**
 * The absolute path of a tool the service tests drive. Throws (failing the
 * test, not skipping it) when it is missing: .ci/run installs every one.
 */
export function tool(name: string): string {
  for (const dir of SEARCH_PATH) {
    if (!dir) continue;
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && (info.mode ?? 0o111) & 0o111) return path;
    } catch {
      // Not in this directory.
    }
  }
  throw new Error(`${name} is not installed; .ci/run installs it`);
}

/** A temporary directory removed by `await using`. */
export async function tempDir(): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix: "koan-service-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Writes an executable `koan` in `dir` that runs this checkout with
 * `deno run -A`, with the environment a bare service manager would not
 * pass (DENO_DIR, HOME). Returns its path.
 */
export async function koanWrapper(dir: string): Promise<string> {
  const path = `${dir}/koan`;
  const denoDir = Deno.env.get("DENO_DIR") ??
    `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`;
  await Deno.writeTextFile(
    path,
    [
      "#!/bin/sh",
      `export DENO_DIR='${denoDir}' HOME='${Deno.env.get("HOME") ?? "/root"}'`,
      `exec '${Deno.execPath()}' run -A --quiet '${MAIN}' "$@"`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** Starts any command with its output collected like a daemon's. */
export function spawnService(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): TestDaemon {
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new TestDaemon(child);
}

/** The `deno run` arguments that start this checkout's koan. */
export function koanArgs(args: string[]): string[] {
  return [Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args];
}

/** A unix datagram socket standing in for systemd's notify socket. */
export class FakeNotifySocket implements AsyncDisposable {
  readonly path: string;
  readonly messages: string[] = [];
  #socket: Deno.DatagramConn;
  #wake: (() => void)[] = [];
  #done: Promise<void>;

  constructor(dir: string) {
    this.path = `${dir}/notify.sock`;
    this.#socket = Deno.listenDatagram({
      transport: "unixpacket",
      path: this.path,
    });
    this.#done = this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const [data] = await this.#socket.receive();
        this.messages.push(decoder.decode(data));
        for (const wake of this.#wake.splice(0)) wake();
      }
    } catch {
      // Closed.
    }
  }

  /** Messages as `KEY=value` line lists. */
  get fields(): Record<string, string>[] {
    return this.messages.map((message) =>
      Object.fromEntries(
        message.split("\n").map((line) => {
          const eq = line.indexOf("=");
          return [line.slice(0, eq), line.slice(eq + 1)];
        }),
      )
    );
  }

  /** Waits until `count` messages satisfy `test`; returns the first such message's index. */
  async waitFor(
    test: (fields: Record<string, string>) => boolean,
    options: { after?: number; timeoutMs?: number } = {},
  ): Promise<number> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    for (;;) {
      const index = this.fields.findIndex((f, i) =>
        i >= (options.after ?? 0) && test(f)
      );
      if (index >= 0) return index;
      if (Date.now() > deadline) {
        throw new Error(
          `no matching notify message; got:\n${this.messages.join("\n--\n")}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    await this.#done;
  }
}

/** Result of a {@linkcode ZenLoad}. */
export interface LoadResult {
  ok: number;
  failed: number;
  /** The first few failures, for the assertion message. */
  errors: string[];
}

/** Options for {@linkcode ZenLoad}. */
export interface ZenLoadOptions {
  /** Concurrent clients. @default {4} */
  clients?: number;
  /** Per-request timeout. @default {5000} */
  timeoutMs?: number;
  /** Questions asked per connection. @default {1} */
  questionsPerConnection?: number;
  /** Pause between connections of one client. @default {5} */
  pauseMs?: number;
}

/**
 * Steady Zen traffic: each client connects, asks, checks the answer,
 * closes, and again, until {@linkcode stop}. Every refused, reset,
 * timed-out or wrong exchange counts as failed.
 */
export class ZenLoad {
  #port: number;
  #options: Required<ZenLoadOptions>;
  #stopped = false;
  #clients: Promise<void>[] = [];
  readonly result: LoadResult = { ok: 0, failed: 0, errors: [] };

  constructor(port: number, options: ZenLoadOptions = {}) {
    this.#port = port;
    this.#options = {
      clients: 4,
      timeoutMs: 5000,
      questionsPerConnection: 1,
      pauseMs: 5,
      ...options,
    };
    for (let i = 0; i < this.#options.clients; i++) {
      this.#clients.push(this.#client());
    }
  }

  #fail(why: string): void {
    this.result.failed++;
    if (this.result.errors.length < 5) {
      this.result.errors.push(`${new Date().toISOString()} ${why}`);
    }
  }

  async #client(): Promise<void> {
    // Bounded by stop() and by a hard cap on iterations.
    for (let i = 0; i < 100_000 && !this.#stopped; i++) {
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port: this.#port });
        for (let q = 0; q < this.#options.questionsPerConnection; q++) {
          await send(conn, "Beautiful is better than?");
          const reply = await readUntil(conn, ".", this.#options.timeoutMs);
          if (reply.text.trim() !== "ugly.") {
            this.#fail(
              `answer ${JSON.stringify(reply.text)}${
                reply.timedOut
                  ? " (timed out)"
                  : reply.closed
                  ? " (closed)"
                  : ""
              }`,
            );
            break;
          }
          this.result.ok++;
        }
      } catch (error) {
        this.#fail((error as Error).message);
      } finally {
        try {
          conn?.close();
        } catch {
          // Closed by readUntil's timeout.
        }
      }
      await new Promise((resolve) =>
        setTimeout(resolve, this.#options.pauseMs)
      );
    }
  }

  /** Waits until at least `n` requests succeeded (or `timeoutMs` passed). */
  async reach(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.result.ok < n && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the clients and returns the counts. */
  async stop(): Promise<LoadResult> {
    this.#stopped = true;
    await Promise.all(this.#clients);
    return this.result;
  }
}

/** Sleeps. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a command printed and how it ended. */
export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` to its end with `input` on stdin (none when absent),
 * killed after `timeoutMs`.
 */
export async function runTool(
  command: string,
  args: string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<ToolRun> {
  const child = new Deno.Command(command, {
    args,
    stdin: options.input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch (error) {
      // Exited in the meantime: Deno 2.9 throws TypeError.
      if (!(error instanceof TypeError)) throw error;
    }
  }, options.timeoutMs ?? 15_000);
  if (options.input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.input));
    await writer.close();
  }
  const output = await child.output();
  clearTimeout(timer);
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * An nginx.conf for a test: one process in the foreground, its pid, error
 * log and temp files in `dir`, and the `http` and `stream` blocks' lines
 * (the stream module loaded only for a `stream` block).
 */
export function nginxConf(
  dir: string,
  blocks: { http?: string[]; stream?: string[] },
): string {
  const indent = (lines: string[]) => lines.map((line) => `  ${line}`);
  return [
    ...(blocks.stream
      ? ["load_module /usr/lib/nginx/modules/ngx_stream_module.so;"]
      : []),
    "daemon off;",
    "master_process off;",
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    "events { worker_connections 512; }",
    ...(blocks.stream ? ["stream {", ...indent(blocks.stream), "}"] : []),
    ...(blocks.http
      ? [
        "http {",
        "  access_log off;",
        ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) =>
          `  ${t}_temp_path ${dir}/${t};`
        ),
        ...indent(blocks.http),
        "}",
      ]
      : []),
    "",
  ].join("\n");
}
