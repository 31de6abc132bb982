/**
 * Logging: the leveled log (`log.ts`, LogTape; text or JSON lines tagged
 * with worker and pid, to stderr, a file with reopen, or syslog) and the
 * access log (`access_log.ts`, one protocol-neutral
 * {@linkcode AccessRecord} per connection or request, written by its own
 * buffered writer in a format compiled once: `access_format.ts`).
 * `destination.ts` (file, stderr, stdout, syslog), `syslog.ts` (RFC
 * 5424), `stderr.ts` (stderr, and the switch that forbids it when it is an
 * inetd client's socket), `stdout.ts` (`/dev/stdout` and `/dev/stderr` as
 * fd 1 and fd 2, never opened; a child's relay to its master),
 * `line_buffer.ts` and `time_cache.ts` serve both. `safe_file.ts` opens
 * the files koan writes, the pid file included, never through a symlink
 * and with explicit modes.
 *
 * Just above `util/`: imports nothing of koan's outside `log/` but `util/`.
 *
 * @module
 */
export { flushLogs, log, reopenLogs, setupLogging } from "./log.ts";
export {
  accessHeaderNames,
  type AccessHeaders,
  type AccessRecord,
  writeAccess,
} from "./access_log.ts";
export { compileAccessFormat } from "./access_format.ts";
