/**
 * Access-log lines: one per connection (Zen, echo) or request (HTTP).
 *
 * @module
 */
import type { AccessRecord } from "../protocols/contract.ts";
import { accessEnabled, log } from "./log.ts";

const accessLogger = log("access");

/** Writes one access record; nothing at all when `log.access` is off. */
export function writeAccess(record: AccessRecord): void {
  if (!accessEnabled()) return;
  if (record.protocol === "http") {
    accessLogger.info(
      "{peer} http {method} {target} {status} in={bytesIn} out={bytesOut} ms={durationMs} {outcome}",
      { ...record, durationMs: Math.round(record.durationMs * 10) / 10 },
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
