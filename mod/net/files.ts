/**
 * The Deno side of the HTTP {@linkcode FileSource} port: a document root on
 * the local filesystem. Every lookup resolves the real path (following
 * symlinks) and refuses anything that lands outside the root's own real
 * path, so a symlink inside the docroot cannot expose `/etc/passwd`. Only
 * regular files and directories are returned (never FIFOs, sockets or
 * devices, which could block or leak). Files are opened by the resolved
 * path and read in ranges, so large files stream.
 *
 * @module
 */
import type {
  FileEntry,
  FileReader,
  FileSource,
} from "../protocols/http/file_source.ts";
import { log } from "../log/log.ts";

const logger = log("http");

/** Reads one file sequentially, seeking only when asked for another position. */
class DenoFileReader implements FileReader {
  #file: Deno.FsFile;
  #position = 0;
  #closed = false;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  async read(into: Uint8Array, position: number): Promise<number | null> {
    if (position !== this.#position) {
      await this.#file.seek(position, Deno.SeekMode.Start);
      this.#position = position;
    }
    const n = await this.#file.read(into);
    if (n !== null) this.#position += n;
    return n;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } catch (error) {
      // Only this reader holds the file, so a second close() (BadResource)
      // cannot happen; called from the sender's cleanup, close() must not
      // throw either: say what went wrong instead.
      logger.debug("closing a served file failed: {error}", {
        error: (error as Error)?.message ?? String(error),
      });
    }
  }
}

function isInside(path: string, root: string): boolean {
  return path === root ||
    path.startsWith(root.endsWith("/") ? root : `${root}/`);
}

function expected(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.NotADirectory ||
    error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.FilesystemLoop;
}

/** A document root on disk. */
export class DenoFileSource implements FileSource {
  #root: string;
  #warned = false;

  /** `root` is `http.docroot` as configured (relative paths from the working directory). */
  constructor(root: string) {
    this.#root = root;
  }

  /**
   * The root's real path, resolved per lookup so that a docroot that is a
   * symlink switched by a deploy (`current -> releases/42`) takes effect at
   * once; null (and one warning) while it is unusable.
   */
  async #resolveRoot(): Promise<string | null> {
    try {
      return await Deno.realPath(this.#root);
    } catch (error) {
      if (!this.#warned) {
        this.#warned = true;
        logger.warn(
          'http.docroot "{root}" cannot be used: {error}; every file is 404',
          { root: this.#root, error: (error as Error).message },
        );
      }
      return null;
    }
  }

  async lookup(segments: readonly string[]): Promise<FileEntry | null> {
    for (const name of segments) {
      // The route checked already; this port does not rely on it.
      if (
        name === "" || name === "." || name === ".." || name.includes("/") ||
        name.includes("\0")
      ) return null;
    }
    const root = await this.#resolveRoot();
    if (root === null) return null;
    // Resolve, stat and open through the root's configured name, not its
    // resolved one: a child process may be allowed to read only that path
    // (--allow-read=DOCROOT), even when it is a symlink to a release
    // directory. (A symlink swapped in between the check and the open could
    // still be followed; doing that takes write access to the docroot.)
    const named = segments.length === 0
      ? this.#root
      : `${this.#root}/${segments.join("/")}`;
    let info: Deno.FileInfo;
    try {
      const real = await Deno.realPath(named);
      if (!isInside(real, root)) return null;
      info = await Deno.stat(named);
    } catch (error) {
      if (expected(error)) return null;
      throw error;
    }
    if (!info.isFile && !info.isDirectory) return null;
    return {
      kind: info.isFile ? "file" : "directory",
      size: info.size,
      mtimeMs: info.mtime?.getTime() ?? null,
      async open(): Promise<FileReader | null> {
        try {
          return new DenoFileReader(await Deno.open(named, { read: true }));
        } catch (error) {
          if (expected(error)) return null;
          throw error;
        }
      },
    };
  }
}
