/**
 * `scripts/install.ts` (`deno task install`): installs into a temporary
 * root, both as a packager does (`--destdir`: the files carry the real
 * paths, none of the staging root) and as a user does (a prefix of its
 * own, then run): the installed units pass `systemd-analyze verify` with
 * the installed launcher, which answers `--version` and serves requests;
 * an installed xinetd entry serves under the real xinetd with the
 * installed config; and `--uninstall` removes exactly what was installed,
 * leaving a config the user changed and anything not koan's.
 */
import assert from "node:assert/strict";
import {
  ask,
  connect,
  freePort,
  readAll,
  ROOT_DIR,
  send,
} from "../_helpers.ts";
import { spawnService, tempDir, tool } from "./_service.ts";
import { SyslogSocket } from "./_syslog.ts";
import { exchange, oneResponse, rewriteEntry, startXinetd } from "./_xinetd.ts";

const decoder = new TextDecoder();
const SCRIPT = `${ROOT_DIR}scripts/install.ts`;
/** The permissions `deno task install` runs the script with. */
const SCRIPT_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
];

async function runInstall(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...SCRIPT_FLAGS, SCRIPT, ...args],
    cwd: ROOT_DIR,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Every file, symlink and directory under `root`, relative, sorted. */
function listTree(root: string, dir = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(`${root}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      out.push(`${path}/`);
      out.push(...listTree(root, path));
    } else out.push(path);
  }
  return out.sort();
}

async function httpGet(port: number, target: string): Promise<string> {
  using conn = await connect(port);
  await send(
    conn,
    `GET ${target} HTTP/1.1\r\nHost: koan\r\nConnection: close\r\n\r\n`,
  );
  return await readAll(conn);
}

const UNITS = [
  "koan-alert@.service",
  "koan-http.socket",
  "koan-zen.socket",
  "koan-zen@.service",
  "koan.service",
  "koan.socket",
];

Deno.test("install --destdir: launcher, config, units and entries in place with the real paths filled in; --uninstall removes exactly them", async () => {
  await using dir = await tempDir();
  const root = `${dir.path}/stage`;
  // Something not koan's, in a directory koan installs into.
  await Deno.mkdir(`${root}/usr/local/bin`, { recursive: true });
  await Deno.writeTextFile(`${root}/usr/local/bin/other`, "not koan's\n");
  const before = listTree(root);

  const installed = await runInstall([
    "--destdir",
    root,
    "--launcher",
    "wrapper",
  ]);
  assert.equal(installed.code, 0, installed.stderr);

  // The launcher: a wrapper with explicit permissions, never -A, naming
  // the installed paths and not the staging root.
  const launcher = await Deno.readTextFile(`${root}/usr/local/bin/koan`);
  assert.equal(
    (await Deno.stat(`${root}/usr/local/bin/koan`)).mode! & 0o777,
    0o755,
  );
  assert.match(launcher, /^#!\/bin\/sh\n/);
  assert.ok(!launcher.includes(root), launcher);
  assert.doesNotMatch(launcher, /'-A'|--allow-all|'--allow-run'|'--allow-ffi'/);
  assert.match(launcher, /'--allow-ffi=\/lib\/x86_64-linux-gnu\/libc\.so\.6,/);
  assert.match(launcher, /'--quiet' '--cached-only'/);
  assert.match(launcher, /'\/usr\/local\/lib\/koan\/main\.ts' "\$@"\n$/);
  await Deno.stat(`${root}/usr/local/lib/koan/main.ts`);
  await Deno.stat(`${root}/usr/local/lib/koan/node_modules/smol-toml`);

  // The config is the documented example.
  assert.equal(
    await Deno.readTextFile(`${root}/etc/koan/koan.toml`),
    await Deno.readTextFile(`${ROOT_DIR}config/koan.toml`),
  );

  // Units and entries, with the launcher's and config's paths filled in.
  const unitDir = `${root}/usr/local/lib/systemd/system`;
  assert.deepEqual(
    [...Deno.readDirSync(unitDir)].map((e) => e.name).sort(),
    UNITS,
  );
  assert.match(
    await Deno.readTextFile(`${unitDir}/koan.service`),
    /^ExecStart=\/usr\/local\/bin\/koan serve --config \/etc\/koan\/koan\.toml$/m,
  );
  for (const name of ["koan-zen", "koan-http"]) {
    const entry = await Deno.readTextFile(
      `${root}/usr/local/share/koan/xinetd.d/${name}`,
    );
    assert.match(entry, /^\s*server\s*= \/usr\/local\/bin\/koan$/m);
    assert.match(entry, /--config \/etc\/koan\/koan\.toml$/m);
  }
  assert.match(
    await Deno.readTextFile(`${root}/usr/local/share/koan/inetd.conf`),
    /^1060\s.*\/usr\/local\/bin\/koan koan inetd --protocol zen --config \/etc\/koan\/koan\.toml$/m,
  );
  const manifest = JSON.parse(
    await Deno.readTextFile(
      `${root}/usr/local/share/koan/install-manifest.json`,
    ),
  );
  const listed = manifest.entries.map((e: { path: string }) => e.path);
  for (
    const path of [
      "/usr/local/bin/koan",
      "/etc/koan/koan.toml",
      "/usr/local/lib/systemd/system/koan.service",
      "/usr/local/share/koan/xinetd.d/koan-zen",
      "/usr/local/lib/koan/node_modules",
    ]
  ) assert.ok(listed.includes(path), `the manifest lists ${path}`);
  assert.ok(
    !listed.includes("/usr/local/bin"),
    "a directory it found is not its own",
  );

  const removed = await runInstall(["--destdir", root, "--uninstall"]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(listTree(root), before);
  assert.equal(
    await Deno.readTextFile(`${root}/usr/local/bin/other`),
    "not koan's\n",
  );
});

Deno.test("install: the installed launcher serves, an installed xinetd entry serves under xinetd with the installed config, and --uninstall keeps the config the user changed", async () => {
  await using dir = await tempDir();
  const root = `${dir.path}/root`;
  const prefix = `${root}/usr/local`;
  const layout = ["--prefix", prefix, "--sysconfdir", `${root}/etc`];

  // auto: the compiled binary where deno compile works, else the wrapper.
  const installed = await runInstall(layout);
  assert.equal(installed.code, 0, installed.stderr);
  const launcher = `${prefix}/bin/koan`;
  const config = `${root}/etc/koan/koan.toml`;
  if (!/the compiled binary/.test(installed.stdout)) {
    assert.match(
      installed.stdout,
      /^koan: deno compile cannot download the denort runtime here: installed a wrapper/m,
    );
  }

  // The installed units start the installed launcher: systemd-analyze
  // verify checks that ExecStart= names an executable (the template
  // through an instance of it, in a copy of the unit directory).
  const units = `${dir.path}/units`;
  await Deno.mkdir(units);
  for (const unit of UNITS) {
    await Deno.copyFile(
      `${prefix}/lib/systemd/system/${unit}`,
      `${units}/${unit}`,
    );
  }
  await Deno.copyFile(
    `${units}/koan-zen@.service`,
    `${units}/koan-zen@test.service`,
  );
  for (const unit of ["koan.service", "koan-zen@test.service"]) {
    const text = await Deno.readTextFile(`${units}/${unit}`);
    assert.match(
      text,
      new RegExp(`^ExecStart=${launcher} .* --config ${config}$`, "m"),
    );
    const verify = await new Deno.Command(tool("systemd-analyze"), {
      args: ["verify", "--man=no", `${units}/${unit}`],
      stdout: "piped",
      stderr: "piped",
      env: { SYSTEMD_LOG_COLOR: "0" },
    }).output();
    const said = decoder.decode(verify.stdout) + decoder.decode(verify.stderr);
    assert.equal(verify.code, 0, said);
    assert.equal(said.trim(), "", `warnings from verify:\n${said}`);
  }

  // koan --version, from the installed launcher with nothing of the
  // caller's environment but PATH.
  const version = await new Deno.Command(launcher, {
    args: ["--version"],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(decoder.decode(version.stderr), "");
  assert.match(decoder.decode(version.stdout), /^koan \d+\.\d+\.\d+\n$/);

  // koan serve with the installed config; the processes model checks
  // that the launcher's permissions let koan start copies of itself.
  const [zenPort, httpPort] = [freePort(), freePort()];
  {
    await using daemon = spawnService(launcher, [
      "serve",
      "--config",
      config,
      "--zen",
      `127.0.0.1:${zenPort}`,
      "--http",
      `127.0.0.1:${httpPort}`,
      "--model",
      "processes",
      "--workers",
      "1",
    ]);
    await daemon.waitForLog(
      new RegExp(`listening on 127\\.0\\.0\\.1:${httpPort}`),
    );
    assert.deepEqual(await ask(zenPort, ["Beautiful is better than?"]), [
      "ugly.",
    ]);
    assert.match(
      await httpGet(httpPort, "/"),
      /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nHello, world!$/,
    );
    daemon.kill("SIGTERM");
    assert.equal((await daemon.exited).code, 0, daemon.log);
  }

  // The installed xinetd entries name the installed launcher and config;
  // the test changes only where they listen and who runs them.
  const entries: string[] = [];
  for (
    const [name, port] of [
      ["koan-zen", zenPort],
      ["koan-http", httpPort],
    ] as const
  ) {
    const text = await Deno.readTextFile(
      `${prefix}/share/koan/xinetd.d/${name}`,
    );
    assert.match(text, new RegExp(`^\\s*server\\s*= ${launcher}$`, "m"));
    assert.ok(text.includes(`--config ${config}\n`), text);
    entries.push(rewriteEntry(text, { port }));
  }
  await using syslog = new SyslogSocket(dir.path);
  {
    await using xinetd = await startXinetd(dir.path, entries, [
      zenPort,
      httpPort,
    ]);
    // The installed config as shipped (logs: stderr, which xinetd makes
    // the client's socket): the client gets its answer and nothing else.
    assert.deepEqual(
      await exchange(zenPort, "Beautiful is better than?", {
        closeWrite: true,
      }),
      { text: "ugly.", end: "eof" },
    );
    const health = await exchange(
      httpPort,
      "GET /healthz HTTP/1.1\r\nHost: koan\r\nConnection: close\r\n\r\n",
    );
    assert.equal(health.end, "eof");
    assert.equal(oneResponse(health.text).status, "HTTP/1.1 200 OK");

    // The user edits the installed config: logs to a syslog socket. The
    // next connections' koan reads it.
    const shipped = await Deno.readTextFile(config);
    assert.match(shipped, /^file = ""/m);
    await Deno.writeTextFile(
      config,
      shipped.replace(/^file = ""/m, `file = "syslog:${syslog.path}"`),
    );
    assert.deepEqual(
      await ask(zenPort, ["Beautiful is better than?", "Flat is better than?"]),
      ["ugly.", "nested."],
    );
    assert.match(
      await httpGet(httpPort, "/healthz"),
      /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok/,
    );
    await syslog.waitFor(
      (m) => / zen in=45 out=12 requests=2 /.test(m.msg),
      "with the Zen connection's access line",
    );
    await syslog.waitFor(
      (m) => /"GET \/healthz HTTP\/1\.1" 200 /.test(m.msg),
      "with the HTTP request's access line",
    );
    void xinetd;
  }

  // Installing again never overwrites an existing config.
  const again = await runInstall([...layout, "--launcher", "wrapper"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /kept the existing .*koan\.toml/);
  assert.match(await Deno.readTextFile(config), /^file = "syslog:/m);

  const removed = await runInstall(["--prefix", prefix, "--uninstall"]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(
    removed.stdout,
    /kept .*koan\.toml: changed since it was installed/,
  );
  assert.deepEqual(listTree(root), [
    "/etc/",
    "/etc/koan/",
    "/etc/koan/koan.toml",
  ]);
  assert.match(await Deno.readTextFile(config), /^file = "syslog:/m);
});

Deno.test("install: usage errors exit 2 with the usage; --uninstall with nothing installed exits 1", async () => {
  await using dir = await tempDir();
  const bad = await runInstall(["--launcher", "magic"]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^koan install: --launcher must be auto, compiled or wrapper \(got "magic"\)\nUsage: /,
  );
  const relative = await runInstall(["--prefix", "usr/local"]);
  assert.equal(relative.code, 2);
  const none = await runInstall([
    "--prefix",
    `${dir.path}/nothing`,
    "--uninstall",
  ]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no koan install manifest/);
});
