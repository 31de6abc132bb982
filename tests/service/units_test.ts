/**
 * Every shipped systemd unit passes `systemd-analyze verify` without a
 * single warning. verify checks that ExecStart= programs exist, so the
 * units are copied to a temp directory with /usr/local/bin/koan pointed at
 * a stand-in; nothing else in the text changes. And the settings the
 * service contract depends on are what DESIGN §6 asks for.
 */
import assert from "node:assert/strict";
import { ROOT_DIR } from "../_helpers.ts";
import { tempDir, tool } from "./_service.ts";
import { loadConfig } from "../../mod/config/load.ts";

const UNIT_DIR = `${ROOT_DIR}systemd/`;

function units(): string[] {
  return [...Deno.readDirSync(UNIT_DIR)].map((e) => e.name).filter((name) =>
    /\.(service|socket)$/.test(name)
  ).sort();
}

function values(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) =>
    m[1]!.trim()
  );
}

Deno.test("units: the shipped set is complete", () => {
  assert.deepEqual(units(), [
    "koan-alert@.service",
    "koan-http.socket",
    "koan-zen.socket",
    "koan-zen@.service",
    "koan.service",
    "koan.socket",
  ]);
});

for (const unit of units()) {
  Deno.test(`units: systemd-analyze verify ${unit} is clean`, async () => {
    await using dir = await tempDir();
    const standIn = `${dir.path}/koan`;
    await Deno.writeTextFile(standIn, "#!/bin/sh\nexit 0\n");
    await Deno.chmod(standIn, 0o755);
    for (const name of units()) {
      const text = await Deno.readTextFile(`${UNIT_DIR}${name}`);
      await Deno.writeTextFile(
        `${dir.path}/${name}`,
        text.replaceAll("/usr/local/bin/koan", standIn),
      );
    }
    // A template is verified through an instance of it.
    const target = unit.includes("@.") ? unit.replace("@.", "@test.") : unit;
    if (target !== unit) {
      await Deno.copyFile(`${dir.path}/${unit}`, `${dir.path}/${target}`);
    }
    const output = await new Deno.Command(tool("systemd-analyze"), {
      args: ["verify", "--man=no", `${dir.path}/${target}`],
      stdout: "piped",
      stderr: "piped",
      env: { SYSTEMD_LOG_COLOR: "0" },
    }).output();
    const text = new TextDecoder().decode(output.stdout) +
      new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, text);
    assert.equal(text.trim(), "", `warnings from verify:\n${text}`);
  });
}

Deno.test("units: koan.service is a notify service that drains before systemd kills", async () => {
  const text = await Deno.readTextFile(`${UNIT_DIR}koan.service`);
  const one = (key: string) => {
    const found = values(text, key);
    assert.equal(found.length, 1, `${key}= once`);
    return found[0]!;
  };
  assert.equal(one("Type"), "notify");
  assert.equal(one("NotifyAccess"), "main");
  assert.equal(one("ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("KillMode"), "mixed");
  assert.equal(one("DynamicUser"), "yes");
  assert.equal(one("NoNewPrivileges"), "yes");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
  assert.match(one("LimitNOFILE"), /^\d+$/);
  assert.match(one("OnFailure"), /^koan-alert@%n\.service$/);
  assert.match(
    one("ExecStart"),
    /^\/usr\/local\/bin\/koan serve --config \/etc\/koan\/koan\.toml$/,
  );
  // The stop timeout outlasts koan's own drain deadline (default config).
  const { config } = await loadConfig({ path: `${ROOT_DIR}config/koan.toml` })
    .catch(() => loadConfig({ env: () => undefined }));
  const stopSec = Number(one("TimeoutStopSec").replace(/s$/, ""));
  assert.ok(stopSec > config.limits.shutdown_timeout);
  assert.match(one("RestartSec"), /^\d+s$/);
  assert.match(one("WatchdogSec"), /^\d+s$/);
});

Deno.test("units: socket units name their descriptors by protocol", async () => {
  for (
    const [unit, name] of [["koan.socket", "zen"], ["koan-http.socket", "http"]]
  ) {
    const text = await Deno.readTextFile(`${UNIT_DIR}${unit}`);
    assert.deepEqual(values(text, "FileDescriptorName"), [name]);
    assert.deepEqual(values(text, "Service"), ["koan.service"]);
  }
  const accept = await Deno.readTextFile(`${UNIT_DIR}koan-zen.socket`);
  assert.deepEqual(values(accept, "Accept"), ["yes"]);
});
