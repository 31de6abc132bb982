import assert from "node:assert/strict";
import { printedUnder } from "./_testing.ts";
import { LIBC_PATHS } from "./self_command.ts";

const SELF = new URL("./self_command.ts", import.meta.url).href;

/** Runs selfCommand(["serve"]) in a Deno started with `flags`; its args. */
async function argsUnder(flags: string[]): Promise<string[]> {
  return await printedUnder(
    flags,
    `import { selfCommand } from "${SELF}";
console.log(JSON.stringify(selfCommand(["serve"]).args));`,
  ) as string[];
}

Deno.test("selfCommand() passes FFI for the C library on, so the copy can ignore SIGUSR1", async () => {
  const narrow = await argsUnder([
    "--allow-net",
    `--allow-ffi=${LIBC_PATHS[0]},${LIBC_PATHS[1]}`,
  ]);
  assert.ok(narrow.includes("--allow-net"), narrow.join(" "));
  assert.ok(
    narrow.includes(`--allow-ffi=${LIBC_PATHS[0]},${LIBC_PATHS[1]}`),
    narrow.join(" "),
  );
  assert.equal(narrow.at(-1), "serve");
});

Deno.test("selfCommand() passes FFI held whole as it is, and none when none is held", async () => {
  const whole = await argsUnder(["--allow-ffi"]);
  assert.deepEqual(whole.filter((arg) => arg.startsWith("--allow-ffi")), [
    "--allow-ffi",
  ]);
  const none = await argsUnder(["--allow-net"]);
  assert.ok(!none.some((arg) => arg.startsWith("--allow-ffi")), none.join(" "));
});
