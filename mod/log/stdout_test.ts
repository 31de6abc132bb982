import assert from "node:assert/strict";
import {
  routeStdout,
  setStdoutOwner,
  StdoutUnavailableError,
  writeStdout,
} from "./stdout.ts";
import { openDestination } from "./destination.ts";

const LOG = new URL("./log.ts", import.meta.url).href;
const ACCESS = new URL("./access_log.ts", import.meta.url).href;

/**
 * Runs `body` (module code, with `setupLogging`, `flushLogs`, `log`,
 * `writeAccess`, `accessStats` and `record` in scope) in a Deno with read
 * and write permissions only, as a koan worker has them: Deno opens
 * /dev/stdout only under --allow-all, so the lines can only get there
 * unopened. Returns what it printed.
 */
async function runSnippet(
  body: string,
): Promise<{ stdout: string; stderr: string }> {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    script,
    [
      `import { flushLogs, log, setupLogging } from "${LOG}";`,
      `import { accessStats, writeAccess } from "${ACCESS}";`,
      `const record = { peer: "192.0.2.1", protocol: "zen", bytesIn: 25, bytesOut: 5, durationMs: 1, outcome: "closed normally" };`,
      body,
    ].join("\n"),
  );
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--no-prompt",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        "--allow-read",
        "--allow-write",
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const result = {
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    assert.equal(output.code, 0, result.stderr);
    return result;
  } finally {
    await Deno.remove(script);
  }
}

const SETTINGS = (tag: string) =>
  `setupLogging({ level: "info", format: "text", file: "/dev/stderr", access: true, access_format: "$worker $outcome", access_file: "/dev/stdout" }, { tag: "${tag}" });`;

Deno.test("in the master /dev/stdout and /dev/stderr are fd 1 and fd 2, never opened", async () => {
  const { stdout, stderr } = await runSnippet(`
    ${SETTINGS("master")}
    writeAccess(record);
    log("test").info("on stderr");
    await flushLogs();
  `);
  assert.equal(stdout, "master closed normally\n");
  assert.match(stderr, /INFO {2}\[master \d+\] koan\.test: on stderr\n$/);
});

Deno.test("a worker thread writes /dev/stdout lines to the process's fd 1", async () => {
  const { stdout } = await runSnippet(`
    const source = [
      'import { flushLogs, setupLogging } from "${LOG}";',
      'import { writeAccess } from "${ACCESS}";',
      ${JSON.stringify(SETTINGS("w1"))},
      'writeAccess(' + JSON.stringify(record) + ');',
      'await flushLogs();',
      'postMessage("done");',
    ].join("\\n");
    const url = URL.createObjectURL(new Blob([source], { type: "application/javascript" }));
    const worker = new Worker(url, { type: "module" });
    await new Promise((resolve) => worker.onmessage = resolve);
    worker.terminate();
  `);
  assert.equal(stdout, "w1 closed normally\n");
});

Deno.test("a child process's /dev/stdout lines never reach its fd 1 unrouted: counted lost, said once", async () => {
  const { stdout, stderr } = await runSnippet(`
    ${SETTINGS("w1")}
    writeAccess(record);
    await flushLogs();
    if (accessStats().lost !== 1) throw new Error("not counted");
  `);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /ERROR \[w1 \d+\] koan\.log: access log: cannot write to stdout: Cannot write to stdout: in this process it is not the daemon's/,
  );
});

Deno.test("routeStdout() sends the lines to the relay, whole", () => {
  const seen: string[] = [];
  setStdoutOwner(false);
  try {
    const stdout = openDestination("/dev/stdout");
    assert.equal(stdout.name, "stdout");
    assert.throws(
      () => stdout.write(new TextEncoder().encode("a\n")),
      StdoutUnavailableError,
    );
    routeStdout((bytes) => seen.push(new TextDecoder().decode(bytes)));
    // Lines of 100 bytes: pieces of at most PIPE_BUF (4096), cut at line ends.
    const line = "x".repeat(99) + "\n";
    stdout.write(new TextEncoder().encode(line.repeat(50)));
    writeStdout(new TextEncoder().encode("b\n"));
  } finally {
    routeStdout(undefined);
    setStdoutOwner(true);
  }
  assert.deepEqual(seen.map((piece) => piece.length), [4000, 1000, 2]);
  assert.ok(seen.every((piece) => piece.endsWith("\n")));
});
