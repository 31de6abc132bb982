/**
 * Access-log lines: one per connection (Zen, echo) or request (HTTP).
 *
 * @module
 */
import { accessEnabled, log } from "./log.ts";

/**
 * One access-log entry, the same shape for every protocol: a connection
 * (Zen, echo) or a request (HTTP). Protocol-specific detail travels in
 * {@linkcode AccessRecord.fields}, so nothing below the protocols needs to
 * know which protocol wrote a record.
 */
export interface AccessRecord {
  /** `zen`, `http`, `echo`. */
  protocol: string;
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
   * outcome.
   */
  status?: number;
  /** Protocol fields, written in this order before the status (HTTP: `method`, `target`). */
  fields?: Readonly<Record<string, string>>;
}

const accessLogger = log("access");

/** Writes one access record; nothing at all when `log.access` is off. */
export function writeAccess(record: AccessRecord): void {
  if (!accessEnabled()) return;
  if (record.status !== undefined) {
    accessLogger.info(
      "{peer} {protocol} {request} {status} in={bytesIn} out={bytesOut} ms={durationMs} {outcome}",
      {
        ...record,
        request: record.fields ? Object.values(record.fields).join(" ") : "-",
        durationMs: Math.round(record.durationMs * 10) / 10,
      },
    );
    return;
  }
  accessLogger.info(
    "{peer} {protocol} in={bytesIn} out={bytesOut} requests={requests} ms={durationMs} {outcome}",
    {
      ...record,
      requests: record.requests ?? 0,
      durationMs: Math.round(record.durationMs * 10) / 10,
    },
  );
}
