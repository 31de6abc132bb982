/**
 * Builds the effective configuration: defaults, then the TOML file, then
 * command-line overrides, each value checked by the validator declared in
 * `settings.ts`. Any problem is a {@linkcode ConfigError} naming the key.
 *
 * Defaults are valid by construction (`load_test.ts` checks each against
 * its schema), so valibot and the TOML parser are imported only when a file
 * or a flag gives a value: `koan inetd` with no config file loads neither.
 *
 * @module
 */
import { parseAddress } from "./address.ts";
import {
  type Config,
  LISTENER,
  type ListenerConfig,
  type ModelName,
  type PROTOCOL_NAMES,
  type SectionName,
  SECTIONS,
  type Setting,
  type Valibot,
} from "./settings.ts";
import { loadCidr } from "./cidr.ts";
import { ConfigError } from "./error.ts";

export { ConfigError };

/** A listener named on the command line. */
export interface ListenerFlag {
  protocol: typeof PROTOCOL_NAMES[number];
  address: string;
}

/** What the command line overrides. */
export interface Overrides {
  /** `--zen/--http/--echo`: replace the file's listeners. */
  listeners?: ListenerFlag[];
  /** `--model`, applied to every listener named on the command line (or all, when none is). */
  model?: string;
  /** `--workers`, likewise. */
  workers?: string;
  /** Single settings by dotted key (`"http.docroot"`), as text from flags. */
  values?: Record<string, string>;
}

/** The result of {@linkcode buildConfig}. */
export interface LoadedConfig {
  config: Config;
  /** Settings that were set but mean nothing for their listener's model; logged once. */
  notes: string[];
  /** The file read, if any. */
  path?: string;
}

/** Default port per protocol when a listener gives none (`deno task start`). */
export const DEFAULT_ADDRESSES: Record<ListenerFlag["protocol"], string> = {
  zen: "127.0.0.1:1060",
  http: "127.0.0.1:8080",
  echo: "127.0.0.1:7007",
};

/** Listeners used when neither the file nor the command line names any. */
export const DEFAULT_LISTENERS: readonly ListenerFlag[] = [
  { protocol: "zen", address: DEFAULT_ADDRESSES.zen },
  { protocol: "http", address: DEFAULT_ADDRESSES.http },
];

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

/** The JavaScript types a setting's value may have, as valibot names them. */
const VALUE_TYPES = new Set(["number", "string", "boolean"]);

/** Checks `value` for `setting`; `v` is undefined only when every value is a default. */
function check<T>(
  v: Valibot | undefined,
  key: string,
  setting: Setting<T>,
  value: unknown,
): T {
  if (!v) return value as T;
  const result = v.safeParse(setting.schema(v), value);
  if (result.success) return result.output;
  const issue = result.issues[0];
  let reason = issue.message;
  if (issue.kind === "schema" && VALUE_TYPES.has(issue.type)) {
    reason = `must be ${
      typeof setting.default === "number"
        ? "a number"
        : typeof setting.default === "boolean"
        ? "true or false"
        : "a string"
    }`;
  }
  throw new ConfigError(key, `${reason} (got ${describe(value)})`);
}

/** Turns flag text into the type the setting expects. */
function coerce(setting: Setting, text: string): unknown {
  if (typeof setting.default === "number") {
    return /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text;
  }
  if (typeof setting.default === "boolean") {
    return text === "true" ? true : text === "false" ? false : text;
  }
  return text;
}

function defaults(): Config {
  const config = { listener: [] } as unknown as Record<string, unknown>;
  for (const [section, settings] of Object.entries(SECTIONS)) {
    config[section] = Object.fromEntries(
      Object.entries(settings).map(([name, s]) => [name, s.default]),
    );
  }
  return config as unknown as Config;
}

function buildListener(
  v: Valibot | undefined,
  raw: unknown,
  key: string,
): { listener: ListenerConfig; explicit: Set<string> } {
  if (!isTable(raw)) throw new ConfigError(key, "must be a table");
  for (const name of Object.keys(raw)) {
    if (!(name in LISTENER)) {
      throw new ConfigError(`${key}.${name}`, "unknown key");
    }
  }
  const protocol = check(
    v,
    `${key}.protocol`,
    LISTENER.protocol,
    raw.protocol ?? LISTENER.protocol.default,
  );
  const listener = {
    protocol,
    address: check(
      v,
      `${key}.address`,
      LISTENER.address,
      raw.address ?? DEFAULT_ADDRESSES[protocol],
    ),
    model: check(v, `${key}.model`, LISTENER.model, raw.model ?? "async"),
    workers: check(v, `${key}.workers`, LISTENER.workers, raw.workers ?? 0),
    concurrency: check(
      v,
      `${key}.concurrency`,
      LISTENER.concurrency,
      raw.concurrency ?? 0,
    ),
    ...tlsSettings(v, raw, key),
    socket_mode: check(
      v,
      `${key}.socket_mode`,
      LISTENER.socket_mode,
      raw.socket_mode ?? "",
    ),
    proxy_protocol: check(
      v,
      `${key}.proxy_protocol`,
      LISTENER.proxy_protocol,
      raw.proxy_protocol ?? false,
    ),
    trusted_proxies: check(
      v,
      `${key}.trusted_proxies`,
      LISTENER.trusted_proxies,
      raw.trusted_proxies ?? [],
    ),
  } satisfies ListenerConfig;
  try {
    parseAddress(listener.address);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new ConfigError(`${key}.address`, error.message);
  }
  return { listener, explicit: new Set(Object.keys(raw)) };
}

/**
 * A listener's TLS settings, checked as a pair: a certificate needs its
 * key and a key its certificate. Whether the files hold a usable pair is
 * judged where they are read (`net/tls.ts`, at start, reload and
 * check-config).
 */
function tlsSettings(
  v: Valibot | undefined,
  raw: Table,
  key: string,
): Pick<ListenerConfig, "tls_cert" | "tls_key" | "tls_alpn"> {
  const tls = {
    tls_cert: check(
      v,
      `${key}.tls_cert`,
      LISTENER.tls_cert,
      raw.tls_cert ?? "",
    ),
    tls_key: check(v, `${key}.tls_key`, LISTENER.tls_key, raw.tls_key ?? ""),
    tls_alpn: check(
      v,
      `${key}.tls_alpn`,
      LISTENER.tls_alpn,
      raw.tls_alpn ?? false,
    ),
  };
  if (tls.tls_cert && !tls.tls_key) {
    throw new ConfigError(
      `${key}.tls_key`,
      `must be set when tls_cert is (the private key of "${tls.tls_cert}")`,
    );
  }
  if (tls.tls_key && !tls.tls_cert) {
    throw new ConfigError(
      `${key}.tls_cert`,
      `must be set when tls_key is (the certificate chain for "${tls.tls_key}")`,
    );
  }
  return tls;
}

function appliesTo(setting: Setting, model: ModelName): boolean {
  return !setting.models || setting.models.includes(model);
}

/** What {@linkcode buildConfig} reads. */
export interface BuildOptions {
  /**
   * Sections read from the file and the flags; the others keep their
   * defaults, unchecked (`koan inetd` reads no `[daemon]`).
   * @default {all}
   */
  sections?: readonly SectionName[];
  /** Whether to read `[[listener]]` tables (`koan inetd` has none). @default {true} */
  listeners?: boolean;
}

function isEmpty(value: object | undefined): boolean {
  return value === undefined || Object.keys(value).length === 0;
}

/** Whether `raw` or `overrides` give any value `options` reads. */
function givesValues(
  raw: Table,
  overrides: Overrides,
  options: BuildOptions,
): boolean {
  const withListeners = options.listeners ?? true;
  return Object.keys(raw).some((name) =>
    name === "listener"
      ? withListeners
      : !options.sections || options.sections.includes(name as SectionName)
  ) || !isEmpty(overrides.listeners) || overrides.model !== undefined ||
    overrides.workers !== undefined || !isEmpty(overrides.values);
}

/**
 * Validates a parsed TOML document merged with command-line overrides,
 * importing valibot only when they give a value to check.
 *
 * @example Usage
 * ```ts
 * import { buildConfig } from "./load.ts";
 * const { config } = await buildConfig({ zen: { max_question: 64 } });
 * if (config.zen.max_question !== 64) throw new Error("not applied");
 * ```
 *
 * @throws {ConfigError} naming the first bad key.
 */
export async function buildConfig(
  raw: unknown,
  overrides: Overrides = {},
  options: BuildOptions = {},
): Promise<LoadedConfig> {
  const v = isTable(raw) && givesValues(raw, overrides, options)
    ? await import("valibot")
    : undefined;
  if (v !== undefined && namesCidrList(raw)) await loadCidr();
  return buildConfigWith(v, raw, overrides, options);
}

/** Whether a listener of `raw` sets `trusted_proxies` (checked by ipaddr.js). */
function namesCidrList(raw: unknown): boolean {
  if (!isTable(raw) || !Array.isArray(raw.listener)) return false;
  return raw.listener.some((listener) =>
    isTable(listener) && listener.trusted_proxies !== undefined
  );
}

/**
 * {@linkcode buildConfig} with valibot given (undefined: nothing to check, so
 * `raw` and `overrides` must give no value `options` reads).
 *
 * @throws {ConfigError} naming the first bad key.
 */
export function buildConfigWith(
  v: Valibot | undefined,
  raw: unknown,
  overrides: Overrides = {},
  options: BuildOptions = {},
): LoadedConfig {
  if (!isTable(raw)) throw new ConfigError("", "the file must be a TOML table");
  if (!v && givesValues(raw, overrides, options)) {
    throw new TypeError("buildConfigWith() needs valibot to check values");
  }
  const read = new Set<string>(options.sections ?? Object.keys(SECTIONS));
  const withListeners = options.listeners ?? true;
  const config = defaults();
  const notes: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (name === "listener") continue;
    if (!(name in SECTIONS)) {
      if (options.sections) continue; // not this reader's to judge
      throw new ConfigError(name, "unknown section");
    }
    if (!read.has(name)) continue;
    if (!isTable(value)) throw new ConfigError(name, "must be a table");
    const declared = SECTIONS[name as SectionName] as Record<string, Setting>;
    const target = config[name as SectionName] as Record<string, unknown>;
    for (const [key, item] of Object.entries(value)) {
      const setting = declared[key];
      if (!setting) throw new ConfigError(`${name}.${key}`, "unknown key");
      target[key] = check(v, `${name}.${key}`, setting, item);
    }
  }
  if (withListeners) buildListeners(v, raw, overrides, config, notes);

  for (const [key, text] of Object.entries(overrides.values ?? {})) {
    const [section, name] = key.split(".") as [SectionName, string];
    const setting = (SECTIONS[section] as Record<string, Setting> | undefined)
      ?.[name];
    if (!setting) throw new ConfigError(key, "unknown key");
    (config[section] as Record<string, unknown>)[name] = check(
      v,
      `--${setting.flag ?? key}`,
      setting,
      coerce(setting, text),
    );
  }
  return { config, notes };
}

/** Fills `config.listener` from the flags, the file or the defaults. */
function buildListeners(
  v: Valibot | undefined,
  raw: Table,
  overrides: Overrides,
  config: Config,
  notes: string[],
): void {
  let explicit: Set<string>[] = [];
  if (overrides.listeners?.length) {
    config.listener = overrides.listeners.map((flag, index) =>
      buildListener(v, flag, `--${flag.protocol}[${index}]`).listener
    );
    explicit = config.listener.map(() => new Set<string>());
  } else if (raw.listener !== undefined) {
    if (!Array.isArray(raw.listener)) {
      throw new ConfigError(
        "listener",
        "must be written as [[listener]] tables",
      );
    }
    const built = raw.listener.map((item, index) =>
      buildListener(v, item, `listener[${index}]`)
    );
    config.listener = built.map((b) => b.listener);
    explicit = built.map((b) => b.explicit);
  } else {
    config.listener = DEFAULT_LISTENERS.map((flag) =>
      buildListener(v, flag, "default listener").listener
    );
    explicit = config.listener.map(() => new Set<string>());
  }
  if (config.listener.length === 0) {
    throw new ConfigError("listener", "at least one listener is needed");
  }

  config.listener.forEach((listener, index) => {
    if (overrides.model !== undefined) {
      listener.model = check(v, "--model", LISTENER.model, overrides.model);
      explicit[index]?.add("model");
    }
    if (overrides.workers !== undefined) {
      listener.workers = check(
        v,
        "--workers",
        LISTENER.workers,
        coerce(LISTENER.workers, overrides.workers),
      );
      explicit[index]?.add("workers");
    }
    for (const name of ["workers", "concurrency"] as const) {
      if (
        explicit[index]?.has(name) &&
        !appliesTo(LISTENER[name], listener.model)
      ) {
        notes.push(
          `listener[${index}].${name} does not apply to model "${listener.model}" and is ignored`,
        );
      }
    }
    if (
      explicit[index]?.has("tls_alpn") && listener.tls_alpn &&
      (!listener.tls_cert || listener.protocol !== "http")
    ) {
      notes.push(
        `listener[${index}].tls_alpn offers "http/1.1" only on an http listener with tls_cert, and is ignored here`,
      );
    }
    if (listener.workers === 0) listener.workers = cpuCount();
  });
}

function cpuCount(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/** Parses TOML text; syntax errors become a {@linkcode ConfigError} with line and column. */
export async function parseConfigText(
  text: string,
  source: string,
): Promise<unknown> {
  const { parse: parseToml, TomlError } = await import("smol-toml");
  try {
    return parseToml(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const first = error.message.split("\n")[0];
    throw new ConfigError(
      "",
      `${source}:${error.line}:${error.column}: ${first}`,
    );
  }
}

/**
 * Reads a file the configuration names. Any failure (missing, a directory,
 * no permission, not UTF-8) is the operator's to fix, so every error
 * becomes one {@linkcode ConfigError} naming `key` and the path.
 */
export async function readNamedFile(
  path: string,
  key: string,
  what = "",
): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(
      key,
      `cannot read ${what}"${path}": ${(error as Error).message}`,
    );
  }
}

/** Options for {@linkcode loadConfig}. */
export interface LoadOptions {
  /** `--config FILE`. */
  path?: string | undefined;
  /** Command-line overrides. */
  overrides?: Overrides;
  /** Environment lookup; defaults to `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** What to read (`koan inetd`: no listeners, no `[daemon]`). */
  build?: BuildOptions;
}

/** The system-wide config file, used when present and nothing else is named. */
export const SYSTEM_CONFIG = "/etc/koan/koan.toml";

/** What `Deno.stat(SYSTEM_CONFIG)` throws when there is no file to use. */
const NO_SYSTEM_CONFIG = [
  Deno.errors.NotFound,
  Deno.errors.NotADirectory,
  Deno.errors.PermissionDenied,
  Deno.errors.NotCapable,
];

/**
 * Finds and reads the config file (`--config`, then `$KOAN_CONFIG`, then
 * `/etc/koan/koan.toml` if present) and builds the effective config.
 *
 * @throws {ConfigError} for an unreadable file or any invalid setting.
 */
export async function loadConfig(
  options: LoadOptions = {},
): Promise<LoadedConfig> {
  const env = options.env ?? ((name) => Deno.env.get(name));
  let path = options.path ?? env("KOAN_CONFIG");
  if (path === undefined) {
    try {
      await Deno.stat(SYSTEM_CONFIG);
      path = SYSTEM_CONFIG;
    } catch (error) {
      // Absent (NotFound, NotADirectory), or out of reach of this process
      // (PermissionDenied; NotCapable without --allow-read for it): then
      // there is no system config to use. Anything else is a real failure.
      if (!NO_SYSTEM_CONFIG.some((kind) => error instanceof kind)) throw error;
      path = undefined;
    }
  }
  let raw: unknown = {};
  if (path !== undefined) {
    raw = await parseConfigText(
      await readNamedFile(path, "", "config file "),
      path,
    );
  }
  const loaded = await buildConfig(raw, options.overrides, options.build);
  if (path !== undefined) loaded.path = path;
  return loaded;
}
