/**
 * The FileSource port: how the static-file route reaches a document root
 * without touching `Deno.*` (protocols stay pure). The net layer provides
 * the real implementation (`mod/net/files.ts`); tests may provide others.
 *
 * The route hands over path segments it has already decoded and checked;
 * an implementation must still refuse anything that resolves outside its
 * root, symlinks included.
 *
 * @module
 */

/** Reads one open file. */
export interface FileReader {
  /**
   * Reads into `into` from byte `position`; resolves to the count, or
   * null at the end of the file.
   */
  read(into: Uint8Array, position: number): Promise<number | null>;
  /** Releases the file. Idempotent. */
  close(): void;
}

/** A file or directory found under the root. */
export interface FileEntry {
  /** Only regular files and directories are ever returned. */
  readonly kind: "file" | "directory";
  /** Size in bytes (files). */
  readonly size: number;
  /** Last modification, ms since the epoch; null when the system cannot say. */
  readonly mtimeMs: number | null;
  /** Opens a file for reading; null when it vanished or cannot be read. */
  open(): Promise<FileReader | null>;
}

/** A document root. */
export interface FileSource {
  /**
   * Finds `segments` (plain names: no `/`, NUL, `.` or `..`) under the
   * root. Resolves to null when absent, unreadable, neither a regular file
   * nor a directory, or resolving (through symlinks) outside the root.
   */
  lookup(segments: readonly string[]): Promise<FileEntry | null>;
}
