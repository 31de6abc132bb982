/**
 * `processes`: N preforked children of this program accepting from one
 * shared socket. `processes.ts` is the master's side (binds, spawns,
 * supervises through `../pool/`, answers admission questions); `child.ts`
 * is one child (`koan _worker pool`): it receives the socket, accepts and
 * serves through `../pool/worker.ts`, asking the master to admit each
 * connection (`admission.ts`).
 *
 * May import `../pool/`, `../ipc/`, `../in_isolate/`, the model contract
 * and the layers below `models`.
 *
 * @module
 */
export { processes } from "./processes.ts";
export { runPoolChild } from "./child.ts";
