/**
 * A TCP port that is free to listen on, for the tests and benchmarks that
 * start servers: the kernel picks one, and it is handed back at once.
 *
 * @module
 */

/**
 * Returns a TCP port on `hostname` that was free a moment ago: binds port 0,
 * reads the port the kernel chose and closes the listener again. Another
 * process may take the port before the caller binds it, so bind it soon.
 *
 * @param hostname The local address to find a port on.
 * @returns A port from 1 to 65535.
 *
 * @example Usage
 * ```ts
 * import { freePort } from "./free_port.ts";
 * const port = freePort();
 * using listener = Deno.listen({ hostname: "127.0.0.1", port });
 * ```
 */
export function freePort(hostname = "127.0.0.1"): number {
  using listener = Deno.listen({ hostname, port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}
