/**
 * Messages between the accepting main thread and a `thread-per-connection`
 * worker. A `Deno.Conn` cannot move between isolates, so the main thread
 * keeps the socket and relays. Client bytes are pushed as they arrive
 * (`data`, then `eof`), at most {@linkcode WINDOW} chunks ahead of what the
 * worker has consumed (`consumed` returns credit): the main thread reads
 * promptly, as an in-isolate server would, without buffering a fast
 * client's flood. Replies go the other way as `write`, acknowledged by
 * `wrote` once on the socket. Buffers travel as transferred ArrayBuffers,
 * never copied by structured clone.
 *
 * @module
 */
import type { ConnectionInfo, ProtocolName } from "../../protocols/contract.ts";
import type { Generation } from "../contract.ts";

/** Chunks the main thread may push ahead of the worker's reads. */
export const WINDOW = 4;

/** Main → worker. */
export type ToConnWorker =
  | {
    t: "init";
    tag: string;
    protocol: ProtocolName;
    generation: Generation;
    info: ConnectionInfo;
    ready: boolean;
  }
  | { t: "data"; buffer: ArrayBuffer; length: number }
  | { t: "eof" }
  | { t: "wrote"; ok: boolean }
  | { t: "drain" }
  | { t: "reopen" };

/** Worker → main. */
export type FromConnWorker =
  | { t: "consumed" }
  | { t: "write"; buffer: ArrayBuffer }
  | { t: "close" }
  | { t: "done" };
