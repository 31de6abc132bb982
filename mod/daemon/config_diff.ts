/**
 * What a reload would change, worked out from two configs alone: the one
 * the daemon runs (its running record) and the one a reload would plan.
 * No file, socket or clock is touched; `koan check-config --diff` does the
 * loading and the probing around it.
 *
 * The listener rules are those of the daemon's reload (`daemon.ts`):
 *
 * - a new listener whose settings are all the same as a running one's (in
 *   any position) is updated in place: it keeps its socket and its
 *   workers, and applies the new settings (limits, tables, log) to the
 *   connections it accepts from then on (a pool forwards them to every
 *   worker; no worker restarts);
 * - any other new listener at an address still served is a replacement:
 *   a new listener starts (with new workers, if its model has any), then
 *   the old one drains; "moved" when its model changed, else "changed"
 *   (protocol, workers, TLS files... any listener key);
 * - a new listener at an address nobody serves is "added"; a running one
 *   left over is "removed" (it drains).
 *
 * @module
 */
import type { Config, ListenerConfig } from "../config/settings.ts";
import { addressKey } from "./plan.ts";

/** One setting whose value differs. */
export interface SettingChange {
  /** Dotted key: `limits.max_connections`, or a listener key (`model`). */
  key: string;
  /** The running value; undefined when the key is new. */
  before: unknown;
  /** The value a reload would apply; undefined when the key is gone. */
  after: unknown;
}

/** How a reload treats a listener. */
export type ListenerChangeKind = "added" | "removed" | "moved" | "changed";

/** A listener a reload starts, stops or replaces. */
export interface ListenerChange {
  /** What happens to it. */
  kind: ListenerChangeKind;
  /** The running listener (all but "added"). */
  before?: ListenerConfig;
  /** The listener a reload starts (all but "removed"). */
  after?: ListenerConfig;
  /** The listener keys that differ ("moved", "changed"). */
  changes: SettingChange[];
}

/** The result of {@linkcode diffConfigs}. */
export interface ConfigDiff {
  /** Listeners started, stopped or replaced: new config order, then the removed ones in running order. */
  listeners: ListenerChange[];
  /** Settings outside `[[listener]]` that differ, in config order. */
  settings: SettingChange[];
  /** Listeners updated in place, workers kept, in new config order. */
  inPlace: ListenerConfig[];
}

/** The daemon's test for "unchanged": every key and value the same, in the same order. */
function listenerKey(listener: ListenerConfig): string {
  return JSON.stringify(listener);
}

/** The listen table's key for an address; a text that is no address (a record edited by hand) stands for itself. */
function keyOf(address: string): string {
  try {
    return addressKey(address);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return address;
  }
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Leaves of `value` by dotted key; lists are leaves. */
function flatten(
  value: unknown,
  prefix: string,
  into: Map<string, unknown>,
): Map<string, unknown> {
  if (isTable(value)) {
    for (const [key, inner] of Object.entries(value)) {
      flatten(inner, prefix ? `${prefix}.${key}` : key, into);
    }
  } else {
    into.set(prefix, value);
  }
  return into;
}

/** The keys of `before` and `after` whose values differ: `after`'s order, then keys only `before` has. */
function changedKeys(
  before: Map<string, unknown>,
  after: Map<string, unknown>,
): SettingChange[] {
  const keys = [
    ...after.keys(),
    ...[...before.keys()].filter((key) => !after.has(key)),
  ];
  return keys
    .filter((key) => !same(before.get(key), after.get(key)))
    .map((key) => ({ key, before: before.get(key), after: after.get(key) }));
}

function settingsOf(config: Config): Map<string, unknown> {
  const into = new Map<string, unknown>();
  for (const [section, value] of Object.entries(config)) {
    if (section !== "listener") flatten(value, section, into);
  }
  return into;
}

/**
 * Compares the running config with the one a reload would run.
 *
 * @example Usage
 * ```ts
 * import { diffConfigs } from "./config_diff.ts";
 * import { configOf } from "../config/_testing.ts";
 * const running = configOf({
 *   listener: [{ protocol: "zen", address: "127.0.0.1:1060" }],
 * }).config;
 * const next = configOf({
 *   listener: [{ protocol: "zen", address: "127.0.0.1:1060", model: "threads" }],
 *   limits: { max_connections: 2000 },
 * }).config;
 * const diff = diffConfigs(running, next);
 * if (diff.listeners[0]?.kind !== "moved") throw new Error();
 * if (diff.settings[0]?.key !== "limits.max_connections") throw new Error();
 * ```
 */
export function diffConfigs(running: Config, next: Config): ConfigDiff {
  const old = [...running.listener];
  const listeners: ListenerChange[] = [];
  const inPlace: ListenerConfig[] = [];
  // As the reload does: unchanged listeners are matched first, wherever
  // they stand, so a listener moved up the list is not a replacement.
  const unchanged = new Set<number>();
  next.listener.forEach((listener, index) => {
    const i = old.findIndex((l) => listenerKey(l) === listenerKey(listener));
    if (i >= 0) {
      unchanged.add(index);
      old.splice(i, 1);
    }
  });
  next.listener.forEach((listener, index) => {
    if (unchanged.has(index)) {
      inPlace.push(listener);
      return;
    }
    const key = keyOf(listener.address);
    const i = old.findIndex((l) => keyOf(l.address) === key);
    if (i < 0) {
      listeners.push({ kind: "added", after: listener, changes: [] });
      return;
    }
    const before = old.splice(i, 1)[0]!;
    listeners.push({
      kind: before.model === listener.model ? "changed" : "moved",
      before,
      after: listener,
      changes: changedKeys(
        new Map(Object.entries(before)),
        new Map(Object.entries(listener)),
      ),
    });
  });
  for (const before of old) {
    listeners.push({ kind: "removed", before, changes: [] });
  }
  return {
    listeners,
    settings: changedKeys(settingsOf(running), settingsOf(next)),
    inPlace,
  };
}

/** Whether a reload would change anything at all. */
export function hasChanges(diff: ConfigDiff): boolean {
  return diff.listeners.length > 0 || diff.settings.length > 0;
}

/** A value as the config file would have it; `(none)` for a key one side lacks. */
function show(value: unknown): string {
  return value === undefined ? "(none)" : JSON.stringify(value);
}

function change(c: SettingChange): string {
  return `${show(c.before)} → ${show(c.after)}`;
}

/** `zen 127.0.0.1:1060`: a listener as the daemon's log names it. */
export function listenerName(listener: ListenerConfig): string {
  return `${listener.protocol} ${keyOf(listener.address)}`;
}

/** The model and, for a pool, its workers: `threads, 4 workers`. */
function workersOf(listener: ListenerConfig): string {
  if (listener.model !== "threads" && listener.model !== "processes") {
    return listener.model;
  }
  // The loader has turned 0 ("one per CPU") into the count already.
  const n = listener.workers;
  return `${listener.model}, ${n} worker${n === 1 ? "" : "s"}`;
}

/** What a setting line adds, where the reload does not apply the setting. */
const NOT_APPLIED: Record<string, string> = {
  "daemon.pid_file":
    " (not applied by a reload: the pid file stays where it is until a restart)",
};

/**
 * The diff as lines for an operator, one per change, in a stable order:
 * listeners (new config order, removed ones last), settings (config
 * order), then which listeners' workers restart and which are kept.
 * `["no changes"]` when there is none.
 *
 * @example Usage
 * ```ts
 * import { diffConfigs, formatConfigDiff } from "./config_diff.ts";
 * import { configOf } from "../config/_testing.ts";
 * const running = configOf({ limits: { max_connections: 1000 } }).config;
 * const next = configOf({ limits: { max_connections: 2000 } }).config;
 * const lines = formatConfigDiff(diffConfigs(running, next));
 * if (lines[0] !== "limits.max_connections: 1000 → 2000") throw new Error();
 * ```
 */
export function formatConfigDiff(diff: ConfigDiff): string[] {
  if (!hasChanges(diff)) return ["no changes"];
  const lines: string[] = [];
  for (const { kind, before, after, changes } of diff.listeners) {
    const name = listenerName((after ?? before)!);
    switch (kind) {
      case "added":
        lines.push(`listener ${name}: added (${workersOf(after!)})`);
        break;
      case "removed":
        lines.push(
          `listener ${name}: removed (${workersOf(before!)}; it drains)`,
        );
        break;
      default:
        lines.push(
          `listener ${name}: ${kind}, ${
            changes.map((c) => `${c.key} ${change(c)}`).join(", ")
          }`,
        );
    }
  }
  for (const setting of diff.settings) {
    lines.push(
      `${setting.key}: ${change(setting)}${NOT_APPLIED[setting.key] ?? ""}`,
    );
  }
  for (const { kind, after } of diff.listeners) {
    if (kind !== "moved" && kind !== "changed") continue;
    lines.push(
      `workers restart: ${listenerName(after!)} (${
        workersOf(after!)
      }): the listener is replaced, the old one drains`,
    );
  }
  for (const listener of diff.inPlace) {
    lines.push(
      `workers kept: ${listenerName(listener)} (${
        workersOf(listener)
      }): updated in place`,
    );
  }
  return lines;
}
