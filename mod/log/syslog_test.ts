import assert from "node:assert/strict";
import {
  accessStats,
  closeAccess,
  configureAccess,
  flushAccess,
  settleAccess,
  writeAccess,
} from "./access_log.ts";
import type { AccessRecord } from "./access_record.ts";
import { flushLogs, log, setupLogging } from "./log.ts";
import { resetLogging } from "./_testing.ts";
import {
  syslogHeader,
  syslogHostname,
  syslogPath,
  SyslogSender,
} from "./syslog.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A unix datagram socket the test binds, standing in for /dev/log. */
async function withSyslog(
  body: (
    path: string,
    receive: () => Promise<string>,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koan-syslog-test-" });
  const path = `${dir}/log.sock`;
  const socket = Deno.listenDatagram({ transport: "unixpacket", path });
  const receive = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const [data] = await Promise.race([
        socket.receive(),
        new Promise<never>((_, reject) =>
          timer = setTimeout(() => reject(new Error("nothing received")), 5000)
        ),
      ]);
      return decoder.decode(data);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    await body(path, receive);
  } finally {
    socket.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function inZone(tz: string): () => void {
  const before = Deno.env.get("TZ");
  Deno.env.set("TZ", tz);
  return () => {
    if (before === undefined) Deno.env.delete("TZ");
    else Deno.env.set("TZ", before);
  };
}

const GET: AccessRecord = {
  protocol: "http",
  peer: "127.0.0.1:40000",
  bytesIn: 40,
  bytesOut: 150,
  durationMs: 2,
  outcome: "keep-alive",
  status: 200,
  fields: { method: "GET", target: "/" },
  version: "HTTP/1.1",
  bodyBytes: 13,
  headers: { get: (name) => name === "user-agent" ? "curl/8.5" : undefined },
};

Deno.test("syslogPath() reads syslog and syslog:/path", () => {
  assert.equal(syslogPath("syslog"), "/dev/log");
  assert.equal(syslogPath("syslog:/run/rsyslog.sock"), "/run/rsyslog.sock");
  assert.equal(syslogPath(""), undefined);
  assert.equal(syslogPath("/var/log/koan.log"), undefined);
  assert.equal(syslogPath("syslog.log"), undefined);
});

Deno.test("SyslogSender sends each message as one datagram, in order", async () => {
  await withSyslog(async (path, receive) => {
    const sender = new SyslogSender(path);
    for (const text of ["<14>1 one", "<14>1 two", "<14>1 three"]) {
      sender.send(encoder.encode(text));
    }
    await sender.settle();
    assert.equal(await receive(), "<14>1 one");
    assert.equal(await receive(), "<14>1 two");
    assert.equal(await receive(), "<14>1 three");
    sender.close();
  });
});

Deno.test("access lines go to syslog as RFC 5424 local7.info messages", async () => {
  const restore = inZone("UTC");
  try {
    await withSyslog(async (path, receive) => {
      configureAccess({
        access: true,
        access_format: "combined",
        access_file: `syslog:${path}`,
        file: "",
        format: "text",
      }, { tag: "w1", clock: () => Date.UTC(2026, 11, 2, 6, 27, 47, 250) });
      writeAccess(GET);
      writeAccess({ ...GET, status: 404, bodyBytes: 9 });
      flushAccess();
      await settleAccess();
      const head =
        `<190>1 2026-12-02T06:27:47+00:00 ${syslogHostname()} koan ${Deno.pid} - - `;
      assert.equal(
        await receive(),
        `${head}127.0.0.1 - - [02/Dec/2026:06:27:47 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/8.5"`,
      );
      assert.equal(
        await receive(),
        `${head}127.0.0.1 - - [02/Dec/2026:06:27:47 +0000] "GET / HTTP/1.1" 404 9 "-" "curl/8.5"`,
      );
    });
  } finally {
    closeAccess();
    restore();
  }
});

Deno.test("leveled lines go to syslog as daemon.<level> messages", async () => {
  await withSyslog(async (path, receive) => {
    setupLogging(
      { level: "info", format: "text", file: `syslog:${path}`, access: false },
      { tag: "w4" },
    );
    try {
      log("daemon").warn("listening on {address}", { address: "[::1]:80" });
      log("net").error("accept failed");
      await flushLogs();
      const rest = (pri: number) =>
        new RegExp(
          `^<${pri}>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ${syslogHostname()} koan ${Deno.pid} - - `,
        );
      const warn = await receive();
      assert.match(warn, rest(3 * 8 + 4));
      assert.equal(
        warn.replace(rest(28), ""),
        "[w4] koan.daemon: listening on [::1]:80",
      );
      const error = await receive();
      assert.equal(error.replace(rest(27), ""), "[w4] koan.net: accept failed");
    } finally {
      resetLogging();
    }
  });
});

Deno.test("syslogHeader() writes PRI, version, time, host, app and pid", () => {
  assert.equal(
    syslogHeader(190, "2026-12-02T05:19:01+00:00", "web1", 42),
    "<190>1 2026-12-02T05:19:01+00:00 web1 koan 42 - - ",
  );
  assert.match(syslogHostname(), /^[\x21-\x7e]+$/);
});

Deno.test("a syslog socket that is not there costs lines, never the service", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-syslog-test-" });
  const errors: string[] = [];
  try {
    const before = { ...accessStats() };
    configureAccess({
      access: true,
      access_file: `syslog:${dir}/missing.sock`,
      file: "",
      format: "text",
    }, { tag: "master", onError: (message) => errors.push(message) });
    writeAccess(GET);
    writeAccess(GET);
    flushAccess();
    await settleAccess();
    writeAccess(GET);
    flushAccess();
    await settleAccess();
    // One datagram a line: each failed send is an error and a lost line.
    assert.equal(accessStats().errors - before.errors, 3);
    assert.equal(accessStats().lost - before.lost, 3);
    assert.equal(errors.length, 1, "reported once");
    assert.match(errors[0]!, /cannot write to syslog:.*missing\.sock/);
  } finally {
    closeAccess();
    await Deno.remove(dir, { recursive: true });
  }
});
