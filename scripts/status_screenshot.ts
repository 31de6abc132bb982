/**
 * Draws `docs/status-page.png`, the status page the README shows, from a
 * real run: koan with an HTTP listener on `processes` and a Zen listener on
 * `threads` (two workers each), Zen and HTTP load that changes pace every
 * twenty seconds, one worker killed (a restart, a crash in the ledger) and
 * one reload on the way, then headless Chromium takes the picture.
 *
 *     deno task status-screenshot [--seconds 150] [--out docs/status-page.png] [--height 1450]
 *
 * Needs Chromium at /usr/bin/chromium. Traffic goes to 127.0.0.1 only and
 * stops by itself. The tests take their own screenshot into
 * `tests/artifacts/`; only this script writes the one in `docs/`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runLoad } from "../mod/bench/load.ts";
import { KOAN_FLAGS, startKoan } from "../mod/bench/spawn_daemon.ts";
import { freePort } from "../mod/net/free_port.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "150" },
    out: { type: "string", default: "docs/status-page.png" },
    height: { type: "string", default: "1450" },
  },
});
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 30 || seconds > 900) {
  console.error(
    `status-screenshot: --seconds must be a whole number from 30 to 900, got "${values.seconds}"`,
  );
  Deno.exit(2);
}

const http = freePort();
const zen = freePort();
const config = (model: string) => `
[[listener]]
protocol = "http"
address = "127.0.0.1:${http}"
model = "processes"
workers = 2

[[listener]]
protocol = "zen"
address = "127.0.0.1:${zen}"
model = "${model}"
workers = 2

[zen]
work = "sleep"
work_ms = 2

[log]
access = false
`;

const daemon = await startKoan({
  run: ["run", "--quiet", ...KOAN_FLAGS],
  config: config("threads"),
  configPrefix: "koan-screenshot-",
  output: ["stderr"],
  listening: [http, zen],
  timeoutMs: 30_000,
});
try {
  const started = Date.now();
  const phases = [8, 32, 16, 48, 4, 24];
  const events: [number, () => Promise<void>][] = [
    [0.45, async () => {
      const report = await (await fetch(`http://127.0.0.1:${http}/status.json`))
        .json();
      // A process worker: a thread's pid is the master's own.
      const pid = report.listeners[0].workers[0].pid as number;
      console.error(`status-screenshot: killing worker ${pid}`);
      Deno.kill(pid, "SIGKILL");
    }],
    [0.7, async () => {
      console.error("status-screenshot: reload, Zen threads -> processes");
      await Deno.writeTextFile(daemon.configPath!, config("processes"));
      daemon.kill("SIGHUP");
      await daemon.waitForLog(/reloaded from/);
    }],
  ];
  for (let phase = 0; Date.now() - started < seconds * 1000; phase++) {
    const left = seconds * 1000 - (Date.now() - started);
    const durationMs = Math.min(20_000, left);
    const connections = phases[phase % phases.length]!;
    const due = events.filter(([at]) =>
      (Date.now() - started + durationMs) / 1000 >= at * seconds
    );
    events.splice(0, due.length);
    await Promise.all([
      runLoad({ port: zen, protocol: "zen", connections, durationMs }),
      runLoad({
        port: http,
        protocol: "http",
        connections: Math.ceil(connections / 4),
        durationMs,
        path: "/healthz",
      }),
      ...due.map(([, act]) =>
        new Promise((resolve) => setTimeout(resolve, durationMs / 2)).then(act)
      ),
    ]);
  }
  // Chromium's own screenshot switch: the page is drawn on the server, so
  // no script has to run first (and no driver library, which would want
  // more permissions than this task grants).
  const shot = await new Deno.Command("/usr/bin/chromium", {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--hide-scrollbars",
      "--no-first-run",
      `--screenshot=${await Deno.realPath(".")}/${values.out}`,
      `--window-size=1280,${values.height}`,
      `http://127.0.0.1:${http}/status`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!shot.success) {
    throw new Error(
      `chromium failed: ${new TextDecoder().decode(shot.stderr)}`,
    );
  }
  console.error(`status-screenshot: wrote ${values.out}`);
} finally {
  await daemon.shutdown();
}
