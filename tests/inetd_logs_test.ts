/**
 * Where `koan inetd` logs: inetd and xinetd give it the client's socket
 * as stdin, stdout and stderr, so nothing may be written to stderr — logs
 * go to `[log] file` or syslog, and fd 2 itself is pointed at /dev/null;
 * systemd's `StandardError=journal` gives it a socket of journald's own,
 * which is where logs belong. A connection koan cannot serve is refused
 * in its protocol's way either way. Python arranges the descriptors (a
 * Deno.Command cannot pass a socket as stdio); the syslog socket is bound
 * here.
 */
import assert from "node:assert/strict";
import { MAIN, RUN_FLAGS } from "./_helpers.ts";
import { SyslogSocket } from "./service/_syslog.ts";
import { permissionFlags, UNSTABLE_FLAGS } from "../scripts/compile.ts";

/**
 * Starts argv with the connection on fds 0 and 1 and fd 2 as asked, sends
 * the request (shutting down its side when asked), and reports what the
 * client received, how the connection ended, and what fd 2 of the child
 * pointed at once the child was ready.
 */
const SCRIPT = `
import json, os, socket, subprocess, sys, time
stderr_kind, request, shut, watch_fd2 = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
argv = sys.argv[5:]
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
journal, journal_peer = socket.socketpair()
err = conn.fileno() if stderr_kind == "client" else journal.fileno()
child = subprocess.Popen(argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=err)
conn.close(); journal.close(); server.close()
client.settimeout(30); journal_peer.settimeout(30)
fd2 = None
if watch_fd2:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and child.poll() is None:
        try:
            fd2 = os.readlink("/proc/%d/fd/2" % child.pid)
        except OSError:
            fd2 = None
        if fd2 == "/dev/null": break
        time.sleep(0.01)
client.sendall(request)
if shut: client.shutdown(socket.SHUT_WR)
received = b""
end = "eof"
try:
    while True:
        data = client.recv(4096)
        if not data: break
        received += data
except ConnectionResetError:
    end = "reset"
code = child.wait()
logged = b""
while True:
    data = journal_peer.recv(4096)
    if not data: break
    logged += data
print(json.dumps({"code": code, "client": received.decode("latin-1"), "end": end, "journal": logged.decode(), "fd2": fd2}))
`;

interface InetdRun {
  code: number;
  client: string;
  end: "eof" | "reset";
  journal: string;
  /** fd 2 of koan once it was ready (when watched). */
  fd2: string | null;
}

interface RunOptions {
  stderr: "client" | "journal";
  /** Config file text; none: `--config` is not passed. */
  config?: string;
  request: string;
  /** Shut down the client's sending side after the request. */
  shut?: boolean;
  /** Wait, before sending, until koan has pointed fd 2 at /dev/null. */
  watchFd2?: boolean;
  /** `koan inetd` arguments. @default {["--protocol", "zen"]} */
  args?: string[];
  /** Deno's arguments before main.ts. @default {RUN_FLAGS (-A)} */
  run?: string[];
}

async function runInetd(options: RunOptions): Promise<InetdRun> {
  const dir = await Deno.makeTempDir({ prefix: "koan-inetd-logs-" });
  try {
    const config = `${dir}/koan.toml`;
    await Deno.writeTextFile(config, options.config ?? "");
    const hex = Array.from(new TextEncoder().encode(options.request))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const output = await new Deno.Command("python3", {
      args: [
        "-c",
        SCRIPT,
        options.stderr,
        hex,
        options.shut ? "1" : "0",
        options.watchFd2 ? "1" : "0",
        Deno.execPath(),
        ...(options.run ?? RUN_FLAGS),
        MAIN,
        "inetd",
        ...(options.args ?? ["--protocol", "zen"]),
        "--config",
        config,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("koan inetd keeps its logs off a stderr that is the client's socket", async () => {
  const result = await runInetd({
    stderr: "client",
    request: "Beautiful is better than?",
    shut: true,
  });
  assert.equal(result.code, 0);
  assert.equal(result.client, "ugly.");
  assert.equal(result.end, "eof");
});

Deno.test("koan inetd points fd 2 at /dev/null when it is the client's socket, before it serves", async () => {
  const result = await runInetd({
    stderr: "client",
    request: "Beautiful is better than?",
    shut: true,
    watchFd2: true,
  });
  assert.equal(result.fd2, "/dev/null");
  assert.equal(result.client, "ugly.");
});

/** The permissions baked into the compiled binary and the installed launcher. */
const BAKED = ["run", "--quiet", ...UNSTABLE_FLAGS, ...permissionFlags()];

Deno.test("koan inetd under the baked permissions (no /proc for it, --allow-ffi for the C library) tells that stderr is the client's, and points it at /dev/null", async () => {
  const result = await runInetd({
    stderr: "client",
    request: "Beautiful is better than?",
    shut: true,
    watchFd2: true,
    run: BAKED,
  });
  assert.equal(result.fd2, "/dev/null");
  assert.deepEqual(
    { code: result.code, client: result.client, end: result.end },
    { code: 0, client: "ugly.", end: "eof" },
  );
});

Deno.test("koan inetd that cannot tell what stderr is (neither /proc nor FFI allowed) keeps off it", async () => {
  const result = await runInetd({
    stderr: "client",
    request: "Beautiful is better than?",
    shut: true,
    run: BAKED.filter((flag) => !flag.startsWith("--allow-ffi")),
  });
  assert.deepEqual(
    { code: result.code, client: result.client, end: result.end },
    { code: 0, client: "ugly.", end: "eof" },
  );
});

Deno.test("koan inetd under the baked permissions logs to a stderr socket of its own (StandardError=journal)", async () => {
  const result = await runInetd({
    stderr: "journal",
    request: "Beautiful is better than?",
    shut: true,
    run: BAKED,
  });
  assert.equal(result.client, "ugly.");
  assert.match(result.journal, /\[inetd \d+\] koan\.access: .* zen /);
});

Deno.test("koan inetd logs to a stderr socket of its own (StandardError=journal)", async () => {
  const result = await runInetd({
    stderr: "journal",
    request: "Beautiful is better than?",
    shut: true,
  });
  assert.equal(result.code, 0);
  assert.equal(result.client, "ugly.");
  assert.match(result.journal, /\[inetd \d+\] koan\.access: .* zen /);
});

Deno.test("koan inetd with stderr the client's: a config whose TOML does not parse is reported to the syslog socket its [log] names; Zen closes cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-inetd-syslog-" });
  try {
    await using syslog = new SyslogSocket(dir);
    const result = await runInetd({
      stderr: "client",
      config:
        `[zen]\nmax_question = = 1\n\n[log]\nfile = "syslog:${syslog.path}"\n`,
      // Not shut: koan reads the question before it closes, so the client
      // sees an orderly close rather than a reset.
      request: "Beautiful is better than?",
    });
    assert.deepEqual(
      { code: result.code, client: result.client, end: result.end },
      { code: 2, client: "", end: "eof" },
    );
    const error = await syslog.waitFor(
      (m) => m.facility === 3 && m.severity === 3,
      "at daemon.err",
    );
    assert.match(
      error.msg,
      /^\[inetd\] koan\.inetd: refused the connection: \S+koan\.toml:2:\d+: /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("koan inetd with stderr the client's: a usage error goes to syslog, not to the client", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-inetd-syslog-" });
  try {
    await using syslog = new SyslogSocket(dir);
    const result = await runInetd({
      stderr: "client",
      config: `[log]\nfile = "syslog:${syslog.path}"\n`,
      request: "GET / HTTP/1.1\r\nHost: koan\r\n\r\n",
      args: ["--protocol", "gopher"],
    });
    assert.deepEqual(
      { code: result.code, client: result.client, end: result.end },
      { code: 2, client: "", end: "eof" },
    );
    const error = await syslog.waitFor(
      (m) => m.severity === 3,
      "at error level",
    );
    assert.equal(
      error.msg,
      "[inetd] koan.inetd: refused the connection: koan inetd needs --protocol zen|http|echo",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("koan inetd with stderr the journal's: a config error goes there as a koan: line; an HTTP client gets a 503", async () => {
  const result = await runInetd({
    stderr: "journal",
    config: `[http]\nmax_body = "big"\n`,
    request: "GET / HTTP/1.1\r\nHost: koan\r\n\r\n",
    args: ["--protocol", "http"],
  });
  assert.equal(result.code, 2);
  assert.equal(
    result.journal,
    'koan: http.max_body: must be a number (got "big")\n',
  );
  assert.match(
    result.client,
    /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*\r\nConnection: close\r\n\r\n503 Service Unavailable\n$/,
  );
  assert.equal(result.end, "eof");
});
