/**
 * The access-log record: one per connection (Zen, echo) or request (HTTP),
 * the same shape for every protocol.
 *
 * @module
 */

/**
 * Request headers a record carries for the access format's `$http_*`
 * variables: only those the compiled format prints (see
 * `accessHeaderNames()`), captured by the protocol when it parsed them.
 */
export interface AccessHeaders {
  /** The first value of header `name` (lowercase, `-` as sent), if it was sent. */
  get(name: string): string | undefined;
}

/**
 * One access-log entry, the same shape for every protocol: a connection
 * (Zen, echo) or a request (HTTP). Protocol-specific detail travels in
 * {@linkcode AccessRecord.fields}, so nothing below the protocols needs to
 * know which protocol wrote a record.
 */
export interface AccessRecord {
  /** `zen`, `http`, `echo`. */
  protocol: string;
  /** The client: `10.0.0.1:4242`, `[::1]:5151`, a unix socket path, `stdin`. */
  peer: string;
  /** Bytes received from the peer. */
  bytesIn: number;
  /** Bytes sent to the peer. */
  bytesOut: number;
  /** Wall time in milliseconds. */
  durationMs: number;
  /** Free-text outcome (`closed normally`, `idle timeout`, ...). */
  outcome: string;
  /** Exchanges completed on a connection record (questions answered). */
  requests?: number;
  /**
   * Set by protocols that log one record per request (HTTP): the answer's
   * status. Metrics count such records per status, and the others per
   * outcome; the `combined` format writes such records in nginx's form.
   */
  status?: number;
  /**
   * Protocol fields, written in this order before the status in the koan
   * line (HTTP: `method`, `target`, which with
   * {@linkcode AccessRecord.version} make `$request`; a method of `-`
   * means no request was made out).
   */
  fields?: Readonly<Record<string, string>>;
  /** The protocol version on the request line (`HTTP/1.1`), when known. */
  version?: string | undefined;
  /** Bytes of the answer's body (`$body_bytes_sent`); absent: all of `bytesOut`. */
  bodyBytes?: number | undefined;
  /** The request headers the access format asked for. */
  headers?: AccessHeaders | undefined;
}
