/**
 * What crosses between isolates and processes: the pool's messages and the
 * wire form of a generation (`messages.ts`), JSON lines over a child's
 * stdin/stdout (`line_channel.ts`), a per-connection child's frames
 * (`frames.ts`), the master's hand-back queue of accepted connections
 * (`handback.ts`), and how a child of this program is started with
 * narrowed permissions (`spawn.ts`).
 *
 * May import the model contract and the layers below `models`; never a
 * model folder.
 *
 * @module
 */
export * from "./messages.ts";
export { LineChannel } from "./line_channel.ts";
export { encodeFrame, FRAME, FrameReader } from "./frames.ts";
export { HandbackRouter, type HandbackWorker } from "./handback.ts";
export { type ChildNeeds, netNeed, workerCommand } from "./spawn.ts";
