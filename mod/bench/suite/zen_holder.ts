/**
 * One client process of the many-connections benchmark (`many.ts`): holds
 * Zen connections open for its parent, which spreads them over several of
 * these because one process may open only so many files. Commands come as
 * JSON lines on stdin, each answered by one JSON line on stdout:
 *
 * - `{"open": N}`: open N more connections (500 at a time, so the listen
 *   backlog never overflows into SYN retries); answers
 *   `{"open": total, "failed": n}`.
 * - `{"ask": true}`: every connection asks one question at once; answers
 *   `{"answered": n, "failed": n, "latencies": [ms, ...]}`, each latency
 *   from that connection's write to the end of its answer.
 *
 * A connect that takes over 10 s, or an answer over 30 s, counts as failed
 * (the connection is closed and dropped), so a daemon that stops answering
 * gives a result, not a hung benchmark.
 *
 * End of stdin closes every connection and exits.
 *
 * Usage: deno run --allow-net mod/bench/suite/zen_holder.ts PORT
 *
 * @module
 */
const port = Number(Deno.args[0]);
const conns: Deno.TcpConn[] = [];
const question = new TextEncoder().encode("Simple is better than?");
const decoder = new TextDecoder();
const BATCH = 500;
const CONNECT_TIMEOUT_MS = 10_000;
const ANSWER_TIMEOUT_MS = 30_000;

/** A connection, or undefined when it failed or took too long. */
function connect(): Promise<Deno.TcpConn | undefined> {
  const connecting = Deno.connect({ hostname: "127.0.0.1", port }).catch(
    // Any failed connect counts as failed: refused, out of files or ports.
    () => undefined,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      // Too late to count; close it if it ever arrives.
      connecting.then((conn) => conn?.close());
      resolve(undefined);
    }, CONNECT_TIMEOUT_MS);
  });
  return Promise.race([
    connecting.finally(() => clearTimeout(timer)),
    late,
  ]);
}

async function open(count: number): Promise<{ open: number; failed: number }> {
  let failed = 0;
  for (let i = 0; i < count; i += BATCH) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(BATCH, count - i) }, connect),
    );
    for (const conn of opened) {
      if (conn) conns.push(conn);
      else failed++;
    }
  }
  return { open: conns.length, failed };
}

/** Connections closed because their answer was late: dropped after the round. */
const abandoned = new Set<Deno.TcpConn>();

async function ask(conn: Deno.TcpConn): Promise<number | undefined> {
  const started = performance.now();
  const buffer = new Uint8Array(64);
  try {
    await conn.write(question);
    let text = "";
    while (!text.endsWith(".")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
    return text === "complex." ? performance.now() - started : undefined;
  } catch (error) {
    // Refused by koan: reset, or closed before the question was written;
    // or closed here for being late (the read or write is then cancelled).
    const expected = error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.BrokenPipe ||
      (abandoned.has(conn) &&
        (error instanceof Deno.errors.Interrupted ||
          error instanceof Deno.errors.BadResource));
    if (!expected) throw error;
    return undefined;
  }
}

async function askAll() {
  const waiting = new Set(conns);
  const timer = setTimeout(() => {
    for (const conn of waiting) {
      abandoned.add(conn);
      conn.close();
    }
  }, ANSWER_TIMEOUT_MS);
  const results = await Promise.all(
    conns.map((conn) => ask(conn).finally(() => waiting.delete(conn))),
  );
  clearTimeout(timer);
  const kept = conns.filter((conn) => !abandoned.has(conn));
  conns.splice(0, conns.length, ...kept);
  abandoned.clear();
  const latencies = results.filter((ms) => ms !== undefined);
  return {
    answered: latencies.length,
    failed: results.length - latencies.length,
    latencies: latencies.map((ms) => Math.round(ms * 1000) / 1000),
  };
}

const encoder = new TextEncoder();
const stdout = Deno.stdout.writable.getWriter();
let pending = "";
for await (
  const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
) {
  pending += text;
  let end: number;
  while ((end = pending.indexOf("\n")) >= 0) {
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    if (!line.trim()) continue;
    const command = JSON.parse(line) as { open?: number; ask?: boolean };
    const reply = command.ask ? await askAll() : await open(command.open ?? 0);
    await stdout.write(encoder.encode(JSON.stringify(reply) + "\n"));
  }
}
// Only this closes them, and close() does not throw for a connection the
// peer closed or reset (checked on Deno 2.9.6).
for (const conn of conns) conn.close();
