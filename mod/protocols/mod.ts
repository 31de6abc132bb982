/**
 * Pure protocol code — Zen (`zen/`), HTTP/1.1 (`http/`) and echo — behind
 * the handler contract (`contract.ts`) and one registry (`registry.ts`;
 * `load.ts` imports a single protocol on demand, for `koan inetd`).
 * Zen and echo share one read loop (`read_loop.ts`). No `Deno.*`: bytes,
 * files and clocks arrive through the contract's interfaces.
 *
 * May import `config`, `log` (types), `metrics`, `util`.
 *
 * @module
 */
export type {
  ConnectionContext,
  Handler,
  Protocol,
  ProtocolEnv,
  ProtocolName,
  Transport,
} from "./contract.ts";
export { loadProtocol } from "./load.ts";
export { protocolFor, PROTOCOLS } from "./registry.ts";
