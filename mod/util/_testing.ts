/**
 * Scaffolding for tests that must see what code does under narrower
 * permissions than the test's own: run a snippet in a fresh Deno.
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * Runs `source` (a module that prints one JSON value) in a Deno started
 * with exactly `flags` and returns that value. A file, not `deno eval`,
 * which would grant every permission.
 */
export async function printedUnder(
  flags: string[],
  source: string,
): Promise<unknown> {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(script, source);
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", ...flags, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    await Deno.remove(script);
  }
}
