/**
 * Status codes koan sends, their reason phrases, and {@linkcode HttpError}:
 * the one error type the parser, body reader and routes throw for a request
 * that must be answered with an error status. The connection loop maps it
 * to a response in one place (gunicorn's habit of typed parse errors).
 *
 * @module
 */

/** Reason phrases for every status koan may send. */
export const REASONS: Readonly<Record<number, string>> = {
  100: "Continue",
  200: "OK",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  304: "Not Modified",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** The reason phrase for `status` (`"Unknown"` for one koan never sends). */
export function reasonOf(status: number): string {
  return REASONS[status] ?? "Unknown";
}

/**
 * A request that must be answered with `status` and then closed. The
 * message is the detail the access log shows; the response body is the
 * status's fixed page (`writer.ts`), never the detail, which may quote the
 * request.
 *
 * @example Usage
 * ```ts
 * import { HttpError } from "./status.ts";
 * const error = new HttpError(431, "too many header fields");
 * if (error.status !== 431) throw new Error("wrong status");
 * ```
 */
export class HttpError extends Error {
  /** The status to answer with. */
  readonly status: number;
  /** Extra header lines for the error response (`Allow: ...\r\n`). */
  readonly headers: string;
  /** The method as sent, when the request line got that far (for the access log). */
  method?: string;
  /** The target as sent, when the request line got that far (for the access log). */
  target?: string;

  /** Creates the error; `detail` says what was wrong, in sentence case. */
  constructor(status: number, detail: string, headers = "") {
    super(detail);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}
