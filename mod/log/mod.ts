/**
 * Logging: the leveled log (`log.ts`, LogTape; text or JSON lines tagged
 * with worker and pid, file reopen) and the access log (`access_log.ts`,
 * one protocol-neutral {@linkcode AccessRecord} per connection or request).
 *
 * Bottom layer: imports nothing of koan's outside `log/`.
 *
 * @module
 */
export { flushLogs, log, reopenLogs, setupLogging } from "./log.ts";
export { type AccessRecord, writeAccess } from "./access_log.ts";
