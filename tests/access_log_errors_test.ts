/**
 * Issue 13 end to end: the real daemon with `[log] access_file =
 * "/dev/full"` (every write fails with ENOSPC, as on a full disk; a dead
 * syslog socket for child processes) keeps serving, reports the failure
 * once per worker, and `/metrics` and `/status.json` count the lines lost,
 * summed over every worker: in the master (`async`), in threads and in
 * child processes, and the master's own losses as seen from a thread that
 * serves `/metrics`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  ask,
  eventually,
  freePort,
  startDaemon,
  type TestDaemon,
} from "./_helpers.ts";

/** The error each isolate that fails to write logs once: its tags. */
function reporters(log: string, destination: string): string[] {
  const escaped = destination.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const pattern = new RegExp(
    `ERROR +\\[(\\w+) \\d+\\] koan\\.log: access log: cannot write to ${escaped}: `,
    "g",
  );
  return [...log.matchAll(pattern)].map((match) => match[1]!);
}

/** koan with an HTTP and a Zen listener, every access line to `access`. */
async function serve(
  httpModel: string,
  zenModel: string,
  access: string,
): Promise<{ daemon: TestDaemon; http: number; zen: number }> {
  const http = freePort();
  const zen = freePort();
  const listener = (protocol: string, port: number, model: string) =>
    `[[listener]]\nprotocol = "${protocol}"\naddress = "127.0.0.1:${port}"\nmodel = "${model}"\n` +
    (model === "threads" || model === "processes" ? "workers = 2\n" : "");
  const daemon = await startDaemon([], {
    ports: [http, zen],
    timeoutMs: 30_000,
    config: listener("http", http, httpModel) +
      listener("zen", zen, zenModel) + `[log]\naccess_file = "${access}"\n`,
  });
  return { daemon, http, zen };
}

/** Fetches `path`, returns status and body. */
async function get(port: number, path: string): Promise<[number, string]> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return [response.status, await response.text()];
}

function counter(text: string, name: string): number {
  const match = text.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(match, `no ${name} on /metrics:\n${text}`);
  return Number(match[1]);
}

const CASES = [
  { http: "async", zen: "async", access: "full" },
  { http: "threads", zen: "threads", access: "full" },
  // A child process cannot open /dev/full: Deno 2.9 lets only --allow-all
  // open files under /dev, and workers are never given it. A syslog socket
  // nobody listens on fails every send instead.
  { http: "processes", zen: "processes", access: "dead syslog" },
  // The Zen lines are the master's own; /metrics is served by a thread.
  { http: "threads", zen: "async", access: "full" },
] as const;

for (const models of CASES) {
  Deno.test(`a failing access_file costs lines, counted on /metrics, never the service (http ${models.http}, zen ${models.zen}, ${models.access})`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "koan-access-errors-" });
    try {
      // /dev/full: every write fails with ENOSPC, as on a full disk.
      await lose(
        models.http,
        models.zen,
        models.access === "full" ? "/dev/full" : `syslog:${dir}/missing.sock`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

async function lose(
  httpModel: string,
  zenModel: string,
  access: string,
): Promise<void> {
  const { daemon, http, zen } = await serve(httpModel, zenModel, access);
  await using _daemon = daemon;
  const HTTP_LINES = 6;
  // Scrapes are HTTP requests whose lines are lost too, so they are paced
  // (SCRAPE_MS apart for at most SCRAPE_LIMIT_MS: 60 scrapes at most) and
  // the Zen lines outnumber them: a count missing the Zen side (the Zen
  // pool's workers, or the master's own lines in the mixed case) cannot
  // reach the total on the scrapes' lines alone.
  const ZEN_LINES = 100;
  const SCRAPE_MS = 250;
  const SCRAPE_LIMIT_MS = 15_000;
  for (let i = 0; i < HTTP_LINES; i++) {
    assert.deepEqual(await get(http, "/"), [200, "Hello, world!"]);
  }
  for (let i = 0; i < ZEN_LINES; i++) {
    assert.deepEqual(await ask(zen, ["Readability?"]), ["counts."]);
  }
  const expected = HTTP_LINES + ZEN_LINES;
  let scrapes = 0;
  let text = "";
  for (const deadline = Date.now() + SCRAPE_LIMIT_MS;;) {
    const [status, body] = await get(http, "/metrics");
    assert.equal(status, 200);
    scrapes++;
    text = body;
    if (counter(text, "koan_access_log_lost_lines_total") >= expected) break;
    assert.ok(
      Date.now() < deadline,
      `koan_access_log_lost_lines_total never reached ${expected}:\n${text}`,
    );
    await new Promise((resolve) => setTimeout(resolve, SCRAPE_MS));
  }
  const lost = counter(text, "koan_access_log_lost_lines_total");
  assert.ok(
    lost <= expected + scrapes - 1,
    `${lost} lines lost, at most ${expected + scrapes - 1} were written`,
  );
  const errors = counter(text, "koan_access_log_write_errors_total");
  assert.ok(errors >= 1 && errors <= lost, `${errors} write errors`);
  assert.match(text, /# TYPE koan_access_log_lost_lines_total counter\n/);

  // /status.json: the same counts (live in the isolate that serves it).
  await eventually(async () => {
    const [status, body] = await get(http, "/status.json");
    if (status !== 200) return false; // a worker before its first push
    return JSON.parse(body).accessLogLostLines >= lost;
  }, "accessLogLostLines on /status.json");

  // Still serving, and each isolate that writes reported it once.
  assert.deepEqual(await get(http, "/healthz"), [200, "ok"]);
  assert.deepEqual(await ask(zen, ["Flat is better than?"]), ["nested."]);
  const tags = reporters(daemon.log, access);
  assert.ok(tags.length >= 1, daemon.log);
  assert.equal(new Set(tags).size, tags.length, daemon.log);
  if (zenModel === "async") assert.ok(tags.includes("master"), daemon.log);
  assert.equal((await daemon.shutdown()).code, 0, daemon.log);
}
