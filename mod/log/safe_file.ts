/**
 * Opening the files koan writes — its logs and its pid file — so that a
 * symlink or a hard link planted by another user who can write the
 * directory never makes koan (often root at start) write somewhere else.
 *
 * Deno 2.9 has no `O_NOFOLLOW`, so a log is opened in three steps:
 * `Deno.lstat` refuses a symlink and anything but a regular file or a
 * character device; a missing file is created with `createNew` (O_EXCL,
 * which never follows a symlink, so one planted after the check makes the
 * open fail instead); an existing one is opened without creating or
 * truncating, and the opened file's device and inode must be the ones
 * `lstat` saw, else it is closed unwritten. A pid file is written to a new
 * name (created exclusively) and renamed over the old one: a rename
 * replaces a symlink, it never follows it. It is removed at exit only
 * while it still holds koan's own pid.
 *
 * Modes are given at creation (0640 for logs, 0644 for the pid file): the
 * `mode` of `open(2)` is narrowed by the umask, never widened, so a umask
 * of 000 no longer yields files anyone may write. Existing files keep
 * theirs (logrotate's `create` sets them).
 *
 * Character devices are accepted (`/dev/null`, `/dev/full`, a console):
 * only root can make a device node, so one at the path was put there on
 * purpose. A FIFO is refused: opening one for writing blocks until someone
 * reads it.
 *
 * @module
 */

/** The mode a log file is created with (before the umask narrows it). */
export const LOG_FILE_MODE = 0o640;
/** The mode a pid file is created with (before the umask narrows it). */
export const PID_FILE_MODE = 0o644;

/** How many times a name taken by someone else between two calls is tried again. */
const ATTEMPTS = 4;

/** Options for {@linkcode openAppendSafely}. */
export interface OpenAppendOptions {
  /** The mode a missing file is created with. @default {0o640} */
  mode?: number;
}

function kind(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isBlockDevice) return "a block device";
  return "not a regular file";
}

/** Why a file at the path may not be written, or undefined when it may. */
function refusal(info: Deno.FileInfo): string | undefined {
  if (info.isSymlink) {
    return "it is a symlink (koan never writes through one)";
  }
  if (info.isFile) {
    return (info.nlink ?? 1) > 1
      ? `it has ${info.nlink} hard links (a file koan writes has one name)`
      : undefined;
  }
  if (info.isCharDevice) return undefined;
  return `it is ${kind(info)}`;
}

/** `Deno.lstatSync(path)`, or undefined when nothing is there. */
export function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Opens `path` for appending, creating it (with `options.mode`) when it
 * does not exist, never through a symlink.
 *
 * @example Usage
 * ```ts
 * import { openAppendSafely } from "./safe_file.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.symlinkSync("/etc/passwd", `${dir}/koan.log`);
 * try {
 *   openAppendSafely(`${dir}/koan.log`).close();
 *   throw new Error("opened through a symlink");
 * } catch (error) {
 *   if (!/symlink/.test((error as Error).message)) throw error;
 * }
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @throws {Error} with a message naming `path` when it is a symlink, has
 *   other names, is neither a regular file nor a character device, or was
 *   replaced while being opened; whatever `Deno.openSync` throws (a
 *   missing directory, no permission).
 */
export function openAppendSafely(
  path: string,
  options: OpenAppendOptions = {},
): Deno.FsFile {
  const mode = options.mode ?? LOG_FILE_MODE;
  for (let attempt = 1;; attempt++) {
    const seen = lstatOrUndefined(path);
    if (seen === undefined) {
      try {
        return Deno.openSync(path, { append: true, createNew: true, mode });
      } catch (error) {
        // Created by someone else since the lstat: a sibling worker opening
        // the same log, or a symlink planted in between. Look again.
        if (error instanceof Deno.errors.AlreadyExists && attempt < ATTEMPTS) {
          continue;
        }
        throw error;
      }
    }
    const why = refusal(seen);
    if (why !== undefined) throw new Error(`Cannot open "${path}": ${why}`);
    const file = Deno.openSync(path, { append: true });
    let opened: Deno.FileInfo;
    try {
      opened = file.statSync();
    } catch (error) {
      file.close();
      throw error;
    }
    if (opened.dev !== seen.dev || opened.ino !== seen.ino) {
      // Swapped (for a symlink, most likely) between the lstat and the
      // open: the file opened is not the one checked. Nothing was written.
      file.close();
      throw new Error(
        `Cannot open "${path}": it was replaced while being opened`,
      );
    }
    return file;
  }
}

/** The directory part of `path` (`.` for a bare name). */
function directoryOf(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

/** Options for {@linkcode replaceFileSafely}. */
export interface ReplaceFileOptions {
  /** The mode the new file is created with. @default {0o644} */
  mode?: number;
}

/**
 * Writes `text` to a new file beside `path`, created exclusively, then
 * renames it to `path`: whatever was at `path` (a symlink included) is
 * replaced, never followed, and nobody ever reads a half-written file.
 *
 * @example Usage
 * ```ts
 * import { replaceFileSafely } from "./safe_file.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/victim`, "keep");
 * Deno.symlinkSync(`${dir}/victim`, `${dir}/koan.pid`);
 * replaceFileSafely(`${dir}/koan.pid`, "42\n");
 * if (Deno.readTextFileSync(`${dir}/victim`) !== "keep") throw new Error();
 * if (!Deno.lstatSync(`${dir}/koan.pid`).isFile) throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @throws whatever creating, writing or renaming throws; the new file is
 *   removed first.
 */
export function replaceFileSafely(
  path: string,
  text: string,
  options: ReplaceFileOptions = {},
): void {
  const mode = options.mode ?? PID_FILE_MODE;
  const name = path.slice(path.lastIndexOf("/") + 1);
  const bytes = new TextEncoder().encode(text);
  for (let attempt = 1;; attempt++) {
    const random = crypto.getRandomValues(new Uint32Array(2)).join("");
    const temp = `${directoryOf(path)}/.${name}.${random}`;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(temp, { write: true, createNew: true, mode });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists && attempt < ATTEMPTS) {
        continue;
      }
      throw error;
    }
    try {
      let written = 0;
      while (written < bytes.length) {
        written += file.writeSync(bytes.subarray(written));
      }
      file.close();
      Deno.renameSync(temp, path);
    } catch (error) {
      try {
        file.close();
      } catch (closing) {
        // Closed already (BadResource), which is all this wanted.
        if (!(closing instanceof Deno.errors.BadResource)) throw closing;
      }
      try {
        Deno.removeSync(temp);
      } catch (removing) {
        // Gone already, or not ours to remove: nothing more can be done
        // about a stray temp file, and the error that matters is the one
        // rethrown below.
        if (
          !(removing instanceof Deno.errors.NotFound ||
            removing instanceof Deno.errors.PermissionDenied)
        ) {
          throw removing;
        }
      }
      throw error;
    }
    return;
  }
}

/**
 * Removes `path` if it is a regular file (not a symlink) whose content,
 * trimmed, is `expected` (or passes it, a check of the first `limit`
 * bytes); returns what it found otherwise. For the pid file at exit (and
 * the running record beside it): a file another koan (or anyone) wrote
 * since is left alone.
 *
 * @example Usage
 * ```ts
 * import { removeFileHolding } from "./safe_file.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "999999\n");
 * if (removeFileHolding(path, "42") !== "999999") throw new Error();
 * if (removeFileHolding(path, "999999") !== undefined) throw new Error();
 * ```
 *
 * @returns undefined when removed or already gone; else why it was kept:
 *   the content found (trimmed, at most 64 characters), or a refusal.
 */
export function removeFileHolding(
  path: string,
  expected: string | ((content: string) => boolean),
  limit = 64,
): string | undefined {
  const seen = lstatOrUndefined(path);
  if (seen === undefined) return undefined;
  if (!seen.isFile) return refusal(seen) ?? "it is not a regular file";
  let content: string;
  const file = Deno.openSync(path, { read: true });
  try {
    const opened = file.statSync();
    if (opened.dev !== seen.dev || opened.ino !== seen.ino) {
      return "it was replaced while being read";
    }
    const buffer = new Uint8Array(limit);
    let n = 0;
    for (let got; n < limit && (got = file.readSync(buffer.subarray(n)));) {
      n += got;
    }
    content = new TextDecoder().decode(buffer.subarray(0, n)).trim();
  } finally {
    file.close();
  }
  const holds = typeof expected === "string"
    ? content === expected
    : expected(content);
  if (!holds) return content.slice(0, 64);
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return undefined;
}
