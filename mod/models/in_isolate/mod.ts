/**
 * Serving a listener inside this isolate with one acceptor (`serve.ts`),
 * building a protocol's handler from a generation (`env.ts`), and the idle
 * cap of a worker that serves one connection at a time (`serial.ts`): the body
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
export {
  noteSerialIdle,
  serialGeneration,
  serialIdleLimits,
  servesSerially,
} from "./serial.ts";
