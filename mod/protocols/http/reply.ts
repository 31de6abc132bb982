/**
 * What a route answers: a status, header lines and a body held in memory
 * or streamed from a file. The connection serializes it, adds Date, the
 * generation's banner (Server, `X-Content-Type-Options: nosniff`),
 * Content-Length and Connection, and leaves the body out for HEAD.
 *
 * @module
 */
import type { FileEntry } from "./file_source.ts";
import { contentTypeLine, PresetResponses, presetTails } from "./writer.ts";

/** A byte range of a file to send as the body. */
export interface FileBody {
  /** The file. */
  entry: FileEntry;
  /** First byte. */
  start: number;
  /** Bytes to send. */
  length: number;
}

/** A route's answer. Constant replies may be shared between requests. */
export interface Reply {
  /** Status code. */
  readonly status: number;
  /** Constant header lines as bytes (Content-Type and the like). */
  readonly fixed?: Uint8Array;
  /** Dynamic header lines, each ending in CRLF, ASCII only. */
  readonly extra?: string;
  /** The body, when held in memory. */
  readonly body?: Uint8Array;
  /** The body, when streamed from a file. */
  readonly file?: FileBody;
  /** Close the connection after this reply. */
  readonly close?: boolean;
  /**
   * The whole wire bytes, Date and banner included (one array per banner),
   * precomputed by {@linkcode constantReply} for replies that never change.
   */
  readonly preset?: PresetResponses;
}

const encoder = new TextEncoder();

/**
 * A reply with a text body of the given type.
 *
 * @example Usage
 * ```ts
 * import { textReply } from "./reply.ts";
 * const reply = textReply(200, "ok");
 * if (reply.body?.length !== 2) throw new Error("wrong body");
 * ```
 */
export function textReply(
  status: number,
  text: string | Uint8Array,
  type = "text/plain; charset=utf-8",
): Reply {
  return {
    status,
    fixed: contentTypeLine(type),
    body: typeof text === "string" ? encoder.encode(text) : text,
  };
}

/**
 * Freezes an in-memory reply and precomputes its wire bytes, so serving it
 * costs two copies. For replies shared by every request (hello, healthz).
 *
 * @example Usage
 * ```ts
 * import { constantReply, textReply } from "./reply.ts";
 * const hello = constantReply(textReply(200, "Hello, world!"));
 * if (hello.preset === undefined) throw new Error("not precomputed");
 * ```
 */
export function constantReply(reply: Reply): Reply {
  const body = reply.body ?? new Uint8Array(0);
  const options: { fixed?: Uint8Array; extra?: string; body: Uint8Array } = {
    body,
  };
  if (reply.fixed !== undefined) options.fixed = reply.fixed;
  if (reply.extra !== undefined) options.extra = reply.extra;
  return Object.freeze({
    ...reply,
    body,
    preset: new PresetResponses(reply.status, presetTails(options)),
  });
}
