/**
 * The drain drill with the real HAProxy: two koans (an HTTP and a Zen
 * listener each) behind the shipped deploy/haproxy.cfg, its addresses
 * moved to loopback ports, `wrk` POSTing to /zen through the HTTP
 * frontend and Zen clients through the `mode tcp` one, both at once. Mid
 * run one koan is stopped (SIGTERM) and started again, or reloaded
 * (SIGHUP) onto other models.
 *
 * The test turns HAProxy's retries off (`retries 0`, no `redispatch`, no
 * `retry-on`): the shipped config resends a failed idempotent request to
 * the other host, which would hide a lost request here; a POST and a Zen
 * connection cannot be resent by any balancer. So what the counts show is
 * the drain itself. With `[limits] drain_delay` nothing may fail; without
 * it the same drill's losses are printed, not asserted: they are the
 * reason for the setting.
 *
 * The figures are printed as one table line per drill ("drill: ...");
 * `deno test --allow-all tests/service/haproxy_drill_test.ts` reproduces
 * them.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  freePort,
  ROOT_DIR,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import {
  delay,
  runTool,
  spawnService,
  tempDir,
  tool,
  ZenLoad,
} from "./_service.ts";

interface Ports {
  http: number;
  zen: number;
}

/** The drill's koan settings: the one the drill changes is `drain`. */
interface BackendOptions {
  /** `[limits] drain_delay = 5`, `drain_probes = 3`. */
  drain: boolean;
  /** HTTP on `processes` and Zen on `threads` (2 workers) instead of `async`. */
  pools?: boolean;
}

/** One koan's config. Access lines off: the drill makes ~100k requests. */
function koanToml(ports: Ports, options: BackendOptions): string {
  const model = (pool: string) =>
    options.pools ? `model = "${pool}"\nworkers = 2` : `model = "async"`;
  return `
[[listener]]
protocol = "http"
address = "127.0.0.1:${ports.http}"
${model("processes")}

[[listener]]
protocol = "zen"
address = "127.0.0.1:${ports.zen}"
${model("threads")}

[limits]
shutdown_timeout = 10
${options.drain ? "drain_delay = 5\ndrain_probes = 3" : "drain_delay = 0"}

[log]
access = false
`;
}

async function startBackend(
  ports: Ports,
  options: BackendOptions,
): Promise<TestDaemon> {
  return await startDaemon([], {
    config: koanToml(ports, options),
    ports: [ports.http, ports.zen],
  });
}

/**
 * The shipped haproxy.cfg on loopback, retries off (see the module
 * comment), only abnormal traffic logged, and an admin socket to read the
 * servers' state from. Its health checks stay as shipped.
 */
async function haproxyConfig(
  dir: string,
  backends: Ports[],
  front: Ports,
): Promise<string> {
  let text = await Deno.readTextFile(`${ROOT_DIR}deploy/haproxy.cfg`);
  const edit = (pattern: RegExp, replacement: string) => {
    assert.match(text, pattern, `deploy/haproxy.cfg has ${pattern}`);
    text = text.replace(pattern, replacement);
  };
  edit(/^(\s*)retries \d+$/m, "$1retries 0");
  edit(/^\s*option redispatch\n/m, "");
  edit(/^\s*retry-on .*\n/m, "");
  // The shipped 20000 needs twice as many descriptors as a test may open.
  edit(/^(\s*maxconn )\d+$/m, "$14096");
  edit(/^(\s*log global)$/m, "$1\n    option dontlog-normal");
  edit(
    /^(global\n)/m,
    `$1    stats socket ${dir}/admin.sock mode 600 level admin\n`,
  );
  edit(/^(\s*bind ):80$/m, `$1127.0.0.1:${front.http}`);
  edit(/^(\s*bind ):1060$/m, `$1127.0.0.1:${front.zen}`);
  backends.forEach((ports, i) => {
    edit(
      new RegExp(`^(\\s*server koan${i + 1} )10\\.0\\.0\\.\\d+:8080 `, "m"),
      `$1127.0.0.1:${ports.http} `,
    );
    edit(
      new RegExp(
        `^(\\s*server koan${i + 1} )10\\.0\\.0\\.\\d+:1060 check port 8080 `,
        "m",
      ),
      `$1127.0.0.1:${ports.zen} check port ${ports.http} `,
    );
  });
  assert.doesNotMatch(text, /10\.0\.0\./);
  const path = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** `show stat` on the admin socket: "backend/server" → UP, DOWN, ... */
async function serverStates(socket: string): Promise<Map<string, string>> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await conn.write(new TextEncoder().encode("show stat\n"));
    let text = "";
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const [header = "", ...rows] = text.trim().split("\n");
    const columns = header.replace(/^# /, "").split(",");
    const status = columns.indexOf("status");
    const states = new Map<string, string>();
    for (const row of rows) {
      const cells = row.split(",");
      states.set(`${cells[0]}/${cells[1]}`, cells[status] ?? "");
    }
    return states;
  } finally {
    conn.close();
  }
}

/** Waits until both of koan1's servers (HTTP, Zen) read `state`. */
async function koan1Is(
  socket: string,
  state: "UP" | "DOWN",
  timeoutMs = 10_000,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    const states = await serverStates(socket);
    if (
      states.get("koan_http/koan1")?.startsWith(state) &&
      states.get("koan_zen/koan1")?.startsWith(state)
    ) {
      return Date.now() - started;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(
        `koan1 not ${state} after ${timeoutMs} ms: ${
          JSON.stringify([
            ...states,
          ])
        }`,
      );
    }
    await delay(50);
  }
}

/** What wrk reports. */
interface WrkResult {
  requests: number;
  non2xx: number;
  socketErrors: number;
  /** "connect A, read B, write C, timeout D", or "none". */
  errors: string;
}

function parseWrk(output: string): WrkResult {
  const requests = /(\d+) requests in /.exec(output);
  assert.ok(requests, `wrk printed no request count:\n${output}`);
  const non2xx = Number(
    /Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0,
  );
  const errors =
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
      .exec(output);
  const socketErrors = errors
    ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0)
    : 0;
  return {
    requests: Number(requests[1]),
    non2xx,
    socketErrors,
    errors: errors ? errors[0].replace("Socket errors: ", "") : "none",
  };
}

/** wrk POSTing a Zen question to /zen for `seconds`. */
async function runWrk(
  dir: string,
  port: number,
  seconds: number,
): Promise<WrkResult> {
  const script = `${dir}/post.lua`;
  await Deno.writeTextFile(
    script,
    [
      'wrk.method = "POST"',
      'wrk.body = "Beautiful is better than?"',
      'wrk.headers["Content-Type"] = "text/plain"',
      "",
    ].join("\n"),
  );
  const run = await runTool(tool("wrk"), [
    "-t2",
    "-c20",
    `-d${seconds}s`,
    "--timeout",
    "2s",
    "-s",
    script,
    `http://127.0.0.1:${port}/zen`,
  ], { timeoutMs: (seconds + 10) * 1000 });
  assert.equal(run.code, 0, run.stderr);
  return parseWrk(run.stdout);
}

/** What one drill did to koan1 while the load ran. */
type Step = (
  koan1: TestDaemon,
  ports: Ports,
  admin: string,
) => Promise<TestDaemon>;

interface DrillResult {
  wrk: WrkResult;
  zen: { ok: number; failed: number; errors: string[] };
}

/**
 * Two koans behind HAProxy, wrk and Zen clients for `seconds`; `step`
 * runs one second in and returns koan1 as it is afterwards (a new process
 * after a restart). Prints the table line; every process is stopped.
 */
async function drill(
  name: string,
  options: BackendOptions,
  step: Step,
  seconds = 8,
): Promise<DrillResult> {
  await using dir = await tempDir();
  const ports = [
    { http: freePort(), zen: freePort() },
    { http: freePort(), zen: freePort() },
  ];
  const front = { http: freePort(), zen: freePort() };
  const started = await Promise.allSettled(
    ports.map((p) => startBackend(p, options)),
  );
  const koans = started.flatMap((s) =>
    s.status === "fulfilled" ? [s.value] : []
  );
  let haproxy: TestDaemon | undefined;
  try {
    assert.equal(koans.length, 2, "both koans started");
    const conf = await haproxyConfig(dir.path, ports, front);
    const check = await runTool(tool("haproxy"), ["-c", "-f", conf]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    haproxy = spawnService(tool("haproxy"), ["-db", "-f", conf]);
    const admin = `${dir.path}/admin.sock`;
    for (let i = 0;; i++) {
      try {
        await serverStates(admin);
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound) || i > 100) {
          throw new Error(`HAProxy did not start:\n${haproxy.log}`);
        }
        await delay(50);
      }
    }
    await koan1Is(admin, "UP");
    const zen = new ZenLoad(front.zen, { clients: 4, timeoutMs: 3000 });
    const load = runWrk(dir.path, front.http, seconds);
    await delay(1000);
    koans[0] = await step(koans[0]!, ports[0]!, admin);
    const wrk = await load;
    const zenResult = await zen.stop();
    // koan1 serves again: it is back in rotation for both protocols.
    await koan1Is(admin, "UP", 1000);
    const result = { wrk, zen: zenResult };
    console.log(
      `drill: ${
        name.padEnd(40)
      } wrk ${wrk.requests} requests, ${wrk.non2xx} non-2xx, ${wrk.socketErrors} socket errors (${wrk.errors}); zen ${zenResult.ok} ok, ${zenResult.failed} failed`,
    );
    for (const error of zenResult.errors) console.log(`  zen: ${error}`);
    return result;
  } finally {
    if (haproxy) {
      haproxy.kill("SIGKILL");
      await haproxy.exited;
    }
    await Promise.all(koans.map((koan) => koan.shutdown(5000)));
  }
}

/** SIGTERM koan1, wait for its exit, start it again on the same ports. */
function restart(options: BackendOptions): Step {
  return async (koan1, ports, admin) => {
    koan1.kill("SIGTERM");
    const status = await koan1.exited;
    assert.equal(status.code, 0, koan1.log);
    if (options.drain) {
      // HAProxy took it out before it stopped accepting.
      assert.match(koan1.log, /drain: readyz probed 3 times/);
    }
    await koan1.shutdown(); // removes its config file
    const again = await startBackend(ports, options);
    await koan1Is(admin, "UP");
    return again;
  };
}

/** Moves koan1's listeners onto pools by a reload (SIGHUP). */
function moveToPools(options: BackendOptions): Step {
  return async (koan1, ports, admin) => {
    await Deno.writeTextFile(
      koan1.configPath!,
      koanToml(ports, { ...options, pools: true }),
    );
    const sent = Date.now();
    koan1.kill("SIGHUP");
    await koan1.waitForLog(/reloaded from/);
    console.log(`drill: the move took ${Date.now() - sent} ms`);
    // HAProxy saw the 503 before the old listeners closed their idle
    // keep-alive connections (which it would otherwise still reuse).
    assert.match(koan1.log, /reload: readyz probed 3 times while not ready/);
    await koan1Is(admin, "UP");
    return koan1;
  };
}

/** The drill ran: wrk made requests through both koans, Zen clients too. */
function assertRan({ wrk, zen }: DrillResult): void {
  assert.ok(wrk.requests > 5000, `wrk made ${wrk.requests} requests`);
  assert.ok(zen.ok > 200, `Zen clients got ${zen.ok} answers`);
}

function assertLossless(result: DrillResult): void {
  assertRan(result);
  assert.equal(result.wrk.non2xx, 0, "no non-2xx answer at wrk");
  assert.equal(result.wrk.socketErrors, 0, `wrk: ${result.wrk.errors}`);
  assert.equal(result.zen.failed, 0, result.zen.errors.join("\n"));
}

Deno.test("haproxy drill: with drain_delay, a TERM and restart of one koan loses no POST and no Zen connection (retries off)", async () => {
  const options = { drain: true };
  assertLossless(
    await drill("restart, drain_delay = 5", options, restart(options)),
  );
});

Deno.test("haproxy drill: without drain_delay, the same restart loses requests (printed)", async () => {
  const options = { drain: false };
  assertRan(
    await drill("restart, drain_delay = 0", options, restart(options)),
  );
});

Deno.test("haproxy drill: a reload that moves both listeners onto pools loses no POST and no Zen connection (retries off)", async () => {
  const options = { drain: true };
  assertLossless(
    await drill("reload async -> pools", options, moveToPools(options)),
  );
});
