/**
 * Protocol name → implementation. Models and the daemon look protocols up
 * here and nowhere else. Importing this table loads every protocol; `koan
 * inetd`, which serves one, imports just that one with `loadProtocol`
 * (`load.ts`).
 *
 * @module
 */
import type { Protocol, ProtocolName } from "./contract.ts";
import { echo } from "./echo.ts";
import { http } from "./http/http.ts";
import { zen } from "./zen/zen.ts";

/** Every protocol koan serves. */
export const PROTOCOLS: Readonly<Partial<Record<ProtocolName, Protocol>>> = {
  zen,
  http,
  echo,
};

/**
 * Looks a protocol up by name.
 *
 * @throws {RangeError} for a protocol koan does not serve.
 */
export function protocolFor(name: ProtocolName): Protocol {
  const protocol = PROTOCOLS[name];
  if (!protocol) throw new RangeError(`Protocol "${name}" is not available`);
  return protocol;
}
