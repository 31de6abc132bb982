import assert from "node:assert/strict";
import {
  accessEnabled,
  accessHeaderNames,
  type AccessRecord,
  accessStats,
  BUFFER_BYTES,
  closeAccess,
  configureAccess,
  FLUSH_MS,
  flushAccess,
  reopenAccess,
  writeAccess,
} from "./access_log.ts";
import { flushLogs, log, reopenLogs, setupLogging } from "./log.ts";
import { withLogFile } from "./_testing.ts";

const PID = Deno.pid;

const request: AccessRecord = {
  protocol: "http",
  peer: "10.0.0.1:4242",
  bytesIn: 78,
  bytesOut: 512,
  durationMs: 15.25,
  outcome: "closed normally",
  status: 200,
  fields: { method: "GET", target: "/x" },
  version: "HTTP/1.1",
  bodyBytes: 400,
  headers: { get: (name) => name === "user-agent" ? "curl/8.5" : undefined },
};

const connection: AccessRecord = {
  protocol: "zen",
  peer: "[::1]:5151",
  bytesIn: 12,
  bytesOut: 80,
  durationMs: 0.04,
  outcome: "idle timeout",
  requests: 3,
};

/** `[02/Dec/2026:05:19:01 +0000]` and `2026-…Z` vary: replaced by `TIME`. */
function read(path: string): string[] {
  const text = Deno.readTextFileSync(path);
  return text === "" ? [] : text.slice(0, -1).split("\n").map((line) =>
    line
      .replace(/\[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]/, "[TIME]")
      .replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /, "TIME ")
  );
}

const MODULE = (path: string) => new URL(path, import.meta.url).href;

/** Runs `code` in a fresh `deno eval` with the project's import map. */
function evaluate(code: string): Promise<Deno.CommandOutput> {
  const config = new URL("../../deno.json", import.meta.url).pathname;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--config", config, code],
    stdout: "null",
    stderr: "piped",
  }).output();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("writeAccess() writes HTTP as combined and Zen as the koan line by default", async () => {
  await withLogFile({}, (file) => {
    writeAccess(request);
    writeAccess(connection);
    flushLogs();
    assert.deepEqual(read(file.path), [
      '10.0.0.1 - - [TIME] "GET /x HTTP/1.1" 200 400 "-" "curl/8.5"',
      `TIME INFO  [master ${PID}] koan.access: [::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout`,
    ]);
  });
});

Deno.test("writeAccess() writes the koan line for every record with access_format koan", async () => {
  await withLogFile({ access_format: "koan", tag: "w2" }, (file) => {
    writeAccess(request);
    writeAccess(connection);
    assert.deepEqual(file.lines(), [
      `INFO  [w2 ${PID}] koan.access: 10.0.0.1:4242 http GET /x 200 in=78 out=512 ms=15.3 closed normally`,
      `INFO  [w2 ${PID}] koan.access: [::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout`,
    ]);
  });
});

Deno.test("writeAccess() writes json and templates for every record", async () => {
  await withLogFile({ access_format: "json" }, (file) => {
    writeAccess(request);
    writeAccess(connection);
    flushLogs();
    const [http, zen] = Deno.readTextFileSync(file.path).trim().split("\n")
      .map((line) => JSON.parse(line));
    assert.equal(http.request, "GET /x HTTP/1.1");
    assert.equal(http.http_user_agent, "curl/8.5");
    assert.equal(zen.requests, 3);
    assert.equal(zen.status, null);
  });
  await withLogFile(
    { access_format: "$protocol $status $requests" },
    (file) => {
      writeAccess(request);
      writeAccess(connection);
      flushLogs();
      assert.deepEqual(read(file.path), ["http 200 -", "zen - 3"]);
    },
  );
});

Deno.test("writeAccess() writes to access_file, the leveled log to file", async () => {
  await withLogFile({}, (file) => {
    const access = `${file.dir}/access.log`;
    setupLogging({
      level: "info",
      format: "text",
      file: file.path,
      access: true,
      access_file: access,
    });
    log("daemon").info("started");
    writeAccess(request);
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.daemon: started`,
    ]);
    assert.deepEqual(read(access), [
      '10.0.0.1 - - [TIME] "GET /x HTTP/1.1" 200 400 "-" "curl/8.5"',
    ]);
  });
});

Deno.test("writeAccess() holds lines until the buffer fills or FLUSH_MS passes", async () => {
  await withLogFile({}, async (file) => {
    writeAccess(connection);
    assert.equal(Deno.readTextFileSync(file.path), "", "buffered");
    await sleep(FLUSH_MS + 200);
    assert.equal(read(file.path).length, 1, "written by the timer");
    // Fill: written without any flush, whole lines only.
    let lines = 1;
    while (lines * 60 < BUFFER_BYTES + 1000) {
      writeAccess(connection);
      lines++;
    }
    const text = Deno.readTextFileSync(file.path);
    assert.ok(text.length >= BUFFER_BYTES, `${text.length} bytes written`);
    assert.ok(text.endsWith("\n"));
    const written = text.split("\n").length - 1;
    assert.ok(written < lines, "the rest is still buffered");
    flushLogs();
    assert.equal(read(file.path).length, lines, "flushLogs() writes the rest");
  });
});

Deno.test("writeAccess() with access = false writes nothing and asks for no headers", async () => {
  await withLogFile({ access: false }, (file) => {
    assert.equal(accessEnabled(), false);
    assert.deepEqual(accessHeaderNames(), []);
    writeAccess(request);
    writeAccess(connection);
    log("daemon").info("stopped");
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.daemon: stopped`,
    ]);
  });
});

Deno.test("writeAccess() writes access lines even at level warning", async () => {
  await withLogFile({ level: "warning", access_format: "koan" }, (file) => {
    assert.equal(accessEnabled(), true);
    assert.deepEqual(accessHeaderNames(), []);
    writeAccess(connection);
    log("daemon").info("dropped");
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.access: [::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout`,
    ]);
  });
});

Deno.test("setupLogging() again writes out the old buffer, then uses the new format", async () => {
  await withLogFile({}, (file) => {
    assert.deepEqual(accessHeaderNames(), ["referer", "user-agent"]);
    writeAccess(request);
    setupLogging({
      level: "info",
      format: "text",
      file: file.path,
      access: true,
      access_format: "$status $http_x_id",
    });
    assert.deepEqual(accessHeaderNames(), ["x-id"]);
    writeAccess(request);
    flushLogs();
    assert.deepEqual(read(file.path), [
      '10.0.0.1 - - [TIME] "GET /x HTTP/1.1" 200 400 "-" "curl/8.5"',
      "200 -",
    ]);
  });
});

Deno.test("reopenLogs() writes buffered access lines to the old file, later ones to the new", async () => {
  await withLogFile({ access_format: "$status" }, async (file) => {
    writeAccess(request);
    flushLogs();
    await Deno.rename(file.path, `${file.path}.1`);
    writeAccess({ ...request, status: 201 });
    reopenLogs();
    writeAccess({ ...request, status: 202 });
    flushLogs();
    assert.deepEqual(read(`${file.path}.1`), ["200", "201"]);
    assert.deepEqual(read(file.path), ["202"]);
  });
});

Deno.test("a failing access file costs lines, is reported once, and never throws", async () => {
  await withLogFile({}, (file) => {
    const before = { ...accessStats() };
    // Every write to /dev/full fails with ENOSPC: a full disk.
    setupLogging({
      level: "info",
      format: "text",
      file: file.path,
      access: true,
      access_format: "$status",
      access_file: "/dev/full",
    });
    for (let i = 0; i < 3; i++) {
      writeAccess(request);
      writeAccess(request);
      flushLogs();
    }
    const after = accessStats();
    assert.equal(after.errors - before.errors, 3);
    assert.equal(after.lost - before.lost, 6);
    const lines = file.lines();
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(
      lines[0]!,
      /^ERROR \[master \d+\] koan\.log: access log: cannot write to \/dev\/full: .*reported once/,
    );
  });
});

Deno.test("accessStats() is one live object: counts lines lost per failed write, nothing when writes succeed", async () => {
  const stats = accessStats();
  const before = { ...stats };
  const reported: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "koan-access-stats-" });
  const settings = {
    access: true,
    access_format: "$status",
    file: "",
    format: "text",
  } as const;
  try {
    configureAccess({ ...settings, access_file: "/dev/full" }, {
      tag: "w1",
      onError: (message) => reported.push(message),
    });
    for (let i = 0; i < 5; i++) writeAccess(request);
    flushAccess(); // one write of 5 lines: ENOSPC
    writeAccess(request);
    writeAccess(request);
    flushAccess();
    assert.equal(accessStats(), stats, "the same object, updated in place");
    assert.deepEqual(
      { errors: stats.errors - before.errors, lost: stats.lost - before.lost },
      { errors: 2, lost: 7 },
    );
    assert.equal(reported.length, 1);

    // A file that can no longer be opened: the reopen throws (the caller
    // logs why) and the file open until then takes the lines, uncounted.
    const gone = `${dir}/gone`;
    await Deno.mkdir(gone);
    configureAccess({ ...settings, access_file: `${gone}/access.log` }, {
      tag: "w1",
    });
    await Deno.remove(gone, { recursive: true });
    assert.throws(() => reopenAccess(), Deno.errors.NotFound);
    writeAccess(request);
    writeAccess(request);
    writeAccess(request);
    flushAccess();
    assert.deepEqual(
      { errors: stats.errors - before.errors, lost: stats.lost - before.lost },
      { errors: 2, lost: 7 },
    );

    // Writes that succeed touch no counter.
    const counted = { ...stats };
    configureAccess({ ...settings, access_file: `${dir}/ok.log` }, {
      tag: "w1",
    });
    for (let i = 0; i < 100; i++) writeAccess(request);
    flushAccess();
    assert.deepEqual({ ...stats }, counted);
    assert.equal(read(`${dir}/ok.log`).length, 100);
  } finally {
    closeAccess();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lines still buffered are written when the process exits, however it exits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-access-exit-" });
  try {
    for (const end of ["Deno.exit(3)", "throw new Error('crash')", ""]) {
      const path = `${dir}/access.log`;
      await Deno.remove(path).catch(() => {});
      const code = [
        `import { setupLogging } from "${new URL(
          "./log.ts",
          import.meta.url,
        )}";`,
        `import { writeAccess } from "${new URL(
          "./access_log.ts",
          import.meta.url,
        )}";`,
        `setupLogging({ level: "error", format: "text", file: "", access: true, access_format: "$requests", access_file: ${
          JSON.stringify(path)
        } });`,
        `for (let i = 0; i < 100; i++) writeAccess({ protocol: "zen", peer: "p", bytesIn: 0, bytesOut: 0, durationMs: 0, outcome: "x", requests: i });`,
        end,
      ].join("\n");
      await evaluate(code);
      assert.equal(read(path).length, 100, end || "a normal end");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("processes writing one access file leave whole lines only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-access-writers-" });
  const path = `${dir}/access.log`;
  const WRITERS = 4;
  const LINES = 5000;
  const code = (tag: string) =>
    [
      `import { flushLogs, setupLogging } from "${MODULE("./log.ts")}";`,
      `import { writeAccess } from "${MODULE("./access_log.ts")}";`,
      `setupLogging({ level: "error", format: "text", file: "", access: true, access_format: "$worker $requests $outcome", access_file: ${
        JSON.stringify(path)
      } }, { tag: "${tag}" });`,
      `for (let i = 0; i < ${LINES}; i++) writeAccess({ protocol: "zen", peer: "p", bytesIn: 0, bytesOut: 0, durationMs: 0, outcome: "x".repeat(i % 200), requests: i });`,
      `flushLogs();`,
    ].join("\n");
  try {
    const results = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) => evaluate(code(`w${i + 1}`))),
    );
    assert.deepEqual(results.map((r) => r.code), results.map(() => 0));
    const lines = read(path);
    assert.equal(lines.length, WRITERS * LINES);
    const broken = lines.filter((line) => {
      const [tag = "", n, outcome = ""] = line.split(" ");
      return !/^w[1-4]$/.test(tag) || outcome.length !== Number(n) % 200;
    });
    assert.deepEqual(broken, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lines to stderr arrive whole, a line longer than PIPE_BUF too", async () => {
  const long = "y".repeat(10_000);
  const code = [
    `import { flushLogs, setupLogging } from "${MODULE("./log.ts")}";`,
    `import { writeAccess } from "${MODULE("./access_log.ts")}";`,
    `setupLogging({ level: "error", format: "text", file: "", access: true, access_format: "$requests $outcome" });`,
    `for (let i = 0; i < 3000; i++) writeAccess({ protocol: "zen", peer: "p", bytesIn: 0, bytesOut: 0, durationMs: 0, outcome: i === 1500 ? "${long}" : "x".repeat(i % 300), requests: i });`,
    `flushLogs();`,
  ].join("\n");
  const result = await evaluate(code);
  const lines = new TextDecoder().decode(result.stderr).split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, 3000);
  const broken = lines.filter((line, i) =>
    line !== `${i} ${i === 1500 ? long : "x".repeat(i % 300)}`
  );
  assert.deepEqual(broken, []);
});
