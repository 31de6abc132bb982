/**
 * `thread-per-connection` and `process-per-connection`: the main thread
 * accepts (with the limiter) and relays each client's bytes to a fresh
 * worker, since a `Deno.Conn` cannot move between isolates. The thread
 * variant talks by message (`thread_messages.ts`, `thread_child.ts`), the
 * process variant over framed stdin/stdout (`process_child.ts`); both
 * children read the relayed bytes through `pushed_input.ts`.
 *
 * May import `../in_isolate/`, `../ipc/`, the model contract and the
 * layers below `models`.
 *
 * @module
 */
export { threadPerConnection } from "./thread_per_connection.ts";
export { processPerConnection } from "./process_per_connection.ts";
export { runConnChild } from "./process_child.ts";
