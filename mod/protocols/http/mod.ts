/**
 * HTTP/1.1, koan's own: the parser (`parser.ts`, `chunked.ts`,
 * `chars.ts`), the writer (`writer.ts`, `reply.ts`, `status.ts`), one
 * connection's keep-alive and pipelining (`connection.ts`), and the routes
 * (`route.ts` the shape, `routes.ts` the table, `static.ts`,
 * `zen_route.ts`, `observe_routes.ts`, and `loopback.ts`, which tells
 * whether a peer may see the admin routes).
 *
 * May import `../contract.ts`, `../zen/`, `config`, `metrics`, `util`.
 *
 * @module
 */
export { createHttpHandler, http } from "./http.ts";
export { RequestParser } from "./parser.ts";
export type { HttpEnv, HttpSettings } from "./settings.ts";
