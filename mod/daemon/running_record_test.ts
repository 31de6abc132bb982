import assert from "node:assert/strict";
import { configOf } from "../config/_testing.ts";
import type { Config } from "../config/settings.ts";
import { withLogFile } from "../log/_testing.ts";
import {
  dropRunningRecord,
  readRunningRecord,
  removeRunningRecord,
  type RunningRecord,
  runningRecordPath,
  saveRunningRecord,
  writeRunningRecord,
} from "./running_record.ts";

function configWithPidFile(pidFile: string): Config {
  return configOf({
    listener: [{ protocol: "zen", address: "127.0.0.1:1060" }],
    daemon: { pid_file: pidFile },
  }).config;
}

function recordOf(pid: number, config: Config): RunningRecord {
  return {
    pid,
    options: {},
    env: {},
    cwd: "/",
    inherited: [],
    config,
    writtenAt: "2025-01-01T00:00:00.000Z",
  };
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koan-record-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runningRecordPath() puts the record beside the pid file", () => {
  assert.equal(
    runningRecordPath("/run/koan/koan.pid"),
    "/run/koan/koan.pid.config.json",
  );
});

Deno.test("writeRunningRecord() writes 0600 even under umask 000, and readRunningRecord() reads it back", async () => {
  await withDir(async (dir) => {
    const pidFile = `${dir}/koan.pid`;
    const record = recordOf(4242, configWithPidFile(pidFile));
    const previous = Deno.umask(0);
    try {
      writeRunningRecord(pidFile, record);
    } finally {
      Deno.umask(previous);
    }
    const info = await Deno.lstat(runningRecordPath(pidFile));
    assert.ok(info.isFile);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.deepEqual(await readRunningRecord(pidFile), { record });
  });
});

Deno.test("writeRunningRecord() replaces a symlink at the path, never writing through it", async () => {
  await withDir(async (dir) => {
    const pidFile = `${dir}/koan.pid`;
    await Deno.writeTextFile(`${dir}/victim`, "precious\n");
    await Deno.symlink(`${dir}/victim`, runningRecordPath(pidFile));
    writeRunningRecord(pidFile, recordOf(4242, configWithPidFile(pidFile)));
    assert.equal(await Deno.readTextFile(`${dir}/victim`), "precious\n");
    assert.ok((await Deno.lstat(runningRecordPath(pidFile))).isFile);
  });
});

Deno.test("readRunningRecord() says absent, and refuses a symlink or a file koan did not write", async () => {
  await withDir(async (dir) => {
    const pidFile = `${dir}/koan.pid`;
    const path = runningRecordPath(pidFile);
    assert.deepEqual(await readRunningRecord(pidFile), {
      problem: "absent",
      message: `no running record "${path}" beside the pid file`,
    });
    await Deno.writeTextFile(path, "not json");
    assert.deepEqual(await readRunningRecord(pidFile), {
      problem: "refused",
      message: `running record "${path}" is not one koan wrote`,
    });
    await Deno.writeTextFile(path, '{"pid": 42}');
    assert.equal(
      ((await readRunningRecord(pidFile)) as { problem: string }).problem,
      "refused",
    );
    await Deno.remove(path);
    await Deno.writeTextFile(`${dir}/victim`, "{}");
    await Deno.symlink(`${dir}/victim`, path);
    assert.deepEqual(await readRunningRecord(pidFile), {
      problem: "refused",
      message:
        `running record "${path}" is a symlink; koan never writes one like that`,
    });
  });
});

Deno.test("removeRunningRecord() removes only a regular file that names the pid", async () => {
  await withDir(async (dir) => {
    const pidFile = `${dir}/koan.pid`;
    const path = runningRecordPath(pidFile);
    assert.equal(removeRunningRecord(pidFile, 4242), undefined, "none: done");
    writeRunningRecord(pidFile, recordOf(999999, configWithPidFile(pidFile)));
    assert.equal(
      removeRunningRecord(pidFile, 4242),
      "it holds pid 999999, not this one",
    );
    assert.ok((await Deno.lstat(path)).isFile, "another daemon's: kept");
    assert.equal(removeRunningRecord(pidFile, 999999), undefined);
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);

    await Deno.writeTextFile(
      `${dir}/victim`,
      JSON.stringify({ pid: 4242 }),
    );
    await Deno.symlink(`${dir}/victim`, path);
    assert.equal(
      removeRunningRecord(pidFile, 4242),
      "it is a symlink (koan never writes through one)",
    );
    assert.ok((await Deno.lstat(path)).isSymlink);
  });
});

Deno.test("saveRunningRecord() writes nothing without [daemon] pid_file", async () => {
  await withDir(async (dir) => {
    const previous = Deno.cwd();
    Deno.chdir(dir);
    try {
      saveRunningRecord(configOf({}).config, { options: {} });
    } finally {
      Deno.chdir(previous);
    }
    // Without a pid file there is no name to write: not even ".config.json".
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  });
});

Deno.test("saveRunningRecord() keeps the daemon's serialisable options, $KOAN_CONFIG, cwd and sockets", async () => {
  await withDir(async (dir) => {
    const pidFile = `${dir}/koan.pid`;
    const config = configWithPidFile(pidFile);
    // What the daemon holds besides its load options: functions, a queue.
    const options = {
      path: "koan.toml",
      overrides: { values: { "log.level": "debug" }, model: "threads" },
      env: (name: string) => name === "KOAN_CONFIG" ? "/etc/k.toml" : "x",
      models: () => {
        throw new Error("never called");
      },
    };
    saveRunningRecord(config, {
      options,
      inherited: [{ fd: 3, name: "zen", address: "127.0.0.1:1060" }],
      configPath: "/srv/koan.toml",
      pid: 4242,
    });
    const read = await readRunningRecord(pidFile);
    assert.ok("record" in read, JSON.stringify(read));
    const { writtenAt, ...rest } = read.record;
    assert.ok(!Number.isNaN(Date.parse(writtenAt)));
    assert.deepEqual(rest, {
      pid: 4242,
      options: {
        path: "koan.toml",
        overrides: { values: { "log.level": "debug" }, model: "threads" },
      },
      env: { KOAN_CONFIG: "/etc/k.toml" },
      cwd: Deno.cwd(),
      configPath: "/srv/koan.toml",
      inherited: [{ fd: 3, name: "zen", address: "127.0.0.1:1060" }],
      config,
    });
  });
});

Deno.test("saveRunningRecord() warns and goes on when the record cannot be written", async () => {
  await withLogFile({}, (log) => {
    const pidFile = `${log.dir}/gone/koan.pid`;
    saveRunningRecord(configWithPidFile(pidFile), { options: {} });
    const [line, ...more] = log.lines();
    assert.deepEqual(more, []);
    assert.match(
      line!,
      new RegExp(
        `^WARN .*running record ${pidFile}\\.config\\.json not written \\(No such file`,
      ),
    );
  });
});

Deno.test("dropRunningRecord() removes this process's record and leaves another's with a warning", async () => {
  await withLogFile({}, async (log) => {
    const pidFile = `${log.dir}/koan.pid`;
    const config = configWithPidFile(pidFile);
    saveRunningRecord(config, { options: {} });
    dropRunningRecord(config);
    await assert.rejects(
      Deno.lstat(runningRecordPath(pidFile)),
      Deno.errors.NotFound,
    );
    saveRunningRecord(config, { options: {}, pid: 999999 });
    dropRunningRecord(config);
    assert.ok((await Deno.lstat(runningRecordPath(pidFile))).isFile);
    assert.match(
      log.lines().join("\n"),
      /running record .* left in place: it holds pid 999999, not this one/,
    );
  });
});
