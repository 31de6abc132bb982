/**
 * What the raw `Deno.listen` baselines share (`baseline_zen.ts`,
 * `baseline_http_loop.ts`): the accept loop on 127.0.0.1, Nagle off as
 * koan has it, and a connection's end. Each baseline brings only its
 * protocol loop, so the two stand on the same footing.
 *
 * @module
 */

/**
 * Listens on 127.0.0.1:`port` and runs `serve` on every connection, then
 * closes it; a client that resets the connection or leaves before its
 * answer ends only its own. Logs "listening on" to stderr; never returns.
 */
export async function listenRaw(
  port: number,
  serve: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.error(`listening on 127.0.0.1:${port}`);
  for await (const conn of listener) {
    (conn as Deno.TcpConn).setNoDelay(true);
    handle(conn, serve);
  }
}

async function handle(
  conn: Deno.Conn,
  serve: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  try {
    await serve(conn);
  } catch (error) {
    // Client gone: it reset the connection, or left before its answer.
    if (
      !(error instanceof Deno.errors.ConnectionReset ||
        error instanceof Deno.errors.BrokenPipe)
    ) throw error;
  } finally {
    // Only this closes it, and close() does not throw for a connection the
    // peer closed or reset (checked on Deno 2.9.6).
    conn.close();
  }
}
