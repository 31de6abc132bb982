/**
 * systemd socket activation with the real `systemd-socket-activate`: the
 * sockets of the shipped koan.socket / koan-http.socket (LISTEN_FDS +
 * LISTEN_FDNAMES, names read from the unit files) served by every model,
 * reloads that move an inherited socket between models, and the inetd
 * style of koan-zen.socket (`Accept=yes`: one `koan inetd` per connection).
 */
import assert from "node:assert/strict";
import type { ModelName } from "../../mod/config/settings.ts";
import {
  ask,
  connect,
  freePort,
  listeningSockets,
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

const MODELS: readonly ModelName[] = [
  "iterative",
  "async",
  "threads",
  "processes",
  "thread-per-connection",
  "process-per-connection",
];

for (const model of MODELS) {
  const pool = model === "threads"
    ? "thread"
    : model === "processes"
    ? "process"
    : undefined;
  Deno.test(`activation (${model}): the sockets of koan.socket and koan-http.socket, and an echo one, are served by name`, async () => {
    const zenName = await unitValue("koan.socket", "FileDescriptorName");
    const httpName = await unitValue("koan-http.socket", "FileDescriptorName");
    const [zenPort, httpPort, echoPort] = [freePort(), freePort(), freePort()];
    await using daemon = await activate(
      [zenPort, httpPort, echoPort],
      [zenName, httpName, "echo"],
      ["serve", "--model", model, "--workers", "2"],
    );
    // The first client starts koan and waits in systemd's queue meanwhile.
    assert.deepEqual(await ask(zenPort, ["Beautiful is better than?"]), [
      "ugly.",
    ]);
    await daemon.waitListening(echoPort, 30_000);
    for (
      const [port, protocol, fd] of [
        [zenPort, "zen", 3],
        [httpPort, "http", 4],
        [echoPort, "echo", 5],
      ] as const
    ) {
      assert.match(
        daemon.log,
        new RegExp(
          `listening on 127\\.0\\.0\\.1:${port} \\(${protocol}, ${model}, socket-activated fd ${fd}\\)`,
        ),
      );
      // systemd's socket is the only one: no worker bound a socket of its own.
      assert.equal(listeningSockets(port), 1, `${protocol}: one socket`);
    }
    if (pool) {
      const accepting = new RegExp(
        `\\[(w\\d+) \\d+\\] koan\\.worker: w\\d+ accepting on 127\\.0\\.0\\.1:${zenPort} \\(${pool}, [^)]*shared socket\\)`,
        "g",
      );
      const workers = new Set(
        [...daemon.log.matchAll(accepting)].map((m) => m[1]),
      );
      assert.equal(workers.size, 2, "two workers share systemd's socket");
    }
    // Several clients at once, on every socket.
    const answers = await Promise.all(
      ["Flat is better than?", "Simple is better than?", "Readability?"].map(
        (question) => ask(zenPort, [question]),
      ),
    );
    assert.deepEqual(answers, [["nested."], ["complex."], ["counts."]]);
    {
      using echo = await connect(echoPort);
      await send(echo, "ping\n");
      assert.equal((await readUntil(echo, "\n")).text, "ping\n");
      using http = await connect(httpPort);
      await send(http, "GET /healthz HTTP/1.1\r\nHost: koan\r\n\r\n");
      assert.match(
        (await readUntil(http, (t) => /\r\n\r\nok/.test(t))).text,
        /^HTTP\/1\.1 200 /,
      );
    }
    assert.doesNotMatch(daemon.log, /cannot serve the socket systemd passed/);
    assert.equal((await daemon.stop("SIGTERM")).code, 0, daemon.log);
  });
}

Deno.test("activation: reloads move an inherited socket between models in the master and pools with no failed request", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const config = `${dir.path}/koan.toml`;
  const write = (model: string) =>
    Deno.writeTextFile(
      config,
      `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${port}"\nmodel = "${model}"\nworkers = 2\n[log]\naccess = false\n`,
    );
  await write("async");
  await using daemon = await activate([port], ["zen"], [
    "serve",
    "--config",
    config,
  ]);
  const load = new ZenLoad(port, { clients: 3, timeoutMs: 20_000 });
  await daemon.waitForLog(/\(zen, async, socket-activated fd 3\)/, 30_000);
  await load.reach(50, 30_000);
  for (const model of ["processes", "threads", "iterative"]) {
    const reloads = (daemon.log.match(/reloaded/g) ?? []).length;
    await write(model);
    daemon.kill("SIGHUP");
    await daemon.waitForLog(
      new RegExp(`\\(zen, ${model}, socket-activated fd 3\\)`),
      30_000,
    );
    await daemon.waitForLog(new RegExp(`(reloaded[^]*){${reloads + 1}}`));
    const base = load.result.ok;
    await load.reach(base + 50, 30_000);
    assert.ok(load.result.ok >= base + 50, `${model} answers`);
  }
  const result = await load.stop();
  console.log(
    `activated socket, async -> processes -> threads -> iterative: ${result.ok} requests, ${result.failed} failed`,
  );
  assert.equal(result.failed, 0, result.errors.join("\n"));
  assert.equal(listeningSockets(port), 1, "systemd's socket only");
  assert.equal((await daemon.stop("SIGTERM")).code, 0);
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
