import assert from "node:assert/strict";
import { ConfigError } from "../config/load.ts";
import { configOf } from "../config/_testing.ts";
import { checkLogFile, checkLogFiles, planConfig } from "./plan.ts";

Deno.test("planConfig() refuses two listeners on one address", async () => {
  const loaded = configOf({
    listener: [
      { protocol: "zen", address: ":1060" },
      { protocol: "echo", address: "0.0.0.0:1060" },
    ],
  });
  await assert.rejects(
    () => planConfig(loaded, [], {}),
    (e: unknown) =>
      e instanceof ConfigError &&
      /listener\[1\]\.address: "0\.0\.0\.0:1060" is listener\[0\]'s address too/
        .test(e.message),
  );
});

Deno.test("planConfig() passes a config without inherited sockets through", async () => {
  const loaded = configOf({});
  assert.deepEqual(await planConfig(loaded, [], {}), loaded.config);
});

Deno.test("checkLogFile() names log.file when the file cannot be opened", () => {
  assert.throws(
    () => checkLogFile("/nonexistent-dir/koan.log"),
    (e: unknown) =>
      e instanceof ConfigError && /^log\.file: cannot open/.test(e.message),
  );
  checkLogFile("");
});

Deno.test("checkLogFiles() names log.access_file and leaves syslog alone", () => {
  const { config } = configOf({
    log: { file: "syslog", access_file: "/nonexistent-dir/access.log" },
  });
  assert.throws(
    () => checkLogFiles(config.log),
    (e: unknown) =>
      e instanceof ConfigError &&
      /^log\.access_file: cannot open "\/nonexistent-dir/.test(e.message),
  );
  checkLogFiles({ ...config.log, access_file: "syslog:/nonexistent/log" });
});

Deno.test("checkLogFile() refuses a symlink, naming the key and the path, and creates a missing file 0640", async () => {
  const dir = await Deno.makeTempDir();
  const previous = Deno.umask(0);
  try {
    await Deno.writeTextFile(`${dir}/victim`, "precious\n");
    await Deno.symlink(`${dir}/victim`, `${dir}/koan.log`);
    assert.throws(
      () => checkLogFile(`${dir}/koan.log`, "log.access_file"),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          `log.access_file: cannot open "${dir}/koan.log": it is a symlink (koan never writes through one)`,
    );
    assert.equal(await Deno.readTextFile(`${dir}/victim`), "precious\n");
    checkLogFile(`${dir}/new.log`);
    assert.equal((await Deno.lstat(`${dir}/new.log`)).mode! & 0o777, 0o640);
  } finally {
    Deno.umask(previous);
    await Deno.remove(dir, { recursive: true });
  }
});
