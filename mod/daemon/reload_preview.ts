/**
 * The reload preview behind `koan check-config --diff`: loads the config
 * as the running daemon's reload would (its flags, `$KOAN_CONFIG` and
 * systemd sockets, from its running record), compares it with the config
 * it runs, and checks that each address the reload would bind anew is
 * free — as the reload does before it starts a listener there.
 *
 * The caller runs it in the daemon's working directory (the record's
 * `cwd`), so that relative paths name the files the daemon would read.
 *
 * @module
 */
import { type Address, parseAddress } from "../config/address.ts";
import { ConfigError, type LoadOptions } from "../config/load.ts";
import { probeAddress } from "../net/listen.ts";
import {
  type ConfigDiff,
  diffConfigs,
  formatConfigDiff,
  listenerName,
} from "./config_diff.ts";
import { loadGeneration } from "./load_generation.ts";
import { addressKey } from "./plan.ts";
import type { RunningRecord } from "./running_record.ts";

/** An added listener the reload would fail to start: it goes on without it. */
export interface Unavailable {
  /** `echo 127.0.0.1:7007`. */
  name: string;
  /** Why, as one phrase. */
  reason: string;
}

/** What {@linkcode previewReload} found. */
export interface ReloadPreview {
  /** Running config → the one a reload would run. */
  diff: ConfigDiff;
  /** Lines the daemon would log (settings that mean nothing for a model, socket activation). */
  notes: string[];
  /** The config file the reload would read, if any. */
  path?: string;
  /** Added listeners whose address cannot be bound now. */
  unavailable: Unavailable[];
}

/** Options for {@linkcode previewReload}. */
export interface PreviewOptions {
  /** Checks that nobody holds an address. @default {probeAddress} */
  probe?: (address: Address) => Promise<void>;
}

/**
 * The load options the daemon's reload uses, from its record: its flags,
 * and `$KOAN_CONFIG` as the daemon saw it (not the caller's).
 *
 * @example Usage
 * ```ts
 * import { recordLoadOptions } from "./reload_preview.ts";
 * const options = recordLoadOptions({ options: {}, env: { KOAN_CONFIG: "/k.toml" } });
 * if (options.env?.("KOAN_CONFIG") !== "/k.toml") throw new Error();
 * ```
 */
export function recordLoadOptions(
  record: Pick<RunningRecord, "options" | "env">,
): LoadOptions {
  const env: Record<string, string | undefined> = { ...record.env };
  return { ...record.options, env: (name) => env[name] };
}

/** Why `probe` says an address cannot be bound, or undefined when it can. */
async function probeProblem(
  address: Address,
  probe: (address: Address) => Promise<void>,
): Promise<string | undefined> {
  try {
    await probe(address);
    return undefined;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return "address in use";
    if (error instanceof Deno.errors.AddrNotAvailable) {
      return "address not available on this host";
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      // The daemon may hold CAP_NET_BIND_SERVICE where this user does not.
      return "not checked: this user may not bind it";
    }
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
}

/**
 * Loads the config a reload of the daemon of `record` would run, and
 * compares it with the one it runs.
 *
 * @example Usage
 * ```ts
 * import { previewReload } from "./reload_preview.ts";
 * import { configOf } from "../config/_testing.ts";
 * const { config } = configOf({});
 * const preview = await previewReload({
 *   pid: 4242,
 *   options: {},
 *   env: {},
 *   cwd: Deno.cwd(),
 *   inherited: [],
 *   config,
 *   writtenAt: new Date().toISOString(),
 * }, { probe: () => Promise.resolve() });
 * if (preview.diff.inPlace.length !== 2) throw new Error("the defaults, unchanged");
 * ```
 *
 * @throws {ConfigError} when the daemon would refuse the reload: the
 *   line it would log.
 */
export async function previewReload(
  record: RunningRecord,
  options: PreviewOptions = {},
): Promise<ReloadPreview> {
  const { loaded, generation } = await loadGeneration(
    recordLoadOptions(record),
    { inherited: record.inherited, dryRun: true },
  );
  const diff = diffConfigs(record.config, generation.config);
  const passed = new Set(
    record.inherited.map((socket) => addressKey(socket.address)),
  );
  const unavailable: Unavailable[] = [];
  for (const { kind, after } of diff.listeners) {
    // The reload probes only addresses it does not serve yet, and not
    // those systemd passed a socket for.
    if (kind !== "added" || passed.has(addressKey(after!.address))) continue;
    const reason = await probeProblem(
      parseAddress(after!.address),
      options.probe ?? probeAddress,
    );
    if (reason !== undefined) {
      unavailable.push({ name: listenerName(after!), reason });
    }
  }
  return {
    diff,
    notes: loaded.notes,
    ...(loaded.path === undefined ? {} : { path: loaded.path }),
    unavailable,
  };
}

/**
 * The preview as lines: the diff (see `formatConfigDiff`), each added
 * listener that would not start followed by a line saying why.
 *
 * @example Usage
 * ```ts
 * import { previewLines } from "./reload_preview.ts";
 * const lines = previewLines({
 *   diff: { listeners: [], settings: [], inPlace: [] },
 *   notes: [],
 *   unavailable: [],
 * });
 * if (lines.join() !== "no changes") throw new Error();
 * ```
 */
export function previewLines(preview: ReloadPreview): string[] {
  const lines: string[] = [];
  for (const line of formatConfigDiff(preview.diff)) {
    lines.push(line);
    for (const { name, reason } of preview.unavailable) {
      if (line.startsWith(`listener ${name}: added`)) {
        lines.push(
          `listener ${name}: ${reason}: the reload would go on without it`,
        );
      }
    }
  }
  return lines;
}
