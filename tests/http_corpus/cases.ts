/**
 * The shape of the HTTP request corpus: raw request bytes, each with the
 * status koan must answer and what else must hold (in the spirit of
 * gunicorn's tests/requests and llhttp's test files). The same vectors
 * drive the parser unit tests, the in-memory connection tests and the
 * integration tests over real sockets.
 *
 * @module
 */

/** What a valid request must parse into (checked by the parser tests). */
export interface Parsed {
  method?: string;
  target?: string;
  path?: string;
  query?: string;
  minor?: number;
  keepAlive?: boolean;
  contentLength?: number;
  chunked?: boolean;
  expectContinue?: boolean;
  accept?: string;
  range?: string;
}

/** One corpus vector. */
export interface Case {
  /** What the vector exercises. */
  name: string;
  /** The raw bytes, one code unit per byte (write `\r\n` explicitly). */
  request: string;
  /** Status of the first response. */
  status: number;
  /** Statuses of every response, when more than one is expected (pipelining). */
  statuses?: number[];
  /** The connection must be closed after the last response (errors always are). */
  close?: boolean;
  /** Exact body of the first response. */
  body?: string;
  /** Headers of the first response that must be present (lowercase name → value). */
  headers?: Record<string, string>;
  /** For requests the parser accepts: what it must produce (first request only). */
  parsed?: Parsed;
  /**
   * Where the verdict comes from: `parser` (RequestParser throws or
   * accepts), `body` (the body decoder), `route` (routing, after a clean
   * parse). Parser unit tests use only `parser` cases.
   */
  stage: "parser" | "body" | "route";
}

/** The corpus assumes koan's default `[http]` limits. */
export const LIMITS = {
  maxRequestLine: 8192,
  maxHeaderBytes: 16384,
  maxHeaders: 100,
  maxBody: 1048576,
} as const;

/** Bytes of a corpus string (latin1: one byte per code unit). */
export function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}
