/**
 * systemd socket activation with the real `systemd-socket-activate`: the
 * sockets of the shipped koan.socket / koan-http.socket (LISTEN_FDS +
 * LISTEN_FDNAMES, names read from the unit files) and the inetd style of
 * koan-zen.socket (`Accept=yes`: one `koan inetd` per connection).
 */
import assert from "node:assert/strict";
import {
  ask,
  connect,
  freePort,
  readUntil,
  ROOT_DIR,
  send,
} from "../_helpers.ts";
import {
  delay,
  koanArgs,
  spawnService,
  tempDir,
  tool,
  ZenLoad,
} from "./_service.ts";

/** A `Key=value` of a shipped unit file. */
async function unitValue(unit: string, key: string): Promise<string> {
  const text = await Deno.readTextFile(`${ROOT_DIR}systemd/${unit}`);
  const match = new RegExp(`^${key}=(.*)$`, "m").exec(text);
  if (!match) throw new Error(`${unit} has no ${key}=`);
  return match[1]!.trim();
}

/**
 * `systemd-socket-activate` listening on `ports`, named `names`, running
 * koan `args`; resolves once its sockets are bound.
 */
async function activate(
  ports: number[],
  names: string[],
  args: string[],
  extra: string[] = [],
) {
  const service = spawnService(tool("systemd-socket-activate"), [
    ...ports.flatMap((port) => ["-l", `127.0.0.1:${port}`]),
    ...(names.length ? [`--fdname=${names.join(":")}`] : []),
    ...extra,
    ...koanArgs(args),
  ]);
  await service.waitForLog(
    new RegExp(`Listening on 127\\.0\\.0\\.1:${ports.at(-1)} as`),
  );
  return service;
}

Deno.test("activation: koan serve adopts the sockets of koan.socket and koan-http.socket by name and serves exactly those", async () => {
  const zenName = await unitValue("koan.socket", "FileDescriptorName");
  const httpName = await unitValue("koan-http.socket", "FileDescriptorName");
  assert.equal(zenName, "zen");
  assert.equal(httpName, "http");
  const [zenPort, httpPort, echoPort] = [freePort(), freePort(), freePort()];
  await using daemon = await activate([zenPort, httpPort, echoPort], [
    zenName,
    httpName,
    "echo",
  ], ["serve"]);
  // systemd-socket-activate starts koan at the first connection, which
  // waits in the socket's queue meanwhile and must be served.
  assert.deepEqual(await ask(zenPort, ["Beautiful is better than?"]), [
    "ugly.",
  ]);
  await daemon.waitForLog(
    new RegExp(`listening on 127\\.0\\.0\\.1:${echoPort} \\(echo, async`),
  );
  assert.match(
    daemon.log,
    new RegExp(`:${httpPort} \\(http, async, socket-activated fd 4\\)`),
  );
  assert.match(
    daemon.log,
    new RegExp(
      `listening on 127\\.0\\.0\\.1:${zenPort} \\(zen, async, socket-activated fd 3\\)`,
    ),
  );
  using echo = await connect(echoPort);
  await send(echo, "ping\n");
  assert.equal((await readUntil(echo, "\n")).text, "ping\n");
  using http = await connect(httpPort);
  await send(http, "GET /healthz HTTP/1.1\r\nHost: koan\r\n\r\n");
  assert.match(
    (await readUntil(http, (t) => /\r\n\r\nok/.test(t))).text,
    /^HTTP\/1\.1 200 /,
  );
  // Exactly the passed sockets: not the default listeners.
  assert.equal((daemon.log.match(/listening on/g) ?? []).length, 3);
  assert.equal((await daemon.stop("SIGTERM")).code, 0);
});

Deno.test("activation: the config's listener at the same address gives the model, and a reload switches it on the same socket with no failed request", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const config = `${dir.path}/koan.toml`;
  const write = (model: string) =>
    Deno.writeTextFile(
      config,
      `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${port}"\nmodel = "${model}"\n[log]\naccess = false\n`,
    );
  await write("iterative");
  await using daemon = await activate([port], ["zen"], [
    "serve",
    "--config",
    config,
  ]);
  const load = new ZenLoad(port, { clients: 3 });
  await daemon.waitForLog(/\(zen, iterative, socket-activated fd 3\)/);
  await load.reach(100);
  await write("async");
  daemon.kill("SIGHUP");
  await daemon.waitForLog(/\(zen, async, socket-activated fd 3\)/);
  await daemon.waitForLog(/reloaded/);
  const base = load.result.ok;
  await load.reach(base + 200);
  const result = await load.stop();
  console.log(
    `activated socket, iterative -> async: ${result.ok} requests, ${result.failed} failed`,
  );
  assert.equal(result.failed, 0, result.errors.join("\n"));
  assert.ok(result.ok >= base + 200);
  // A stop closes koan's copy only: the socket (systemd's) stays bound.
  assert.equal((await daemon.stop("SIGTERM")).code, 0);
});

Deno.test("activation: a model that binds its own sockets cannot take an inherited one (exit 2, one line)", async () => {
  const port = freePort();
  await using daemon = await activate([port], ["zen"], [
    "serve",
    "--model",
    "processes",
  ]);
  // The first connection starts koan; it refuses to run and the client is
  // closed without an answer.
  const conn = await connect(port);
  await send(conn, "Beautiful is better than?");
  await readUntil(conn, ".", 10_000).finally(() => conn.close());
  const status = await daemon.exited;
  assert.equal(status.code, 2);
  assert.match(
    daemon.log,
    /listener\[0\]\.model: "processes" binds a socket in every worker and cannot serve the socket systemd passed \(fd 3/,
  );
  assert.doesNotMatch(daemon.log, /^\s+at /m);
});

Deno.test("activation: a socket named neither zen, http nor echo is a usage error naming LISTEN_FDNAMES", async () => {
  const port = freePort();
  await using daemon = await activate([port], ["koan.socket"], ["serve"]);
  const conn = await connect(port);
  await readUntil(conn, ".", 10_000).finally(() => conn.close());
  const status = await daemon.exited;
  assert.equal(status.code, 2);
  assert.match(daemon.log, /LISTEN_FDNAMES: fd 3 .* is named "koan\.socket"/);
});

Deno.test("activation: Accept=yes (koan-zen.socket) runs koan inetd per connection", async () => {
  const exec = await unitValue("koan-zen@.service", "ExecStart");
  assert.match(exec, /^\/usr\/local\/bin\/koan inetd --protocol zen /);
  assert.equal(await unitValue("koan-zen.socket", "Accept"), "yes");
  const port = freePort();
  await using activator = await activate([port], [], [
    "inetd",
    "--protocol",
    "zen",
  ], ["--accept", "--inetd"]);
  // Several clients, some at once: each gets its own koan process.
  const answers = await Promise.all([
    ask(port, ["Beautiful is better than?", "Flat is better than?"]),
    ask(port, ["Explicit is better than?"]),
    ask(port, ["Simple is better than?"]),
  ]);
  assert.deepEqual(answers, [
    ["ugly.", "nested."],
    ["implicit."],
    ["complex."],
  ]);
  await delay(50);
  assert.doesNotMatch(activator.log, /error|panic/i);
});
