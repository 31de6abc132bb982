/**
 * The real xinetd, in the foreground, launching koan from the shipped
 * inetd/xinetd.d entries (rewritten only for a test: loopback, a free
 * port, this user, this checkout's koan), in `nowait` and `wait` mode; and
 * the shipped inetd.conf line's command run the inetd way.
 */
import assert from "node:assert/strict";
import {
  ask,
  connect,
  eventually,
  freePort,
  readUntil,
  ROOT_DIR,
  send,
  type TestDaemon,
} from "../_helpers.ts";
import {
  delay,
  koanArgs,
  koanWrapper,
  spawnService,
  tempDir,
  tool,
} from "./_service.ts";

interface EntryOptions {
  port: number;
  wrapper: string;
  config: string;
  /** Attribute overrides, e.g. `{ per_source: "2" }`. */
  set?: Record<string, string>;
  /** Extra server_args before --protocol. */
  args?: string;
}

/** The shipped xinetd.d entry `name`, rewritten to run here. */
async function entry(name: string, options: EntryOptions): Promise<string> {
  let text = await Deno.readTextFile(`${ROOT_DIR}inetd/xinetd.d/${name}`);
  const set: Record<string, string> = {
    port: String(options.port),
    bind: "127.0.0.1",
    user: Deno.env.get("USER") ?? "root",
    server: options.wrapper,
    ...options.set,
  };
  for (const [key, value] of Object.entries(set)) {
    const line = new RegExp(`^(\\s*${key}\\s*=).*$`, "m");
    assert.match(text, line, `${name} sets ${key}`);
    text = text.replace(line, `$1 ${value}`);
  }
  text = text.replace(
    /--config \/etc\/koan\/koan\.toml/,
    `--config ${options.config}`,
  );
  if (options.args) {
    text = text.replace(/server_args\s*=\s*inetd /, `$& ${options.args} `);
  }
  return text;
}

async function waitForPort(port: number, xinetd: TestDaemon): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await delay(25);
    }
  }
  throw new Error(`xinetd never listened on ${port}:\n${xinetd.log}`);
}

async function startXinetd(
  dir: string,
  entries: string[],
  ports: number[],
): Promise<TestDaemon> {
  const conf = `${dir}/xinetd.conf`;
  await Deno.writeTextFile(
    conf,
    `defaults\n{\n\tlog_type = FILE ${dir}/xinetd.log\n}\n${
      entries.join("\n")
    }`,
  );
  const xinetd = spawnService(tool("xinetd"), [
    "-dontfork",
    "-f",
    conf,
    "-pidfile",
    `${dir}/xinetd.pid`,
  ]);
  // Probing starts (and ends) one koan per port: harmless.
  for (const port of ports) await waitForPort(port, xinetd);
  return xinetd;
}

async function httpGet(port: number, target: string): Promise<string> {
  using conn = await connect(port);
  await send(
    conn,
    `GET ${target} HTTP/1.1\r\nHost: koan\r\nConnection: close\r\n\r\n`,
  );
  return (await readUntil(conn, () => false, 10_000)).text;
}

Deno.test("xinetd: the shipped koan-zen and koan-http entries serve Zen and HTTP through koan inetd", async () => {
  await using dir = await tempDir();
  const wrapper = await koanWrapper(dir.path);
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(config, `[log]\nfile = "${dir.path}/koan.log"\n`);
  const [zenPort, httpPort] = [freePort(), freePort()];
  await using xinetd = await startXinetd(dir.path, [
    await entry("koan-zen", { port: zenPort, wrapper, config }),
    await entry("koan-http", { port: httpPort, wrapper, config }),
  ], [zenPort, httpPort]);
  const answers = await Promise.all([
    ask(zenPort, ["Beautiful is better than?", "Flat is better than?"]),
    ask(zenPort, ["Explicit is better than?"]),
  ]);
  assert.deepEqual(answers, [["ugly.", "nested."], ["implicit."]]);
  const health = await httpGet(httpPort, "/healthz");
  assert.match(health, /^HTTP\/1\.1 200 /);
  const hello = await httpGet(httpPort, "/");
  assert.match(hello, /^HTTP\/1\.1 200 [^]*\r\n\r\nHello, world!/);
  // Logs went to the log file, tagged inetd with each process's pid, and
  // never to the client.
  const log = await Deno.readTextFile(`${dir.path}/koan.log`);
  assert.match(log, /\[inetd \d+\] koan\.access: .* zen in=45 out=12/);
  assert.doesNotMatch(answers.flat().join(""), /INFO/);
  void xinetd;
});

Deno.test("xinetd: per_source in the shipped entry limits one client's connections", async () => {
  await using dir = await tempDir();
  const wrapper = await koanWrapper(dir.path);
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(config, "");
  const port = freePort();
  await using xinetd = await startXinetd(dir.path, [
    await entry("koan-zen", {
      port,
      wrapper,
      config,
      set: { per_source: "2" },
    }),
  ], [port]);
  // xinetd counts the probe connection's koan against per_source until it
  // has exited; on a loaded machine that takes longer than any fixed pause.
  // xinetd may not even have started it yet when the probe returns, so wait
  // for xinetd's own record of its exit (the entry logs DURATION on exit).
  await eventually(
    async () =>
      /EXIT: koan-zen/.test(await Deno.readTextFile(`${dir.path}/xinetd.log`)),
    "the probe connection's koan has exited",
  );
  const held = [await connect(port), await connect(port)];
  // Both are served...
  for (const conn of held) {
    await send(conn, "Beautiful is better than?");
    assert.equal((await readUntil(conn, ".")).text, "ugly.");
  }
  // ...and a third from the same address is closed by xinetd unanswered.
  using third = await connect(port);
  await send(third, "Beautiful is better than?").catch(() => {});
  const reply = await readUntil(third, ".", 5000);
  assert.equal(reply.text, "");
  for (const conn of held) conn.close();
  void xinetd;
});

Deno.test("xinetd: wait = yes hands koan inetd --wait the listening socket; it serves many clients, exits when idle, and is started again", async () => {
  await using dir = await tempDir();
  const wrapper = await koanWrapper(dir.path);
  const config = `${dir.path}/koan.toml`;
  const logFile = `${dir.path}/koan.log`;
  await Deno.writeTextFile(
    config,
    `[limits]\nidle_exit = 1\n[log]\nfile = "${logFile}"\n`,
  );
  const port = freePort();
  await using xinetd = await startXinetd(dir.path, [
    await entry("koan-zen", {
      port,
      wrapper,
      config,
      set: { wait: "yes" },
      args: "--wait",
    }),
  ], [port]);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await ask(port, ["Beautiful is better than?"]), [
      "ugly.",
    ]);
  }
  const pids = async () =>
    new Set(
      [
        ...(await Deno.readTextFile(logFile)).matchAll(
          /\[inetd (\d+)\] koan\.access/g,
        ),
      ].map((m) => m[1]),
    );
  // Probe + three clients: at most two processes served them all.
  await delay(100);
  assert.ok((await pids()).size <= 2);
  for (let i = 0; i < 60; i++) {
    if ((await Deno.readTextFile(logFile)).includes("no client for 1 s")) break;
    await delay(100);
  }
  const before = await pids();
  assert.match(await Deno.readTextFile(logFile), /no client for 1 s: exiting/);
  // xinetd takes the socket back and starts koan again for the next one.
  assert.deepEqual(await ask(port, ["Flat is better than?"]), ["nested."]);
  await delay(100);
  const after = await pids();
  assert.ok(after.size > before.size, "a new koan served the next client");
  void xinetd;
});

Deno.test("inetd.conf: the shipped line's command serves one connection on stdin/stdout", async () => {
  const text = await Deno.readTextFile(`${ROOT_DIR}inetd/inetd.conf`);
  const line = text.split("\n").find((l) => l.trim() && !l.startsWith("#"));
  assert.ok(line, "inetd.conf has an active line");
  const [service, type, proto, wait, user, server, ...argv] = line.trim()
    .split(/\s+/);
  assert.equal(service, "1060");
  assert.equal(type, "stream");
  assert.equal(proto, "tcp");
  assert.match(wait!, /^nowait/);
  assert.equal(user, "koan");
  assert.equal(server, "/usr/local/bin/koan");
  assert.equal(argv[0], "koan");
  const args = argv.slice(1).filter((a) =>
    a !== "--config" && a !== "/etc/koan/koan.toml"
  );
  // inetd's nowait contract, played by systemd-socket-activate --inetd.
  const port = freePort();
  await using activator = spawnService(tool("systemd-socket-activate"), [
    "-l",
    `127.0.0.1:${port}`,
    "--accept",
    "--inetd",
    ...koanArgs(args),
  ]);
  await activator.waitForLog(/Listening on/);
  assert.deepEqual(await ask(port, ["Beautiful is better than?"]), ["ugly."]);
});
