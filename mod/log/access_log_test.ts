import assert from "node:assert/strict";
import { type AccessRecord, writeAccess } from "./access_log.ts";
import { withLogFile } from "./_testing.ts";

const TAG = `INFO  [master ${Deno.pid}] koan.access:`;

const request: AccessRecord = {
  protocol: "http",
  peer: "10.0.0.1:4242",
  bytesIn: 78,
  bytesOut: 512,
  durationMs: 15.25,
  outcome: "closed normally",
  status: 200,
  fields: { method: "GET", target: "/x" },
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

Deno.test("writeAccess() renders a request record with its fields and status", async () => {
  await withLogFile({}, (file) => {
    writeAccess(request);
    assert.deepEqual(file.lines(), [
      `${TAG} 10.0.0.1:4242 http GET /x 200 in=78 out=512 ms=15.3 closed normally`,
    ]);
  });
});

Deno.test("writeAccess() writes - for a request record without fields", async () => {
  await withLogFile({}, (file) => {
    const { fields: _, ...bare } = request;
    writeAccess({ ...bare, status: 503, outcome: "server busy" });
    assert.deepEqual(file.lines(), [
      `${TAG} 10.0.0.1:4242 http - 503 in=78 out=512 ms=15.3 server busy`,
    ]);
  });
});

Deno.test("writeAccess() renders a connection record with its request count", async () => {
  await withLogFile({}, (file) => {
    writeAccess(connection);
    const { requests: _, ...none } = connection;
    writeAccess({ ...none, durationMs: 1234.56, outcome: "closed normally" });
    assert.deepEqual(file.lines(), [
      `${TAG} [::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout`,
      `${TAG} [::1]:5151 zen in=12 out=80 requests=0 ms=1234.6 closed normally`,
    ]);
  });
});

Deno.test("writeAccess() puts the record's fields in JSON lines", async () => {
  await withLogFile({ format: "json", tag: "w2" }, (file) => {
    writeAccess(request);
    writeAccess(connection);
    const base = { level: "info", worker: "w2", pid: Deno.pid };
    assert.deepEqual(file.records(), [
      {
        ...base,
        category: "koan.access",
        message:
          "10.0.0.1:4242 http GET /x 200 in=78 out=512 ms=15.3 closed normally",
        ...request,
        request: "GET /x",
        durationMs: 15.3,
      },
      {
        ...base,
        category: "koan.access",
        message: "[::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout",
        ...connection,
        durationMs: 0,
      },
    ]);
  });
});

Deno.test("writeAccess() writes nothing when log.access is off", async () => {
  await withLogFile({ access: false }, (file) => {
    writeAccess(request);
    writeAccess(connection);
    assert.deepEqual(file.lines(), []);
  });
});
