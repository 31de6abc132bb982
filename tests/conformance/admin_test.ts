/**
 * Who may read the admin routes (`/metrics`, `/status`, `/status.json`),
 * under every model and under `koan inetd`: loopback peers only by
 * default, judged by the socket's peer address; nobody with
 * `admin = "off"`; anyone with `"on"`. Everyone else gets the 404 of an
 * unknown path while `/` still answers.
 *
 * A client that is not on loopback, without traffic leaving the machine:
 * the test adds {@linkcode OUTSIDE} to the `lo` interface (as root) and
 * connects to 127.0.0.1 from it, so koan sees a peer outside 127.0.0.0/8.
 * The address is removed again at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  connect,
  connectFrom,
  eventually,
  MAIN,
  readAll,
  RUN_FLAGS,
  send,
} from "../_helpers.ts";
import { MODELS_UNDER_TEST, startModelDaemon } from "./models.ts";

/** A source address outside 127.0.0.0/8, on the loopback interface (RFC 2544's benchmarking range). */
const OUTSIDE = "198.18.7.1";
const ADMIN_PATHS = ["/metrics", "/status", "/status.json"];

/** Runs `ip` with `args`; resolves to whether it succeeded, and what it said. */
async function ip(args: string[]): Promise<{ ok: boolean; said: string }> {
  const output = await new Deno.Command("ip", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { ok: output.success, said: new TextDecoder().decode(output.stderr) };
}

/**
 * Runs `body` with {@linkcode OUTSIDE} on `lo`. An address already there
 * (another run of this test) is used and left in place.
 */
async function withOutsideAddress(body: () => Promise<void>): Promise<void> {
  const added = await ip(["addr", "add", `${OUTSIDE}/32`, "dev", "lo"]);
  if (!added.ok && !/exists/i.test(added.said)) {
    throw new Error(`Cannot add ${OUTSIDE} to lo: ${added.said}`);
  }
  try {
    await body();
  } finally {
    if (added.ok) await ip(["addr", "del", `${OUTSIDE}/32`, "dev", "lo"]);
  }
}

/** GETs `path` on a fresh connection from `from` (a local address, or the default 127.0.0.1). */
async function statusOf(
  port: number,
  path: string,
  from?: string,
): Promise<number> {
  using conn = from === undefined
    ? await connect(port)
    : await connectFrom(port, from);
  await send(
    conn,
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 127.0.0.1\r\nConnection: close\r\n\r\n`,
  );
  const text = await readAll(conn);
  // The status line is enough (the pages' UTF-8 bodies are not split here).
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
  assert.ok(status, `an answer to ${path}:\n${text}`);
  return Number(status);
}

/**
 * Whether every admin path is `shown` to `from` (served: 200, or 503 from
 * `/status.json` where a model's connections have no status report, as
 * under the per-connection models) or hidden (404), several times over so
 * that every worker of a pool has answered.
 */
async function adminAnswers(
  port: number,
  shown: boolean,
  from?: string,
): Promise<boolean> {
  for (let round = 0; round < 4; round++) {
    for (const path of ADMIN_PATHS) {
      const status = await statusOf(port, path, from);
      const served = status === 200 ||
        (path === "/status.json" && status === 503);
      if (served !== shown || (!shown && status !== 404)) return false;
    }
  }
  return true;
}

for (const model of MODELS_UNDER_TEST) {
  Deno.test(`admin (${model.name}): loopback only by default, then off, then on`, async () => {
    await withOutsideAddress(async () => {
      await using served = await startModelDaemon(model);
      const { daemon, ports } = served;
      const port = ports.http;
      for (const path of ADMIN_PATHS) {
        assert.equal(await statusOf(port, path, OUTSIDE), 404, path);
      }
      assert.equal(await statusOf(port, "/", OUTSIDE), 200, "/ from outside");
      assert.equal(await statusOf(port, "/nope", OUTSIDE), 404);
      await eventually(
        () => adminAnswers(port, true),
        "every admin path served to 127.0.0.1",
      );

      const config = daemon.configPath!;
      const text = await Deno.readTextFile(config);
      await Deno.writeTextFile(config, `${text}\n[http]\nadmin = "off"\n`);
      daemon.kill("SIGHUP");
      await daemon.waitForLog(/reloaded/);
      await eventually(
        () => adminAnswers(port, false),
        'admin = "off": 404 to 127.0.0.1',
      );
      assert.equal(await statusOf(port, "/"), 200);

      await Deno.writeTextFile(config, `${text}\n[http]\nadmin = "on"\n`);
      daemon.kill("SIGHUP");
      await daemon.waitForLog(/reloaded[^]*reloaded/);
      await eventually(
        () => adminAnswers(port, true, OUTSIDE),
        `admin = "on": 200 to ${OUTSIDE}`,
      );
    });
  });
}

/**
 * Hands `koan inetd` a connection accepted on 127.0.0.1 from `source`
 * (python arranges the descriptors), sends `request`, prints the answer.
 */
const INETD_SCRIPT = `
import os, socket, subprocess, sys
source, request, argv = sys.argv[1], sys.argv[2].encode("latin-1"), sys.argv[3:]
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
client = socket.socket(); client.bind((source, 0)); client.connect(server.getsockname())
conn, _ = server.accept()
child = subprocess.Popen(argv, stdin=conn.fileno(), stdout=conn.fileno(), stderr=subprocess.DEVNULL)
conn.close(); server.close()
client.settimeout(30)
client.sendall(request)
received = b""
while True:
    data = client.recv(4096)
    if not data: break
    received += data
child.wait(30)
sys.stdout.write(received.decode("latin-1"))
`;

/** One `koan inetd --protocol http` connection from `source`; resolves to the status. */
async function inetdStatus(
  options: {
    source: string;
    path: string;
    config: string;
    env?: Record<string, string>;
  },
): Promise<number> {
  const request =
    `GET ${options.path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
  const output = await new Deno.Command("python3", {
    args: [
      "-c",
      INETD_SCRIPT,
      options.source,
      request,
      Deno.execPath(),
      ...RUN_FLAGS,
      MAIN,
      "inetd",
      "--protocol",
      "http",
      "--config",
      options.config,
    ],
    // inetd passes no address; systemd may (REMOTE_ADDR), as xinetd may (REMOTE_HOST).
    env: options.env ?? {},
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const text = new TextDecoder().decode(output.stdout);
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
  assert.ok(status, `an answer to ${options.path}:\n${text}`);
  return Number(status);
}

Deno.test("admin (koan inetd): 404 to a peer off loopback, 200 to loopback, anyone with on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-admin-" });
  try {
    const loopback = `${dir}/loopback.toml`;
    const on = `${dir}/on.toml`;
    const log = `[log]\nfile = "${dir}/koan.log"\n`;
    await Deno.writeTextFile(loopback, log);
    await Deno.writeTextFile(on, `${log}[http]\nadmin = "on"\n`);
    await withOutsideAddress(async () => {
      for (const path of ["/metrics", "/status"]) {
        assert.equal(
          await inetdStatus({ source: OUTSIDE, path, config: loopback }),
          404,
          path,
        );
        assert.equal(
          await inetdStatus({ source: OUTSIDE, path, config: on }),
          200,
          `${path} with admin = "on"`,
        );
      }
      assert.equal(
        await inetdStatus({ source: OUTSIDE, path: "/", config: loopback }),
        200,
      );
      // Plain inetd names no peer: koan asks the socket (getpeername).
      assert.equal(
        await inetdStatus({
          source: "127.0.0.1",
          path: "/metrics",
          config: loopback,
        }),
        200,
        "/metrics from loopback under plain inetd",
      );
      const logged = await Deno.readTextFile(`${dir}/koan.log`);
      assert.match(
        logged,
        /^127\.0\.0\.1 - - .*"GET \/metrics HTTP\/1\.1" 200 /m,
      );
      assert.match(
        logged,
        /^198\.18\.7\.1 - - .*"GET \/metrics HTTP\/1\.1" 404 /m,
      );
      // Under systemd's Accept=yes, the peer is in REMOTE_ADDR.
      assert.equal(
        await inetdStatus({
          source: "127.0.0.1",
          path: "/metrics",
          config: loopback,
          env: { REMOTE_ADDR: "127.0.0.1" },
        }),
        200,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
