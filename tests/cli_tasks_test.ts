/**
 * The deno.json tasks a user types with a wrong or a help flag: `--help`
 * exits 0 with the usage on stdout; a bad flag is one line on stderr and
 * exit 2, never a stack trace — the line Deno prints to name the task it
 * runs ("Task start …") aside.
 */
import assert from "node:assert/strict";
import { ROOT_DIR } from "./_helpers.ts";

const decoder = new TextDecoder();

/** Runs `deno task NAME ARGS` in the checkout; stderr without Deno's "Task" line. */
async function task(
  name: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", name, ...args],
    cwd: ROOT_DIR,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = decoder.decode(output.stderr)
    // deno task may colour its own line even with NO_COLOR: drop the codes.
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((line) => !line.startsWith(`Task ${name} `))
    .join("\n");
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr };
}

for (
  const [name, usage] of [
    ["start", /^Usage: koan \[serve\]/],
    ["bench", /^Usage: deno task bench/],
    ["compile", /^Usage: deno task compile/],
  ] as const
) {
  Deno.test(`deno task ${name} --help prints the usage and exits 0`, async () => {
    const result = await task(name, ["--help"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, usage);
    assert.equal(result.stderr, "");
  });

  Deno.test(`deno task ${name} with a bad flag: one line, exit 2, no stack trace`, async () => {
    const result = await task(name, ["--bogus"]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^[^\n]*--bogus[^\n]*\n$/);
    assert.doesNotMatch(result.stderr, /\bat .*:\d+:\d+|Uncaught|Stack/);
  });
}
