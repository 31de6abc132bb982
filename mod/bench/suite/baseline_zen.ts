/**
 * The comparison point for koan's Zen benchmark: the smallest correct Zen
 * server on raw `Deno.listen` — no config, limits, timeouts or logs. koan's
 * `async` model should reach at least 0.8x of it.
 *
 * Usage: deno run --allow-net mod/bench/suite/baseline_zen.ts PORT
 *
 * @module
 */
import { listenRaw } from "./_raw_listen.ts";

const encoder = new TextEncoder();
const table = new Map<string, Uint8Array>([
  ["Beautiful is better than?", encoder.encode("ugly.")],
  ["Explicit is better than?", encoder.encode("implicit.")],
  ["Simple is better than?", encoder.encode("complex.")],
]);
const unknown = encoder.encode("Error: unknown aphorism.");
const decoder = new TextDecoder();

async function serve(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  let pending = "";
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    pending += decoder.decode(buffer.subarray(0, n));
    let mark: number;
    while ((mark = pending.indexOf("?")) >= 0) {
      const question = pending.slice(0, mark + 1).trim();
      pending = pending.slice(mark + 1);
      await conn.write(table.get(question) ?? unknown);
    }
  }
}

await listenRaw(Number(Deno.args[0] ?? 1061), serve);
