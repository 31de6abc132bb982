/**
 * Scaffolding for the log tests: logging pointed at a temp file for one
 * test, then put back the way a fresh isolate has it (LogTape unconfigured,
 * tag `master`, no access writer), so other tests are not affected.
 *
 * @module
 */
import { resetSync } from "@logtape/logtape";
import {
  flushLogs,
  loadLogging,
  type LogSettings,
  setupLogging,
} from "./log.ts";
import { closeAccess } from "./access_log.ts";

/** What a test under {@linkcode withLogFile} gets. */
export interface LogFile {
  /** The log file. */
  path: string;
  /** A temp directory for the test's own files, removed afterwards. */
  dir: string;
  /** Flushes, then the file's lines without their timestamps (checked to be ISO 8601). */
  lines(path?: string): string[];
  /** Flushes, then the file's JSON lines, each `time` checked and removed. */
  records(path?: string): Record<string, unknown>[];
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function read(path: string): string[] {
  flushLogs();
  const text = Deno.readTextFileSync(path);
  if (text === "") return [];
  if (!text.endsWith("\n")) throw new Error(`Unterminated line in ${text}`);
  return text.slice(0, -1).split("\n");
}

/**
 * Runs `body` with logging set up by `settings` (text, level info, access
 * on, tag `master` unless given) to a fresh temp file.
 */
export async function withLogFile(
  settings: Partial<LogSettings> & { tag?: string },
  body: (file: LogFile) => void | Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koan-log-test-" });
  const path = `${dir}/koan.log`;
  const { tag = "master", ...rest } = settings;
  setupLogging(
    { level: "info", format: "text", file: path, access: true, ...rest },
    { tag },
  );
  await loadLogging();
  try {
    await body({
      path,
      dir,
      lines: (file = path) =>
        read(file).map((line) => {
          const time = line.slice(0, 24);
          if (!ISO_TIME.test(time) || line[24] !== " ") {
            throw new Error(`No timestamp at the start of "${line}"`);
          }
          return line.slice(25);
        }),
      records: (file = path) =>
        read(file).map((line) => {
          const { time, ...rest } = JSON.parse(line);
          if (!ISO_TIME.test(time)) throw new Error(`Bad time in ${line}`);
          return rest;
        }),
    });
  } finally {
    resetLogging();
    // Let the sink's scheduled flush run before the test ends.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await Deno.remove(dir, { recursive: true });
  }
}

/** Closes the log files and leaves logging as a fresh isolate has it. */
export function resetLogging(): void {
  setupLogging(
    { level: "info", format: "text", file: "", access: true },
    { tag: "master" },
  );
  closeAccess();
  resetSync();
}
