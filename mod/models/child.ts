/**
 * `koan _worker pool|conn`: the hidden subcommand a child process of a
 * model runs. `pool` is one `processes` worker (`processes/child.ts`),
 * `conn` one `process-per-connection` child
 * (`per_connection/process_child.ts`).
 *
 * @module
 */
import { runPoolChild } from "./processes/child.ts";
import { runConnChild } from "./per_connection/process_child.ts";

/** Runs `koan _worker MODE`; resolves with the exit code. */
export async function runWorkerProcess(args: string[]): Promise<number> {
  switch (args[0]) {
    case "pool":
      return await runPoolChild();
    case "conn":
      return await runConnChild();
    default:
      console.error(`koan _worker: unknown mode "${args[0] ?? ""}"`);
      return 2;
  }
}
