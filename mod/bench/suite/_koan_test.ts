import assert from "node:assert/strict";
import { SECTIONS } from "../../config/settings.ts";
import {
  acceptsAccessFile,
  benchV8Flags,
  KOAN_V8_FLAGS,
  koanRun,
  koanToml,
} from "./_koan.ts";

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

Deno.test("benchV8Flags() is the shipped list unless KOAN_BENCH_V8_FLAGS names others", () => {
  const saved = Deno.env.get("KOAN_BENCH_V8_FLAGS");
  try {
    Deno.env.delete("KOAN_BENCH_V8_FLAGS");
    assert.deepEqual(benchV8Flags(), [...KOAN_V8_FLAGS]);
    Deno.env.set("KOAN_BENCH_V8_FLAGS", "--max-semi-space-size=1, --foo");
    assert.deepEqual(benchV8Flags(), ["--max-semi-space-size=1", "--foo"]);
    Deno.env.set("KOAN_BENCH_V8_FLAGS", "");
    assert.deepEqual(benchV8Flags(), []);
  } finally {
    if (saved === undefined) Deno.env.delete("KOAN_BENCH_V8_FLAGS");
    else Deno.env.set("KOAN_BENCH_V8_FLAGS", saved);
  }
});

Deno.test("koanRun() passes the V8 flags in one --v8-flags, and none for V8's defaults", () => {
  const shipped = koanRun([...KOAN_V8_FLAGS]);
  assert.equal(shipped[0], "run");
  assert.deepEqual(
    shipped.filter((arg) => arg.startsWith("--v8-flags")),
    [`--v8-flags=${KOAN_V8_FLAGS.join(",")}`],
  );
  assert.ok(!koanRun([]).some((arg) => arg.startsWith("--v8-flags")));
  assert.ok(!shipped.includes("-A") && !shipped.includes("--allow-all"));
});
