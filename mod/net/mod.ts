/**
 * Sockets and the accept loop: binding and socket activation
 * (`listen.ts`, `node_source.ts`), the {@linkcode Acceptor} with limits,
 * refusals and EMFILE backoff (`acceptor.ts`, `limiter.ts`), transports
 * with send timeouts (`transport.ts`, `stdio.ts`), raw descriptors shared
 * between threads and processes (`fd_tcp.ts`, `fd_shared.ts`,
 * `fd_accept.ts`, `shared_source.ts`), files for HTTP (`files.ts`), and
 * `freePort` for tests and benchmarks.
 *
 * May import `protocols`, `config`, `log`, `metrics`, `util`.
 *
 * @module
 */
export { Acceptor, type AcceptSource } from "./acceptor.ts";
export { LocalLimiter, SharedLimiter } from "./limiter.ts";
export { ConnTransport } from "./transport.ts";
export { openSource } from "./listen.ts";
export { freePort } from "./free_port.ts";
