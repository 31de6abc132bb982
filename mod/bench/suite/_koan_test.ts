import assert from "node:assert/strict";
import { SECTIONS } from "../../config/settings.ts";
import { acceptsAccessFile, koanToml } from "./_koan.ts";

Deno.test("koanToml() changes only the listener and the log files from the defaults", () => {
  assert.equal(
    koanToml({ protocol: "http", port: 8080, logFile: "/tmp/a b.log" }),
    [
      "[[listener]]",
      'protocol = "http"',
      'address = "127.0.0.1:8080"',
      "",
      "[log]",
      'file = "/tmp/a b.log"',
      "",
    ].join("\n"),
  );
  const off = koanToml({
    protocol: "zen",
    port: 1,
    logFile: "/l",
    accessFile: "/a",
    access: false,
    extra: "[limits]\nmax_connections = 5",
  });
  assert.match(
    off,
    /\[log\]\nfile = "\/l"\naccess_file = "\/a"\naccess = false\n\n\[limits\]/,
  );
});

Deno.test("acceptsAccessFile() agrees with the settings table and cleans up after itself", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await acceptsAccessFile(dir), "access_file" in SECTIONS.log);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
