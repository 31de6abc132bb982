/**
 * The connection as stdin/stdout: how inetd (nowait), xinetd and systemd
 * `Accept=yes` hand koan a client.
 *
 * @module
 */
import { ignoring } from "../util/errors.ts";
import { ConnTransport, type Duplex } from "./transport.ts";

/** stdin and stdout as one duplex stream. */
export const stdioDuplex: Duplex = {
  read: (buffer) => Deno.stdin.read(buffer),
  write: (bytes) => Deno.stdout.write(bytes),
  close() {
    // Closed here already (the peer going away closes nothing here):
    // Deno.stdout.close() a second time throws BadResource; a second
    // Deno.stdin.close() does not throw at all (both checked on Deno 2.9.6).
    ignoring(Deno.errors.BadResource, () => Deno.stdin.close());
    ignoring(Deno.errors.BadResource, () => Deno.stdout.close());
  },
};

/** A transport over stdin/stdout with the usual send timeout. */
export function stdioTransport(sendTimeoutMs: number): ConnTransport {
  return new ConnTransport(stdioDuplex, sendTimeoutMs);
}
