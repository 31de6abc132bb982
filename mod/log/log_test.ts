import assert from "node:assert/strict";
import {
  accessEnabled,
  flushLogs,
  log,
  reopenLogs,
  setupLogging,
} from "./log.ts";
import { withLogFile } from "./_testing.ts";
import { type AccessRecord, writeAccess } from "./access_log.ts";

const PID = Deno.pid;

Deno.test("setupLogging() writes text lines tagged with worker and pid", async () => {
  await withLogFile({ tag: "w3" }, (file) => {
    log("daemon").info("listening on {address} ({n} workers)", {
      address: "127.0.0.1:1060",
      n: 4,
    });
    log("net").warn("refused {peer}", { peer: "10.0.0.1:4242" });
    log("net", "fd").error("state {state}", { state: { open: 2 } });
    assert.deepEqual(file.lines(), [
      `INFO  [w3 ${PID}] koan.daemon: listening on 127.0.0.1:1060 (4 workers)`,
      `WARN  [w3 ${PID}] koan.net: refused 10.0.0.1:4242`,
      `ERROR [w3 ${PID}] koan.net.fd: state {"open":2}`,
    ]);
  });
});

Deno.test("setupLogging() writes one JSON object a line with worker, pid and the properties", async () => {
  await withLogFile({ format: "json", tag: "w1" }, (file) => {
    log("daemon").info("listening on {address}", { address: "[::1]:1060" });
    log("net").warn("accept failed");
    assert.deepEqual(file.records(), [
      {
        level: "info",
        worker: "w1",
        pid: PID,
        category: "koan.daemon",
        message: "listening on [::1]:1060",
        address: "[::1]:1060",
      },
      {
        level: "warning",
        worker: "w1",
        pid: PID,
        category: "koan.net",
        message: "accept failed",
      },
    ]);
  });
});

Deno.test("setupLogging() drops lines below the configured level", async () => {
  await withLogFile({ level: "warning" }, (file) => {
    const logger = log("daemon");
    logger.debug("debug line");
    logger.info("info line");
    logger.warn("warning line");
    logger.error("error line");
    assert.deepEqual(file.lines(), [
      `WARN  [master ${PID}] koan.daemon: warning line`,
      `ERROR [master ${PID}] koan.daemon: error line`,
    ]);
  });
});

Deno.test("setupLogging() at level debug writes debug lines", async () => {
  await withLogFile({ level: "debug" }, (file) => {
    log("daemon").debug("debug line");
    assert.deepEqual(file.lines(), [
      `DEBUG [master ${PID}] koan.daemon: debug line`,
    ]);
  });
});

const ZEN: AccessRecord = {
  protocol: "zen",
  peer: "10.0.0.1:4242",
  bytesIn: 1,
  bytesOut: 2,
  durationMs: 0,
  outcome: "closed normally",
  requests: 1,
};

Deno.test("setupLogging() with access = false writes no access lines but the others", async () => {
  await withLogFile({ access: false }, (file) => {
    assert.equal(accessEnabled(), false);
    writeAccess(ZEN);
    log("daemon").info("stopped");
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.daemon: stopped`,
    ]);
  });
});

Deno.test("setupLogging() with access = true writes access lines even at level warning", async () => {
  await withLogFile({ level: "warning" }, (file) => {
    assert.equal(accessEnabled(), true);
    writeAccess(ZEN);
    log("daemon").info("dropped");
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.access: 10.0.0.1:4242 zen in=1 out=2 requests=1 ms=0 closed normally`,
    ]);
  });
});

Deno.test("setupLogging() called again switches files and keeps the tag unless given one", async () => {
  await withLogFile({ tag: "w2" }, (file) => {
    log("daemon").info("first");
    const second = `${file.dir}/second.log`;
    setupLogging({ level: "info", format: "json", file: second, access: true });
    log("daemon").info("second");
    assert.deepEqual(file.lines(), [`INFO  [w2 ${PID}] koan.daemon: first`]);
    assert.deepEqual(file.records(second), [{
      level: "info",
      worker: "w2",
      pid: PID,
      category: "koan.daemon",
      message: "second",
    }]);
  });
});

Deno.test("reopenLogs() writes to a fresh file after the old one was renamed", async () => {
  await withLogFile({}, async (file) => {
    const logger = log("daemon");
    logger.info("before rotation");
    flushLogs();
    const rotated = `${file.path}.1`;
    await Deno.rename(file.path, rotated);
    logger.info("buffered at rotation");
    reopenLogs();
    logger.info("after reopen");
    // Lines buffered when the reopen comes still go to the file they were
    // written for; later ones to the new file at the configured path.
    assert.deepEqual(file.lines(rotated), [
      `INFO  [master ${PID}] koan.daemon: before rotation`,
      `INFO  [master ${PID}] koan.daemon: buffered at rotation`,
    ]);
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.daemon: after reopen`,
    ]);
  });
});

Deno.test("flushLogs() writes buffered lines now; otherwise they are written on the next turn", async () => {
  await withLogFile({}, async (file) => {
    const logger = log("daemon");
    logger.info("one");
    logger.info("two");
    assert.equal(Deno.readTextFileSync(file.path), "");
    await new Promise((resolve) => setTimeout(resolve, 0));
    // Read around flushLogs(), which file.lines() calls.
    const untilNow = Deno.readTextFileSync(file.path).split("\n");
    assert.deepEqual(untilNow.map((line) => line.slice(25)), [
      `INFO  [master ${PID}] koan.daemon: one`,
      `INFO  [master ${PID}] koan.daemon: two`,
      "",
    ]);
    logger.info("three");
    flushLogs();
    assert.match(Deno.readTextFileSync(file.path), /koan\.daemon: three\n$/);
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.daemon: one`,
      `INFO  [master ${PID}] koan.daemon: two`,
      `INFO  [master ${PID}] koan.daemon: three`,
    ]);
  });
});

Deno.test("reopenLogs() refuses a symlink planted at the path: the open file takes the lines, one line says why", async () => {
  await withLogFile({ access_format: "koan" }, async (file) => {
    const logger = log("daemon");
    const rotated = `${file.path}.1`;
    const victim = `${file.dir}/victim`;
    await Deno.writeTextFile(victim, "precious\n");
    await Deno.rename(file.path, rotated);
    await Deno.symlink(victim, file.path);
    // The leveled and the access log share the path: one line for both.
    assert.equal(reopenLogs(), false);
    logger.info("after the reopen");
    writeAccess({
      peer: "192.0.2.1",
      protocol: "zen",
      bytesIn: 1,
      bytesOut: 1,
      durationMs: 0,
      outcome: "closed normally",
    });
    await flushLogs();
    assert.equal(await Deno.readTextFile(victim), "precious\n");
    assert.deepEqual(
      file.lines(rotated),
      [
        `ERROR [master ${PID}] koan.log: log file not reopened, the one already open takes the lines: Cannot open "${file.path}": it is a symlink (koan never writes through one)`,
        `INFO  [master ${PID}] koan.daemon: after the reopen`,
        `INFO  [master ${PID}] koan.access: 192.0.2.1 zen in=1 out=1 requests=0 ms=0 closed normally`,
      ],
    );
  });
});

Deno.test("setupLogging() refuses a symlinked file, naming it, and keeps the running log", async () => {
  await withLogFile({}, async (file) => {
    const victim = `${file.dir}/victim`;
    const planted = `${file.dir}/planted.log`;
    await Deno.writeTextFile(victim, "precious\n");
    await Deno.symlink(victim, planted);
    for (
      const settings of [{ file: planted }, {
        file: file.path,
        access_file: planted,
      }]
    ) {
      assert.throws(
        () =>
          setupLogging({
            level: "info",
            format: "text",
            access: true,
            ...settings,
          }),
        (error: Error) =>
          error.message ===
            `Cannot open "${planted}": it is a symlink (koan never writes through one)`,
      );
    }
    log("daemon").info("still here");
    assert.equal(await Deno.readTextFile(victim), "precious\n");
    assert.deepEqual(file.lines(), [
      `INFO  [master ${PID}] koan.daemon: still here`,
    ]);
  });
});
