/**
 * A parsed request head: what routes see. Only the header fields koan acts
 * on are kept (decoded to strings on demand by the parser); every other
 * field is validated and dropped, which keeps the hot path free of
 * per-header allocations.
 *
 * @module
 */

/** Methods koan recognises (RFC 9110 §9 plus PATCH); any other token is 501. */
export type Method =
  | "GET"
  | "HEAD"
  | "POST"
  | "PUT"
  | "DELETE"
  | "CONNECT"
  | "OPTIONS"
  | "TRACE"
  | "PATCH";

/** One request head. Fields hold defaults until the parser sets them. */
export class HttpRequest {
  /** The method. */
  method: Method = "GET";
  /** The request-target exactly as received. */
  target = "/";
  /** The path part of the target (`/` for `*` and authority-form). */
  path = "/";
  /** The query without `?`; empty when absent. */
  query = "";
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor = 1;
  /** Whether the client allows the connection to stay open afterwards. */
  keepAlive = true;
  /** Content-Length, or -1 when absent. */
  contentLength = -1;
  /** Whether the body is chunked. */
  chunked = false;
  /** `Expect: 100-continue` was sent. */
  expectContinue = false;
  /** `Accept`, when sent. */
  accept: string | undefined = undefined;
  /** `If-None-Match`, when sent. */
  ifNoneMatch: string | undefined = undefined;
  /** `If-Modified-Since`, when sent. */
  ifModifiedSince: string | undefined = undefined;
  /** `Range`, when sent. */
  range: string | undefined = undefined;
  /** `If-Range`, when sent. */
  ifRange: string | undefined = undefined;
  /** Bytes of the head on the wire (leading blank lines included). */
  headBytes = 0;
  /** Header fields received. */
  fields = 0;

  /** Whether a body follows the head. */
  get hasBody(): boolean {
    return this.chunked || this.contentLength > 0;
  }
}
