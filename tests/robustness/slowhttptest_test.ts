/**
 * Debian's `slowhttptest` in slowloris mode against koan `async`: while
 * 300 slow-header connections are held, slowhttptest's own probe must find
 * the service available throughout, and a normal client's requests must
 * all succeed in under 1 s. CI installs slowhttptest; a machine without it
 * fails this test with a clear message.
 */
import assert from "node:assert/strict";
import { freePort, startDaemon } from "../_helpers.ts";
import { httpGet, normalClient, sleep } from "./_load.ts";

const SLOWHTTPTEST = "/usr/bin/slowhttptest";
const CONNECTIONS = 300;
const LENGTH_S = 10;

function installed(): boolean {
  try {
    return Deno.statSync(SLOWHTTPTEST).isFile;
  } catch {
    return false;
  }
}

/** What slowhttptest reported. */
interface Verdict {
  /** Every "service available:" value, in order. */
  available: string[];
  /** Most connections it had open at once. */
  peakConnected: number;
  /** Its closing "Exit status:" line. */
  exitStatus: string;
}

function verdictOf(output: string): Verdict {
  // deno-lint-ignore no-control-regex
  const text = output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
  const available = [...text.matchAll(/service available:\s*(\w+)/g)].map((
    m,
  ) => m[1]!);
  const connected = [...text.matchAll(/connected:\s*(\d+)/g)].map((m) =>
    Number(m[1])
  );
  return {
    available,
    peakConnected: Math.max(0, ...connected),
    exitStatus: /Exit status:\s*([^\n]*)/.exec(text)?.[1]?.trim() ?? "",
  };
}

Deno.test("slowhttptest slowloris against async: service stays available", async () => {
  assert.ok(
    installed(),
    `${SLOWHTTPTEST} is missing: install Debian's slowhttptest (apt-get install slowhttptest); CI has it`,
  );
  const port = freePort();
  await using daemon = await startDaemon(["--http", `127.0.0.1:${port}`], {
    ports: [port],
  });
  await httpGet(port);

  const child = new Deno.Command(SLOWHTTPTEST, {
    args: [
      "-H",
      "-c",
      String(CONNECTIONS),
      "-r",
      "100",
      "-i",
      "1",
      "-l",
      String(LENGTH_S),
      "-p",
      "2",
      "-u",
      `http://127.0.0.1:${port}/`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Bound its run whatever happens.
  const guard = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, (LENGTH_S + 20) * 1000);
  const output = child.output();

  // Let it open its connections, then measure while they are held.
  await sleep(3000);
  const normal = await normalClient({
    httpPort: port,
    zenPort: port,
    durationMs: (LENGTH_S - 4) * 1000,
    httpOnly: true,
  });
  const result = await output;
  clearTimeout(guard);
  const stdout = new TextDecoder().decode(result.stdout) +
    new TextDecoder().decode(result.stderr);
  const verdict = verdictOf(stdout);
  console.log(
    `slowhttptest: peak connected ${verdict.peakConnected}, service available ${
      verdict.available.join(",")
    }, exit "${verdict.exitStatus}"; normal client ${normal.requests} requests, worst ${
      normal.worstMs.toFixed(1)
    } ms, ${normal.failures.length} failed`,
  );

  assert.ok(verdict.available.length >= 2, `no status lines:\n${stdout}`);
  assert.ok(
    verdict.available.every((v) => v === "YES"),
    `service unavailable at some point: ${verdict.available.join(",")}`,
  );
  assert.ok(
    verdict.peakConnected >= CONNECTIONS * 0.9,
    `slowhttptest held only ${verdict.peakConnected} connections`,
  );
  assert.match(verdict.exitStatus, /Hit test time limit|No open connections/);
  assert.deepEqual(normal.failures, []);
  assert.ok(normal.requests >= 20, `only ${normal.requests} normal requests`);
  assert.ok(normal.worstMs < 1000, `worst ${normal.worstMs.toFixed(1)} ms`);
  assert.doesNotMatch(daemon.log, /\bERROR\b/);
});
