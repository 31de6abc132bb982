import assert from "node:assert/strict";
import { printedUnder } from "../../util/_testing.ts";

import { logNeeds } from "./spawn.ts";
import { LIBC_PATHS } from "../../util/self_command.ts";

const SPAWN = new URL("./spawn.ts", import.meta.url).href;

/** Runs permissionFlags(needs) in a Deno started with `flags`. */
async function flagsUnder(flags: string[], needs: object): Promise<string[]> {
  return await printedUnder(
    flags,
    `import { permissionFlags } from "${SPAWN}";
console.log(JSON.stringify(permissionFlags(${JSON.stringify(needs)})));`,
  ) as string[];
}

Deno.test("permissionFlags() passes a whole permission only when held whole", async () => {
  const flags = await flagsUnder(["--allow-net", "--allow-read"], {
    net: ["127.0.0.1:1060"],
    read: ["/srv/www"],
    write: ["/var/log/koan.log"],
  });
  assert.deepEqual(flags, ["--allow-net", "--allow-read"]);
});

Deno.test("permissionFlags() narrows partial grants to what the child needs", async () => {
  const flags = await flagsUnder([
    "--allow-net=127.0.0.1:1060,127.0.0.1:8080",
    "--allow-read=/srv",
    "--allow-sys=hostname",
  ], {
    net: ["127.0.0.1:1060"],
    read: ["/srv/www", "/etc/shadow"],
    write: ["/var/log/koan.log"],
  });
  assert.deepEqual(flags, [
    "--allow-net=127.0.0.1:1060",
    "--allow-read=/srv/www",
    "--allow-sys=hostname",
  ]);
});

Deno.test("permissionFlags() never passes -A, run or ffi", async () => {
  const flags = await flagsUnder(["-A"], { net: [], read: [], write: [] });
  assert.deepEqual(flags, ["--allow-env", "--allow-sys"]);
});

Deno.test("permissionFlags() gives a child that logs to syslog the network it binds in", async () => {
  const needs = logNeeds({
    file: "/var/log/koan.log",
    access: true,
    access_file: "syslog:/run/log.sock",
  });
  assert.deepEqual(needs, {
    read: ["/var/log/koan.log"],
    write: ["/var/log/koan.log", "/run/log.sock"],
    syslog: true,
  });
  const flags = await flagsUnder(["--allow-net", "--allow-write"], {
    net: [],
    ...needs,
  });
  assert.deepEqual(flags, ["--allow-net", "--allow-write"]);
  const files = logNeeds({ file: "", access: false, access_file: "/a.log" });
  assert.deepEqual(files, { read: [], write: [], syslog: false });
  assert.deepEqual(
    await flagsUnder(["--allow-net"], { net: [], ...files }),
    [],
  );
});

/** Runs workerCommand("pool", no needs) in a Deno started with `flags`; its args. */
async function workerArgsUnder(flags: string[]): Promise<string[]> {
  return await printedUnder(
    flags,
    `import { workerCommand } from "${SPAWN}";
console.log(JSON.stringify(workerCommand("pool", { net: [], read: [], write: [] }).args));`,
  ) as string[];
}

Deno.test("workerCommand() passes FFI for the C library alone, so the child can ignore SIGUSR1", async () => {
  const libc = `--allow-ffi=${LIBC_PATHS.join(",")}`;
  const whole = await workerArgsUnder(["-A"]);
  assert.ok(whole.includes(libc), whole.join(" "));
  assert.ok(!whole.includes("--allow-ffi"), "never FFI whole");
  const narrow = await workerArgsUnder([
    `--allow-run=${Deno.execPath()}`,
    `--allow-ffi=${LIBC_PATHS[0]}`,
  ]);
  assert.ok(narrow.includes(`--allow-ffi=${LIBC_PATHS[0]}`), narrow.join(" "));
  const none = await workerArgsUnder([`--allow-run=${Deno.execPath()}`]);
  assert.ok(!none.some((arg) => arg.startsWith("--allow-ffi")), none.join(" "));
});
