/**
 * `koan inetd` under the real xinetd, which leaves fds 0, 1 and 2 all the
 * client's socket: the client gets exactly its protocol's bytes and a
 * clean close, and every log line (access lines, a config error) goes to
 * the syslog socket the config names — bound here, as `/dev/log` cannot
 * be by a test. The shipped entries run, rewritten only for a test
 * (loopback, a free port, this user, this checkout's koan).
 */
import assert from "node:assert/strict";
import {
  childProcesses,
  connect,
  eventually,
  freePort,
  ROOT_DIR,
} from "../_helpers.ts";
import { koanWrapper, tempDir } from "./_service.ts";
import { type SyslogMessage, SyslogSocket } from "./_syslog.ts";
import { exchange, oneResponse, rewriteEntry, startXinetd } from "./_xinetd.ts";

/** The shipped entry `name` running this checkout's koan on `port`. */
async function shippedEntry(
  name: string,
  port: number,
  wrapper: string,
  config: string,
): Promise<string> {
  const text = await Deno.readTextFile(`${ROOT_DIR}inetd/xinetd.d/${name}`);
  return rewriteEntry(text, { port, server: wrapper, config });
}

/**
 * Waits until a koan that xinetd started has pointed its fd 2 away from
 * the client's socket (at /dev/null) and returns its pid: from then on
 * not even Deno itself can write into the client's stream.
 */
async function koanWithStderrDetached(xinetd: number): Promise<number> {
  let pid = 0;
  await eventually(
    () => {
      for (const child of childProcesses(xinetd)) {
        try {
          if (Deno.readLinkSync(`/proc/${child.pid}/fd/2`) === "/dev/null") {
            pid = child.pid;
            return true;
          }
        } catch (error) {
          // Exited meanwhile, or not ours to read.
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
      return false;
    },
    "a koan whose fd 2 is /dev/null",
    15_000,
  );
  return pid;
}

const DAEMON = 3;
const LOCAL7 = 23;
const ERR = 3;
const INFO = 6;

function isAccess(message: SyslogMessage, pattern: RegExp): boolean {
  return message.facility === LOCAL7 && message.severity === INFO &&
    message.app === "koan" && pattern.test(message.msg);
}

Deno.test("xinetd + syslog: an HTTP request gets exactly its response; its access line goes to the syslog socket", async () => {
  await using dir = await tempDir();
  await using syslog = new SyslogSocket(dir.path);
  const wrapper = await koanWrapper(dir.path);
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(config, `[log]\nfile = "syslog:${syslog.path}"\n`);
  const port = freePort();
  await using xinetd = await startXinetd(dir.path, [
    await shippedEntry("koan-http", port, wrapper, config),
  ], [port]);
  const conn = await connect(port);
  const pid = await koanWithStderrDetached(xinetd.pid);
  const received = await exchange(
    conn,
    "GET / HTTP/1.1\r\nHost: koan\r\nUser-Agent: syslog-test/1\r\nConnection: close\r\n\r\n",
  );
  assert.equal(received.end, "eof", JSON.stringify(received));
  const response = oneResponse(received.text);
  assert.equal(response.status, "HTTP/1.1 200 OK");
  assert.equal(response.body, "Hello, world!");
  const access = await syslog.waitFor(
    (m) => isAccess(m, /"GET \/ HTTP\/1\.1" 200 13 "-" "syslog-test\/1"$/),
    "with the request's access line",
  );
  // The peer is the client's address (xinetd's REMOTE_HOST), in nginx's
  // combined format.
  assert.match(access.msg, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ HTTP/);
  assert.equal(access.pid, pid);
  // Nothing from this koan at warning or worse.
  const own = syslog.messages.filter((m) => m.pid === access.pid);
  assert.deepEqual(own.filter((m) => m.severity <= 4), []);
  void xinetd;
});

Deno.test("xinetd + syslog: a Zen question gets exactly its answer; its access line goes to the syslog socket", async () => {
  await using dir = await tempDir();
  await using syslog = new SyslogSocket(dir.path);
  const wrapper = await koanWrapper(dir.path);
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(config, `[log]\nfile = "syslog:${syslog.path}"\n`);
  const port = freePort();
  await using xinetd = await startXinetd(dir.path, [
    await shippedEntry("koan-zen", port, wrapper, config),
  ], [port]);
  const conn = await connect(port);
  const pid = await koanWithStderrDetached(xinetd.pid);
  const received = await exchange(conn, "Beautiful is better than?", {
    closeWrite: true,
  });
  assert.deepEqual(received, { text: "ugly.", end: "eof" });
  const access = await syslog.waitFor(
    (m) =>
      isAccess(
        m,
        /koan\.access: 127\.0\.0\.1 zen in=25 out=5 requests=1 .*closed normally$/,
      ),
    "with the question's access line",
  );
  assert.equal(access.pid, pid);
});

Deno.test("xinetd + syslog: with a broken config, HTTP gets a 503, Zen a clean close, and the syslog socket the config error", async () => {
  await using dir = await tempDir();
  await using syslog = new SyslogSocket(dir.path);
  const wrapper = await koanWrapper(dir.path);
  const config = `${dir.path}/koan.toml`;
  // Invalid as a whole; its [log] still names where errors go.
  await Deno.writeTextFile(
    config,
    `[zen]\nmax_question = "big"\n[log]\nfile = "syslog:${syslog.path}"\n`,
  );
  const [httpPort, zenPort] = [freePort(), freePort()];
  await using xinetd = await startXinetd(dir.path, [
    await shippedEntry("koan-http", httpPort, wrapper, config),
    await shippedEntry("koan-zen", zenPort, wrapper, config),
  ], [httpPort, zenPort]);
  const [http, zen] = await Promise.all([
    exchange(
      httpPort,
      "GET / HTTP/1.1\r\nHost: koan\r\nConnection: close\r\n\r\n",
    ),
    // The client does not close its side: koan reads the question before
    // it closes, so that the close is a FIN, not a reset.
    exchange(zenPort, "Beautiful is better than?"),
  ]);
  assert.equal(http.end, "eof", JSON.stringify(http));
  const response = oneResponse(http.text);
  assert.equal(response.status, "HTTP/1.1 503 Service Unavailable");
  assert.equal(response.headers.get("connection"), "close");
  assert.equal(
    response.body,
    "503 Service Unavailable\n",
  );
  assert.deepEqual(zen, { text: "", end: "eof" });
  const errors = () =>
    syslog.messages.filter((m) =>
      m.facility === DAEMON && m.severity === ERR &&
      /^\[inetd\] koan\.inetd: refused the connection: zen\.max_question: must be a number \(got "big"\)$/
        .test(m.msg)
    );
  await syslog.waitFor(
    () => new Set(errors().map((m) => m.pid)).size >= 2,
    "with the config error from both connections' koan",
  );
  // Nothing else was logged: no access line for a connection not served.
  assert.deepEqual(
    syslog.messages.filter((m) => !errors().includes(m)).map((m) => m.raw),
    [],
  );
  void xinetd;
});
