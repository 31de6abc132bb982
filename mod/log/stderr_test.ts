import assert from "node:assert/strict";
import {
  forbidStderr,
  stderrAllowed,
  StderrForbiddenError,
  writeStderr,
} from "./stderr.ts";
import { flushLogs, log, setupLogging } from "./log.ts";
import { accessStats, closeAccess, writeAccess } from "./access_log.ts";
import { openDestination } from "./destination.ts";

// Forbidding is for the rest of the isolate: this file's tests run in
// order, the first before anything is forbidden.

Deno.test("writeStderr() writes while stderr is allowed", () => {
  assert.equal(stderrAllowed(), true);
  writeStderr(new Uint8Array(0));
});

Deno.test("after forbidStderr() no log writer reaches stderr: writes are refused and counted as lost", async () => {
  forbidStderr();
  assert.equal(stderrAllowed(), false);
  assert.throws(
    () => writeStderr(new TextEncoder().encode("x\n")),
    StderrForbiddenError,
  );
  // The access log's stderr destination refuses, so its lines count as lost.
  assert.throws(
    () => openDestination("").write(new TextEncoder().encode("line\n")),
    StderrForbiddenError,
  );
  const lost = accessStats().lost;
  setupLogging({
    level: "error",
    format: "text",
    file: "",
    access: true,
    access_format: "koan",
  }, { tag: "inetd" });
  try {
    writeAccess({
      peer: "192.0.2.1",
      protocol: "zen",
      bytesIn: 25,
      bytesOut: 5,
      durationMs: 1,
      outcome: "closed normally",
    });
    // The leveled log with file "" drops its lines rather than throw.
    log("test").error("not on stderr");
    await flushLogs();
    assert.equal(accessStats().lost, lost + 1);
  } finally {
    closeAccess();
  }
});
