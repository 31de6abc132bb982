/**
 * Opening the socket a listener accepts from. Every model gets its
 * {@linkcode AcceptSource} here, so bind options (SO_REUSEPORT) and
 * inherited sockets are handled in one place.
 *
 * @module
 */
import type { Address } from "../config/address.ts";
import { type AcceptSource, denoSource } from "./acceptor.ts";

/** Options for {@linkcode openSource}. */
export interface OpenOptions {
  /** Set SO_REUSEPORT so siblings and a reload's successor share the port. @default {false} */
  reusePort?: boolean;
}

/**
 * Binds `address` and returns a source to accept from.
 *
 * @throws {Deno.errors.AddrInUse} and friends when the address cannot be bound.
 */
export function openSource(
  address: Address,
  options: OpenOptions = {},
): AcceptSource {
  const listener = Deno.listen({
    transport: "tcp",
    hostname: address.hostname,
    port: address.port,
    reusePort: options.reusePort ?? false,
  });
  return denoSource(listener);
}
