/**
 * Installs koan on a Linux host, or removes what it installed:
 *
 *     deno run --allow-read --allow-write --allow-run --allow-env scripts/install.ts \
 *       [--prefix /usr/local] [--destdir DIR] [--sysconfdir /etc] [--unitdir DIR] \
 *       [--xinetddir DIR] [--launcher auto|compiled|wrapper] [--deno PATH] [--uninstall]
 *
 * What goes where (`--destdir`, default `$DESTDIR`, is put before every
 * path on disk and never written into a file, as packagers expect):
 *
 * - `PREFIX/bin/koan`, the launcher: the compiled binary where
 *   `deno compile` works (`scripts/compile.ts`, the permissions baked in);
 *   otherwise a `/bin/sh` wrapper that runs an installed copy of the source
 *   in `PREFIX/lib/koan/` with the same explicit permission flags (never
 *   `-A`), the npm packages in its `node_modules/` and a Deno cache prepared
 *   at install (without `--destdir`), so that the first `koan inetd` starts
 *   as fast as the next;
 * - `SYSCONFDIR/koan/koan.toml` from `config/koan.toml`, only when there is
 *   none: an existing config is never overwritten;
 * - the systemd units in `UNITDIR` (default `PREFIX/lib/systemd/system`,
 *   which systemd reads for a `/usr/local` prefix), enabled by no one;
 * - the xinetd entries in `XINETDDIR` (default
 *   `PREFIX/share/koan/xinetd.d`: copying one to `/etc/xinetd.d` is what
 *   turns it on) and the inetd line in `PREFIX/share/koan/inetd.conf`;
 *
 * every unit and entry with the launcher's and the config's paths filled
 * in. A manifest (`PREFIX/share/koan/install-manifest.json`) lists every
 * file with its checksum and every directory the install created;
 * `--uninstall` removes exactly those, keeping (and naming) any file that
 * was changed since — the config a user edited above all. Installing again
 * first removes what the previous install put there, the config aside.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  compileArgs,
  isDenortDownloadFailure,
  permissionFlags,
  UNSTABLE_FLAGS,
  V8_FLAGS,
} from "./compile.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The manifest, under the prefix. */
const MANIFEST = "share/koan/install-manifest.json";

/** Where the shipped units and entries name the launcher and the config. */
export const SHIPPED_PATHS = {
  launcher: "/usr/local/bin/koan",
  config: "/etc/koan/koan.toml",
} as const;

/** The npm packages koan needs at run time (the rest of deno.json's are for tests). */
export const RUNTIME_PACKAGES = [
  "@logtape/logtape",
  "smol-toml",
  "valibot",
  "mime",
] as const;

/** Install options, every path absolute. */
export interface InstallOptions {
  /** @default {"/usr/local"} */
  prefix: string;
  /** Put before every path on disk. @default {$DESTDIR or ""} */
  destdir: string;
  /** @default {"/etc"} */
  sysconfdir: string;
  /** @default {PREFIX/lib/systemd/system} */
  unitdir: string;
  /** @default {PREFIX/share/koan/xinetd.d} */
  xinetddir: string;
  /** @default {"auto"} */
  launcher: "auto" | "compiled" | "wrapper";
  /** The Deno the wrapper runs. @default {this one} */
  deno: string;
}

/** Where things go, without the destdir. */
export interface Layout {
  bin: string;
  lib: string;
  cache: string;
  config: string;
  share: string;
  manifest: string;
  unitdir: string;
  xinetddir: string;
}

/**
 * The installed paths for `options`.
 *
 * @example Usage
 * ```ts
 * import { layout } from "./install.ts";
 * const paths = layout({ prefix: "/usr/local", sysconfdir: "/etc", unitdir: "/usr/local/lib/systemd/system", xinetddir: "/usr/local/share/koan/xinetd.d" });
 * if (paths.bin !== "/usr/local/bin/koan") throw new Error(paths.bin);
 * if (paths.config !== "/etc/koan/koan.toml") throw new Error(paths.config);
 * ```
 */
export function layout(
  options: Pick<
    InstallOptions,
    "prefix" | "sysconfdir" | "unitdir" | "xinetddir"
  >,
): Layout {
  const prefix = trimSlash(options.prefix);
  return {
    bin: `${prefix}/bin/koan`,
    lib: `${prefix}/lib/koan`,
    cache: `${prefix}/lib/koan/cache`,
    config: `${trimSlash(options.sysconfdir)}/koan/koan.toml`,
    share: `${prefix}/share/koan`,
    manifest: `${prefix}/${MANIFEST}`,
    unitdir: trimSlash(options.unitdir),
    xinetddir: trimSlash(options.xinetddir),
  };
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/**
 * A shipped unit or entry with the launcher's and the config's paths
 * replaced by the installed ones.
 *
 * @example Usage
 * ```ts
 * import { fillPaths } from "./install.ts";
 * const line = fillPaths("ExecStart=/usr/local/bin/koan serve --config /etc/koan/koan.toml", {
 *   launcher: "/opt/koan/bin/koan",
 *   config: "/opt/koan/etc/koan/koan.toml",
 * });
 * if (line !== "ExecStart=/opt/koan/bin/koan serve --config /opt/koan/etc/koan/koan.toml") throw new Error(line);
 * ```
 */
export function fillPaths(
  text: string,
  paths: { launcher: string; config: string },
): string {
  return text.replaceAll(SHIPPED_PATHS.launcher, paths.launcher)
    .replaceAll(SHIPPED_PATHS.config, paths.config);
}

/** `'text'` for /bin/sh. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `/bin/sh` launcher that runs the installed source with koan's
 * explicit permissions and V8 flags: those baked into the compiled
 * binary, with `--allow-run` naming the Deno executable (the `processes`
 * models start copies of koan through it), `--cached-only` (nothing is
 * fetched at run time) and `--quiet` (Deno writes nothing of its own to
 * stderr, which under inetd is the client's socket).
 *
 * @example Usage
 * ```ts
 * import { wrapperScript } from "./install.ts";
 * const script = wrapperScript({ deno: "/usr/bin/deno", lib: "/usr/local/lib/koan", cache: "/usr/local/lib/koan/cache" });
 * if (!script.startsWith("#!/bin/sh\n") || script.includes(" -A ")) throw new Error(script);
 * ```
 */
export function wrapperScript(
  paths: { deno: string; lib: string; cache: string },
): string {
  const argv = [
    paths.deno,
    "run",
    "--quiet",
    "--cached-only",
    ...UNSTABLE_FLAGS,
    ...permissionFlags(paths.deno),
    `--v8-flags=${V8_FLAGS.join(",")}`,
    "--config",
    `${paths.lib}/deno.json`,
    `${paths.lib}/main.ts`,
  ];
  return [
    "#!/bin/sh",
    "# koan's launcher, written by scripts/install.ts where deno compile was",
    `# not available: runs koan from ${paths.lib} with explicit permissions.`,
    "# Deno's cache: $DENO_DIR where set (koan.service sets one), else the one",
    "# prepared at install.",
    `: "\${DENO_DIR:=${paths.cache}}"`,
    "export DENO_DIR",
    `exec ${argv.map(shellQuote).join(" ")} "$@"`,
    "",
  ].join("\n");
}

/** One line of the manifest. */
export interface ManifestEntry {
  /** file: removed if unchanged; config: likewise, and never overwritten; tree: a directory removed whole; dir: removed if empty. */
  kind: "file" | "config" | "tree" | "dir";
  /** The installed path, without the destdir. */
  path: string;
  /** SHA-256 of what was installed (file, config). */
  sha256?: string;
}

/** What `--uninstall` reads. */
export interface Manifest {
  version: 1;
  options: Omit<InstallOptions, "destdir">;
  launcher: "compiled" | "wrapper";
  entries: ManifestEntry[];
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(new Uint8Array(digest))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Collects what an install writes, creating directories as needed. */
class Installer {
  readonly entries: ManifestEntry[] = [];
  readonly #destdir: string;
  readonly #dirs = new Set<string>();

  constructor(destdir: string, previousDirs: readonly string[] = []) {
    this.#destdir = trimSlash(destdir === "/" ? "" : destdir);
    for (const dir of previousDirs) this.#dirs.add(dir);
  }

  /** `path` on disk. */
  disk(path: string): string {
    return `${this.#destdir}${path}`;
  }

  /** Creates `dir` and its missing parents, recording each one created. */
  async mkdir(dir: string): Promise<void> {
    const parts = dir.split("/").filter(Boolean);
    let path = "";
    for (const part of parts) {
      path += `/${part}`;
      if (await exists(this.disk(path))) continue;
      await Deno.mkdir(this.disk(path), { mode: 0o755 });
      await Deno.chmod(this.disk(path), 0o755); // whatever the umask
      this.#dirs.add(path);
    }
  }

  async write(
    path: string,
    bytes: Uint8Array,
    mode: number,
    kind: "file" | "config" = "file",
  ): Promise<void> {
    await this.mkdir(path.slice(0, path.lastIndexOf("/")) || "/");
    // Written beside it, then renamed over it: a launcher that is running
    // (a compiled binary under koan.service) cannot be written in place
    // (ETXTBSY), and no one ever runs half a file.
    const temporary = `${this.disk(path)}.koan-install`;
    await Deno.writeFile(temporary, bytes, { mode });
    await Deno.chmod(temporary, mode);
    await Deno.rename(temporary, this.disk(path));
    this.entries.push({ kind, path, sha256: await sha256(bytes) });
  }

  tree(path: string): void {
    this.entries.push({ kind: "tree", path });
  }

  /** The manifest's entries: files and trees, then the directories created. */
  manifestEntries(): ManifestEntry[] {
    return [
      ...this.entries,
      ...[...this.#dirs].map((path): ManifestEntry => ({ kind: "dir", path })),
    ];
  }
}

/** The source files the wrapper runs: main.ts and mod/, without tests. */
function sourceFiles(): string[] {
  const files = ["main.ts"];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile && !entry.name.endsWith("_test.ts")) {
        files.push(path);
      }
    }
  };
  walk("mod");
  return files.sort();
}

/** deno.json for the installed copy: the run-time packages, in node_modules. */
function installedDenoJson(): string {
  const source = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
  const imports: Record<string, string> = {};
  for (const name of RUNTIME_PACKAGES) {
    const specifier = source.imports?.[name];
    if (typeof specifier !== "string") {
      throw new Error(`deno.json does not import "${name}"`);
    }
    imports[name] = specifier;
  }
  return JSON.stringify(
    {
      name: source.name,
      version: source.version,
      imports,
      unstable: source.unstable,
      nodeModulesDir: "auto",
      compilerOptions: source.compilerOptions,
    },
    null,
    2,
  ) + "\n";
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stderr: string }> {
  const output = await new Deno.Command(command, {
    args,
    ...options,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Builds the binary with `deno compile`; undefined where denort cannot be had. */
async function compileBinary(
  installPath: string,
  deno: string,
): Promise<Uint8Array | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "koan-install-" });
  try {
    const output = `${dir}/koan`;
    const result = await run(
      deno,
      compileArgs({ output, installPath }),
      { cwd: ROOT },
    );
    if (result.code === 0) return await Deno.readFile(output);
    if (isDenortDownloadFailure(result.stderr) && !Deno.env.get("DENORT_BIN")) {
      return undefined;
    }
    throw new Error(`deno compile failed:\n${result.stderr.trimEnd()}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Copies the source, installs its npm packages and writes the launcher. */
async function installWrapper(
  installer: Installer,
  paths: Layout,
  options: InstallOptions,
): Promise<void> {
  for (const file of sourceFiles()) {
    await installer.write(
      `${paths.lib}/${file}`,
      await Deno.readFile(`${ROOT}${file}`),
      0o644,
    );
  }
  await installer.write(
    `${paths.lib}/deno.lock`,
    await Deno.readFile(`${ROOT}deno.lock`),
    0o644,
  );
  await installer.write(
    `${paths.lib}/deno.json`,
    new TextEncoder().encode(installedDenoJson()),
    0o644,
  );
  // The npm packages into the copy's node_modules, from this Deno's cache
  // (or the registry); the lock file is pruned to them.
  const lib = installer.disk(paths.lib);
  const installed = await run(options.deno, [
    "install",
    "--quiet",
    "--entrypoint",
    "main.ts",
  ], { cwd: lib });
  if (installed.code !== 0) {
    throw new Error(
      `deno install in ${lib} failed:\n${installed.stderr.trimEnd()}`,
    );
  }
  // deno.lock was pruned: its entry names what is there now.
  const lock = installer.entries.find((e) =>
    e.path === `${paths.lib}/deno.lock`
  )!;
  lock.sha256 = await sha256(await Deno.readFile(`${lib}/deno.lock`));
  await makeReadable(`${lib}/node_modules`);
  installer.tree(`${paths.lib}/node_modules`);
  await installer.mkdir(paths.cache);
  installer.tree(paths.cache);
  await installer.write(
    paths.bin,
    new TextEncoder().encode(
      wrapperScript({ deno: options.deno, lib: paths.lib, cache: paths.cache }),
    ),
    0o755,
  );
}

/** chmod a+rX, for files a tool wrote under the installer's umask. */
async function makeReadable(path: string): Promise<void> {
  const info = await Deno.lstat(path);
  if (info.isSymlink) return;
  const mode = info.mode ?? 0;
  await Deno.chmod(path, mode | (info.isDirectory ? 0o555 : 0o444));
  if (!info.isDirectory) return;
  for await (const entry of Deno.readDir(path)) {
    await makeReadable(`${path}/${entry.name}`);
  }
}

/**
 * Runs the installed launcher once per start-up path (each protocol under
 * `koan inetd`, `check-config`, `--version`) so that Deno's cache holds
 * the transpiled modules and their compiled code: the first connection
 * under inetd then starts as fast as the next. Only where the installed
 * paths are the real ones (no destdir): the cache is keyed by path.
 */
async function prepareCache(paths: Layout): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koan-install-" });
  try {
    const config = `${dir}/koan.toml`;
    await Deno.writeTextFile(config, "");
    const runs = [
      ["--version"],
      ["check-config", "--config", config],
      ...["zen", "http", "echo"].map((protocol) => [
        "inetd",
        "--protocol",
        protocol,
        "--config",
        config,
      ]),
    ];
    for (const args of runs) {
      const result = await run(paths.bin, args, {
        env: { DENO_DIR: paths.cache },
      });
      if (result.code !== 0) {
        throw new Error(
          `the installed launcher failed: koan ${
            args.join(" ")
          }:\n${result.stderr.trimEnd()}`,
        );
      }
    }
    await makeReadable(paths.cache);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads the manifest at `path`; undefined when there is none. */
export async function readManifest(
  path: string,
): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const manifest = JSON.parse(text) as Manifest;
  if (manifest.version !== 1 || !Array.isArray(manifest.entries)) {
    throw new SyntaxError(`"${path}" is not a koan install manifest`);
  }
  return manifest;
}

/** What {@linkcode removeEntries} did. */
export interface Removal {
  removed: string[];
  /** Changed since they were installed, so left in place. */
  kept: string[];
}

/** Removes a manifest's files and trees (not its directories). */
async function removeFiles(
  installer: Installer,
  entries: readonly ManifestEntry[],
  options: { skipConfig?: boolean } = {},
): Promise<Removal> {
  const removal: Removal = { removed: [], kept: [] };
  for (const entry of entries) {
    const disk = installer.disk(entry.path);
    if (entry.kind === "dir") continue;
    if (entry.kind === "config" && options.skipConfig) continue;
    if (!await exists(disk)) continue;
    if (entry.kind === "tree") {
      await Deno.remove(disk, { recursive: true });
      removal.removed.push(entry.path);
      continue;
    }
    const now = await sha256(await Deno.readFile(disk));
    if (now !== entry.sha256) {
      removal.kept.push(entry.path);
      continue;
    }
    await Deno.remove(disk);
    removal.removed.push(entry.path);
  }
  return removal;
}

/** Removes the directories an install created, deepest first, where empty. */
async function removeDirs(
  installer: Installer,
  entries: readonly ManifestEntry[],
): Promise<string[]> {
  const dirs = entries.filter((e) => e.kind === "dir").map((e) => e.path)
    .sort((a, b) => b.split("/").length - a.split("/").length);
  const kept: string[] = [];
  for (const dir of dirs) {
    try {
      await Deno.remove(installer.disk(dir));
    } catch (error) {
      // Not empty (something not ours is in it): it stays. Gone already:
      // nothing to do.
      if (error instanceof Deno.errors.NotFound) continue;
      if (!(error instanceof Error) || !/not empty/i.test(error.message)) {
        throw error;
      }
      kept.push(dir);
    }
  }
  return kept;
}

/** What {@linkcode install} did, for its report. */
export interface InstallResult {
  launcher: "compiled" | "wrapper";
  /** Why the launcher is a wrapper, when auto fell back to one. */
  note?: string;
  /** An existing config was kept as it was. */
  keptConfig: boolean;
  /** What will not work as installed, and why. */
  warnings: string[];
  manifest: Manifest;
}

/** Installs koan; see the module's comment. */
export async function install(options: InstallOptions): Promise<InstallResult> {
  const paths = layout(options);
  const previous = await readManifest(
    `${trimSlash(options.destdir)}${paths.manifest}`,
  );
  const previousDirs = previous?.entries.filter((e) => e.kind === "dir")
    .map((e) => e.path) ?? [];
  if (trimSlash(options.destdir) !== "") {
    await Deno.mkdir(options.destdir, { recursive: true });
  }
  const installer = new Installer(options.destdir, previousDirs);
  // A config a previous install put there stays, and stays in the
  // manifest, so that --uninstall judges it as before.
  const carried = previous?.entries.filter((e) => e.kind === "config") ?? [];
  if (previous) {
    await removeFiles(installer, previous.entries, { skipConfig: true });
    for (const entry of carried) {
      if (await exists(installer.disk(entry.path))) {
        installer.entries.push(entry);
      }
    }
  }
  let launcher: "compiled" | "wrapper" = options.launcher === "compiled"
    ? "compiled"
    : "wrapper";
  let note: string | undefined;
  if (options.launcher !== "wrapper") {
    const binary = await compileBinary(paths.bin, options.deno);
    if (binary) {
      launcher = "compiled";
      await installer.write(paths.bin, binary, 0o755);
    } else if (options.launcher === "compiled") {
      throw new Error(
        `deno compile needs the denort runtime of Deno ${Deno.version.deno}, and this machine cannot download it (set DENORT_BIN, or use --launcher wrapper)`,
      );
    } else {
      note =
        `deno compile cannot download the denort runtime here: installed a wrapper that runs ${paths.lib} with Deno ${options.deno}`;
    }
  }
  if (launcher === "wrapper") {
    await installWrapper(installer, paths, options);
    if (trimSlash(options.destdir) === "") {
      await prepareCache(paths);
    }
  }
  // The config: never over an existing one.
  let keptConfig = false;
  if (await exists(installer.disk(paths.config))) {
    keptConfig = true;
  } else {
    await installer.write(
      paths.config,
      await Deno.readFile(`${ROOT}config/koan.toml`),
      0o644,
      "config",
    );
  }
  const filled = { launcher: paths.bin, config: paths.config };
  const encoder = new TextEncoder();
  for (const entry of Deno.readDirSync(`${ROOT}systemd`)) {
    if (!entry.isFile) continue;
    const text = await Deno.readTextFile(`${ROOT}systemd/${entry.name}`);
    await installer.write(
      `${paths.unitdir}/${entry.name}`,
      encoder.encode(fillPaths(text, filled)),
      0o644,
    );
  }
  for (const entry of Deno.readDirSync(`${ROOT}inetd/xinetd.d`)) {
    if (!entry.isFile) continue;
    const text = await Deno.readTextFile(`${ROOT}inetd/xinetd.d/${entry.name}`);
    await installer.write(
      `${paths.xinetddir}/${entry.name}`,
      encoder.encode(fillPaths(text, filled)),
      0o644,
    );
  }
  await installer.write(
    `${paths.share}/inetd.conf`,
    encoder.encode(
      fillPaths(await Deno.readTextFile(`${ROOT}inetd/inetd.conf`), filled),
    ),
    0o644,
  );
  const { destdir: _, ...recorded } = options;
  await installer.mkdir(paths.share);
  const manifest: Manifest = {
    version: 1,
    options: recorded,
    launcher,
    entries: installer.manifestEntries(),
  };
  await Deno.writeTextFile(
    installer.disk(paths.manifest),
    JSON.stringify(manifest, null, 2) + "\n",
  );
  await Deno.chmod(installer.disk(paths.manifest), 0o644);
  const warnings: string[] = [];
  if (launcher === "wrapper" && /^\/(root|home)(\/|$)/.test(options.deno)) {
    warnings.push(
      `the launcher runs Deno from ${options.deno}, which koan.service (ProtectHome=yes) and the entries' koan user cannot reach: install Deno where every user can run it (say /usr/local/bin/deno) and run this again with --deno`,
    );
  }
  return {
    launcher,
    ...(note ? { note } : {}),
    keptConfig,
    warnings,
    manifest,
  };
}

/** What {@linkcode uninstall} did. */
export interface UninstallResult extends Removal {
  /** Directories the install created that are not empty now. */
  keptDirs: string[];
}

/**
 * Removes what the install under `prefix` (and `destdir`) put there, as
 * its manifest lists it; files changed since stay.
 *
 * @throws {Deno.errors.NotFound} when there is no manifest.
 */
export async function uninstall(
  options: Pick<InstallOptions, "prefix" | "destdir">,
): Promise<UninstallResult> {
  const manifestPath = `${trimSlash(options.prefix)}/${MANIFEST}`;
  const installer = new Installer(options.destdir);
  const manifest = await readManifest(installer.disk(manifestPath));
  if (!manifest) {
    throw new Deno.errors.NotFound(
      `Cannot uninstall: no koan install manifest at "${
        installer.disk(manifestPath)
      }"`,
    );
  }
  const removal = await removeFiles(installer, manifest.entries);
  await Deno.remove(installer.disk(manifestPath));
  const keptDirs = await removeDirs(installer, manifest.entries);
  return { ...removal, keptDirs };
}

const USAGE =
  `Usage: deno task install [options]   (or: deno run --allow-read --allow-write --allow-run --allow-env scripts/install.ts)

Installs koan's launcher, /etc/koan/koan.toml (never over an existing one),
the systemd units and the inetd/xinetd entries, with their paths filled in.

  --prefix DIR        where bin/koan, lib/koan and share/koan go (default /usr/local)
  --destdir DIR       put before every path on disk, not in files (default $DESTDIR)
  --sysconfdir DIR    koan/koan.toml goes under it (default /etc)
  --unitdir DIR       the systemd units (default PREFIX/lib/systemd/system)
  --xinetddir DIR     the xinetd entries (default PREFIX/share/koan/xinetd.d;
                      /etc/xinetd.d turns them on at xinetd's next reload)
  --launcher KIND     auto (default): the compiled binary where deno compile
                      works, else a wrapper; compiled; wrapper
  --deno PATH         the Deno the wrapper runs (default: this one)
  --uninstall         remove what the install under PREFIX put there; files
                      changed since (an edited config) stay
  -h, --help          this text
`;

/** Parses the command line; throws `TypeError` (parseArgs) or `RangeError`. */
export function parseInstallArgs(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): InstallOptions & { uninstall: boolean; help: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      prefix: { type: "string", default: "/usr/local" },
      destdir: { type: "string" },
      sysconfdir: { type: "string", default: "/etc" },
      unitdir: { type: "string" },
      xinetddir: { type: "string" },
      launcher: { type: "string", default: "auto" },
      deno: { type: "string" },
      uninstall: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const launcher = values.launcher;
  if (
    launcher !== "auto" && launcher !== "compiled" && launcher !== "wrapper"
  ) {
    throw new RangeError(
      `--launcher must be auto, compiled or wrapper (got "${launcher}")`,
    );
  }
  const prefix = trimSlash(values.prefix);
  for (
    const [name, value] of [
      ["prefix", prefix],
      ["sysconfdir", values.sysconfdir],
      ["unitdir", values.unitdir],
      ["xinetddir", values.xinetddir],
    ] as const
  ) {
    if (value !== undefined && !value.startsWith("/")) {
      throw new RangeError(
        `--${name} must be an absolute path (got "${value}")`,
      );
    }
  }
  const deno = values.deno ?? Deno.execPath();
  return {
    prefix,
    destdir: values.destdir ?? env("DESTDIR") ?? "",
    sysconfdir: trimSlash(values.sysconfdir),
    unitdir: trimSlash(values.unitdir ?? `${prefix}/lib/systemd/system`),
    xinetddir: trimSlash(values.xinetddir ?? `${prefix}/share/koan/xinetd.d`),
    launcher,
    // The real path: the processes models run Deno.execPath(), which is
    // the resolved executable, and --allow-run must name that.
    deno: Deno.realPathSync(deno),
    uninstall: values.uninstall,
    help: values.help,
  };
}

async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseInstallArgs(args);
  } catch (error) {
    if (
      !(error instanceof TypeError) && !(error instanceof RangeError) &&
      !(error instanceof Deno.errors.NotFound)
    ) throw error;
    console.error(`koan install: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const destdir = trimSlash(options.destdir);
  try {
    if (options.uninstall) {
      const result = await uninstall(options);
      console.log(
        `koan: removed the install under ${options.prefix}${
          destdir ? ` (in ${destdir})` : ""
        }: ${result.removed.length} files and directory trees`,
      );
      for (const path of result.kept) {
        console.log(
          `koan: kept ${destdir}${path}: changed since it was installed`,
        );
      }
      // A directory left only because of what is named above goes unsaid.
      const kept = [...result.kept, ...result.keptDirs];
      for (const dir of result.keptDirs) {
        if (kept.some((path) => path.startsWith(`${dir}/`))) continue;
        console.log(`koan: kept ${destdir}${dir}/: not empty`);
      }
      return 0;
    }
    const result = await install(options);
    const paths = layout(options);
    if (result.note) console.log(`koan: ${result.note}`);
    for (const warning of result.warnings) {
      console.error(`koan install: warning: ${warning}`);
    }
    console.log(
      [
        `koan: installed ${
          result.launcher === "compiled"
            ? "the compiled binary"
            : "the launcher"
        } ${destdir}${paths.bin}`,
        result.keptConfig
          ? `koan: kept the existing ${destdir}${paths.config}`
          : `koan: installed ${destdir}${paths.config} (from config/koan.toml)`,
        `koan: installed the systemd units in ${destdir}${paths.unitdir}, the xinetd entries in ${destdir}${paths.xinetddir}, the inetd line in ${destdir}${paths.share}/inetd.conf`,
        `koan: the manifest is ${destdir}${paths.manifest}; --uninstall removes what it lists`,
      ].join("\n"),
    );
    return 0;
  } catch (error) {
    console.error(`koan install: ${(error as Error)?.message ?? error}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
