/**
 * The connection as stdin/stdout: how inetd (nowait), xinetd and systemd
 * `Accept=yes` hand koan a client.
 *
 * @module
 */
import { ConnTransport, type Duplex } from "./transport.ts";

/** stdin and stdout as one duplex stream. */
export const stdioDuplex: Duplex = {
  read: (buffer) => Deno.stdin.read(buffer),
  write: (bytes) => Deno.stdout.write(bytes),
  close() {
    for (const stream of [Deno.stdin, Deno.stdout]) {
      try {
        stream.close();
      } catch {
        // Already closed: the peer went away first.
      }
    }
  },
};

/** A transport over stdin/stdout with the usual send timeout. */
export function stdioTransport(sendTimeoutMs: number): ConnTransport {
  return new ConnTransport(stdioDuplex, sendTimeoutMs);
}
