/**
 * SIGHUP reload under steady load: the new config is applied (tables,
 * limits, log level) and changed listeners are restarted — a change of
 * model included — without one failed request. And SIGUSR2 reopens the log
 * file for logrotate.
 */
import assert from "node:assert/strict";
import { ask, freePort, startDaemon } from "../_helpers.ts";
import { delay, type LoadResult, tempDir, ZenLoad } from "./_service.ts";
import { switchInNamespace, switchUnderLoad } from "./_switch.ts";

import { listenerToml } from "./_switch.ts";

const TABLE_A = `[aphorisms]\n"Beautiful is better than?" = "ugly."\n`;
const TABLE_B = `${TABLE_A}"Koan is better than?" = "no koan."\n`;

for (const model of ["async", "threads", "processes"] as const) {
  Deno.test(`reload (${model}): three SIGHUPs under load fail no request and apply the log level and the new table`, async () => {
    await using dir = await tempDir();
    const port = freePort();
    const config = `${dir.path}/koan.toml`;
    const table = `${dir.path}/aphorisms.toml`;
    await Deno.writeTextFile(table, TABLE_A);
    const write = (level: string) =>
      Deno.writeTextFile(
        config,
        `${
          listenerToml(port, model)
        }\n[zen]\naphorisms = "${table}"\n[log]\nlevel = "${level}"\naccess = false\n`,
      );
    await write("info");
    await using daemon = await startDaemon(["--config", config], {
      ports: [port],
    });
    const load = new ZenLoad(port, { clients: 4 });
    await load.reach(100);
    const reloads = () => (daemon.log.match(/reloaded/g) ?? []).length;
    // 1: log level warning — the reload's own "reloaded" line is info, so
    // nothing more may be logged until level info is back.
    await write("warning");
    daemon.kill("SIGHUP");
    await delay(700);
    assert.equal(reloads(), 0, "no info line at level warning");
    // 2: back to info, with the new aphorism table.
    await Deno.writeTextFile(table, TABLE_B);
    await write("info");
    daemon.kill("SIGHUP");
    await daemon.waitForLog(/reloaded/);
    // 3: a third reload, the config unchanged.
    daemon.kill("SIGHUP");
    await daemon.waitForLog(/(reloaded[^]*){2}/);
    const base = load.result.ok;
    await load.reach(base + 100);
    const result = await load.stop();
    console.log(
      `reload ${model}: ${result.ok} requests, ${result.failed} failed`,
    );
    assert.equal(result.failed, 0, result.errors.join("\n"));
    assert.ok(result.ok > 200);
    assert.deepEqual(await ask(port, ["Koan is better than?"]), ["no koan."]);
  });
}

/** Switches within this isolate: the socket is handed over, never closed. */
const IN_ISOLATE_SWITCHES = [
  ["async", "iterative"],
  ["iterative", "async"],
  ["async", "thread-per-connection"],
] as const;

/**
 * Switches to or from a model whose workers bind their own SO_REUSEPORT
 * sockets: a socket leaves the group when it closes, and Linux resets
 * what sat in its accept queue unless net.ipv4.tcp_migrate_req=1 moves it
 * to a sibling (docs/deploy.md). These run in a network namespace of
 * their own with that setting, as a deployment would set it.
 */
const REUSEPORT_SWITCHES = [
  ["async", "threads"],
  ["threads", "async"],
  ["async", "processes"],
  ["processes", "async"],
  ["threads", "processes"],
] as const;

function check(from: string, to: string, result: LoadResult): void {
  console.log(
    `switch ${from} -> ${to}: ${result.ok} requests, ${result.failed} failed`,
  );
  assert.equal(result.failed, 0, result.errors.join("\n"));
  assert.ok(result.ok >= 200, "the new model serves");
}

for (const [from, to] of IN_ISOLATE_SWITCHES) {
  Deno.test(`reload: SIGHUP moves a listener from ${from} to ${to} under load with no failed request`, async () => {
    check(from, to, await switchUnderLoad(from, to));
  });
}

for (const [from, to] of REUSEPORT_SWITCHES) {
  Deno.test(`reload: SIGHUP moves a listener from ${from} to ${to} under load with no failed request (tcp_migrate_req=1)`, async () => {
    check(from, to, await switchInNamespace(from, to, { migrate: true }));
  });
}

Deno.test("reload: a new listener address is probed, bound and served; a removed one is drained", async () => {
  await using dir = await tempDir();
  const [a, b] = [freePort(), freePort()];
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(config, listenerToml(a, "async"));
  await using daemon = await startDaemon(["--config", config], { ports: [a] });
  await Deno.writeTextFile(config, listenerToml(b, "async"));
  daemon.kill("SIGHUP");
  await daemon.waitForLog(new RegExp(`listening on 127\\.0\\.0\\.1:${b}`));
  await daemon.waitForLog(/reloaded/);
  assert.deepEqual(await ask(b, ["Beautiful is better than?"]), ["ugly."]);
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port: a }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("reload: a listener address another program holds is reported and the rest goes on", async () => {
  await using dir = await tempDir();
  const [a, b] = [freePort(), freePort()];
  using squatter = Deno.listen({ hostname: "127.0.0.1", port: b });
  const config = `${dir.path}/koan.toml`;
  await Deno.writeTextFile(config, listenerToml(a, "async"));
  await using daemon = await startDaemon(["--config", config], { ports: [a] });
  await Deno.writeTextFile(
    config,
    `${listenerToml(a, "iterative")}\n${listenerToml(b, "async")}`,
  );
  daemon.kill("SIGHUP");
  await daemon.waitForLog(/listener\[1\] \(127\.0\.0\.1:\d+\) not started/);
  await daemon.waitForLog(/reloaded/);
  assert.deepEqual(await ask(a, ["Beautiful is better than?"]), ["ugly."]);
  void squatter;
});

Deno.test("start: an address another program holds is refused even though koan binds with SO_REUSEPORT", async () => {
  const port = freePort();
  // A socket with SO_REUSEPORT set, as a second koan would have.
  using squatter = Deno.listen({
    hostname: "127.0.0.1",
    port,
    reusePort: true,
  });
  const daemon = await startDaemon(["--zen", `127.0.0.1:${port}`]);
  const status = await daemon.exited;
  assert.equal(status.code, 1);
  assert.match(daemon.log, /cannot start: .*(in use|Address)/i);
  void squatter;
});

Deno.test("reload: SIGUSR2 reopens the log file after logrotate renamed it", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const logFile = `${dir.path}/koan.log`;
  await using daemon = await startDaemon([], {
    config: `${listenerToml(port, "async")}\n[log]\nfile = "${logFile}"\n`,
  });
  const logged = async (path: string, text: string) => {
    for (let i = 0; i < 200; i++) {
      if ((await Deno.readTextFile(path).catch(() => "")).includes(text)) {
        return;
      }
      await delay(50);
    }
    throw new Error(`${path} never got "${text}"`);
  };
  await logged(logFile, "listening on");
  await ask(port, ["Beautiful is better than?"]);
  await logged(logFile, "in=25 out=5");
  await Deno.rename(logFile, `${logFile}.1`);
  daemon.kill("SIGUSR2");
  for (let i = 0; i < 200; i++) {
    if (await Deno.stat(logFile).catch(() => undefined)) break;
    await delay(25);
  }
  await ask(port, ["Flat is better than?"]);
  await logged(logFile, "in=20 out=7");
  const rotated = await Deno.readTextFile(`${logFile}.1`);
  const fresh = await Deno.readTextFile(logFile);
  assert.match(rotated, /zen in=25 out=5 requests=1/);
  assert.match(fresh, /log file reopened/);
  assert.match(fresh, /\[master \d+\] koan\.access: .* zen in=20 out=7/);
  assert.doesNotMatch(rotated, /in=20 out=7/);
});
