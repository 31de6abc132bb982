/**
 * Descriptor exhaustion: with the daemon's open-file limit lowered by
 * prlimit, clients past the limit wait in the backlog while the accept loop
 * backs off (no CPU spin), and are served once descriptors free up.
 */
import assert from "node:assert/strict";
import {
  ask,
  connect,
  freePort,
  MAIN,
  readUntil,
  RUN_FLAGS,
  send,
  TestDaemon,
} from "../_helpers.ts";

function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!
    .split(" ");
  // utime and stime are fields 14 and 15 of /proc/pid/stat (1-based), in clock ticks.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

Deno.test("accept survives EMFILE without spinning and recovers when descriptors free", async () => {
  const port = freePort();
  const command = new Deno.Command("prlimit", {
    args: [
      "--nofile=48:48",
      Deno.execPath(),
      ...RUN_FLAGS,
      MAIN,
      "serve",
      "--zen",
      `127.0.0.1:${port}`,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  await using daemon = new TestDaemon(command.spawn());
  await daemon.waitForLog(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
  const held: Deno.TcpConn[] = [];
  try {
    // More clients than descriptors: the later ones cannot be accepted yet.
    for (let i = 0; i < 60; i++) held.push(await connect(port));
    await daemon.waitForLog(
      /accept failed: .*(Too many open files|os error 24)/,
    );
    const before = cpuSeconds(daemon.pid);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const used = cpuSeconds(daemon.pid) - before;
    assert.ok(
      used < 0.5,
      `accept loop used ${used} s of CPU in 2 s while out of descriptors`,
    );
    // Free descriptors: every waiting client gets served.
    for (const conn of held.splice(0, 45)) conn.close();
    const last = held.at(-1)!;
    await send(last, "Readability?");
    assert.equal((await readUntil(last, ".", 10_000)).text, "counts.");
  } finally {
    for (const conn of held) {
      try {
        conn.close();
      } catch {
        // Closed by a read timeout already.
      }
    }
  }
  assert.deepEqual(await ask(port, ["Flat is better than?"]), ["nested."]);
  await daemon.waitForLog(/accept recovered after \d+ failed tries/);
  // One warning per episode of exhaustion, not one per retry.
  const failed = daemon.log.match(/accept failed/g)?.length ?? 0;
  const recovered = daemon.log.match(/accept recovered/g)?.length ?? 0;
  assert.ok(failed >= 1 && failed <= recovered + 1, daemon.log);
});
