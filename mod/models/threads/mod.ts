/**
 * `threads`: N Web Workers accepting from one shared socket. `threads.ts`
 * is the master's side (spawns and supervises through `../pool/`);
 * `worker.ts` is the entry module of one thread, which accepts and serves
 * through `../pool/worker.ts`.
 *
 * May import `../pool/`, `../ipc/`, `../in_isolate/`, the model contract
 * and the layers below `models`.
 *
 * @module
 */
export { threads } from "./threads.ts";
