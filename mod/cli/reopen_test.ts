import assert from "node:assert/strict";
import { runReopen } from "./reopen.ts";
import { withErrors } from "./_testing.ts";

Deno.test("runReopen() refuses a symlinked pid file with exit 1, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "koan-reopen-" });
  try {
    await Deno.writeTextFile(`${dir}/planted`, `${Deno.pid}\n`);
    await Deno.symlink(`${dir}/planted`, `${dir}/koan.pid`);
    const { value: code, errors } = await withErrors(() =>
      runReopen(["--pid-file", `${dir}/koan.pid`])
    );
    assert.equal(code, 1);
    assert.match(
      errors.join("\n"),
      /^koan: cannot reopen: pid file .* is a symlink/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
