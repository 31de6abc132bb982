/**
 * Serving a listener inside this isolate with one acceptor (`serve.ts`),
 * and building a protocol's handler from a generation (`env.ts`): the body
 * shared by `iterative`, `async`, every pool worker and the accepting side
 * of the per-connection models.
 *
 * May import the model contract, `net`, `protocols`, `config`, `log`.
 *
 * @module
 */
export {
  type InIsolateListener,
  limitsOf,
  perConnectionListener,
  serveInIsolate,
} from "./serve.ts";
export { createHandler } from "./env.ts";
