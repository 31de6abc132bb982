/**
 * One protocol, loaded on demand: `koan inetd` serves one connection of
 * one protocol and starts once per connection, so it imports only that
 * protocol's module (HTTP's parser and routes stay unloaded for Zen). The
 * models, which serve any protocol, use the synchronous table in
 * `registry.ts`; `load_test.ts` checks that both give the same objects.
 *
 * @module
 */
import type { Protocol, ProtocolName } from "./contract.ts";

/**
 * Imports the module of protocol `name` and resolves with the protocol.
 *
 * @example Usage
 * ```ts
 * import { loadProtocol } from "./load.ts";
 * const zen = await loadProtocol("zen");
 * if (zen.name !== "zen") throw new Error("wrong protocol");
 * ```
 *
 * @throws {RangeError} for a protocol koan does not serve.
 */
export async function loadProtocol(name: ProtocolName): Promise<Protocol> {
  switch (name) {
    case "zen":
      return (await import("./zen/zen.ts")).zen;
    case "http":
      return (await import("./http/http.ts")).http;
    case "echo":
      return (await import("./echo.ts")).echo;
  }
  throw new RangeError(`Protocol "${name}" is not available`);
}
