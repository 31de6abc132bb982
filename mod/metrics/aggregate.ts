/**
 * The daemon's metrics as one snapshot, whichever isolate asks: every
 * isolate counts into its own registry (`registry.ts`), and this module
 * adds the rest.
 *
 * - In the master, worker pools register a provider: the sum of their
 *   workers' latest snapshots (sent with each heartbeat, about once a
 *   second, and once more when a worker drains) plus a retired total for
 *   workers that are gone, so counters never go backwards. `aggregate()`
 *   is the master's own registry plus every provider.
 * - In a worker, the master pushes "everything but you" about once a
 *   second ({@linkcode setRemote}); `aggregate()` adds this worker's own
 *   registry, live. So `/metrics` served by a worker is exact for that
 *   worker and at most about two seconds stale for the others (one
 *   heartbeat to the master, one push back).
 *
 * @module
 */
import {
  emptySnapshot,
  mergeSnapshots,
  metrics,
  type MetricsSnapshot,
} from "./registry.ts";

/** Returns a snapshot to add to this isolate's own. */
export type SnapshotProvider = () => MetricsSnapshot;

const providers = new Set<SnapshotProvider>();
let remote: MetricsSnapshot | undefined;
/** Counts of providers that have ended (a pool replaced by a reload). */
let retired = emptySnapshot();

/**
 * Adds a provider (a worker pool in the master). Returns the function that
 * removes it; call it only once the provider's counts are folded elsewhere
 * (or the listener is gone for good), since removing it drops its counts.
 */
export function addSnapshotProvider(provider: SnapshotProvider): () => void {
  providers.add(provider);
  return () => providers.delete(provider);
}

/**
 * Keeps the monotonic part of an ended provider's last snapshot, so its
 * counters stay in the total after {@linkcode addSnapshotProvider}'s remover
 * is called.
 */
export function retireSnapshot(snapshot: MetricsSnapshot): void {
  retired = mergeSnapshots([retired, retiredPart(snapshot)]);
}

/** In a worker: what the rest of the daemon had counted, as the master last said. */
export function setRemote(snapshot: MetricsSnapshot | undefined): void {
  remote = snapshot;
}

/**
 * The daemon-wide snapshot: this isolate's registry, plus every provider
 * (master) or the master's last push (worker).
 *
 * @example Usage
 * ```ts
 * import { aggregate } from "./aggregate.ts";
 * const total = aggregate();
 * if (typeof total.counters !== "object") throw new Error("no counters");
 * ```
 */
export function aggregate(): MetricsSnapshot {
  const parts = [metrics.snapshot(), retired];
  if (remote) parts.push(remote);
  for (const provider of providers) parts.push(provider());
  return mergeSnapshots(parts);
}

/**
 * Only the monotonic parts of a snapshot (counters and histograms): what a
 * worker that has exited still contributes. Its gauges (connections open)
 * ended with it.
 */
export function retiredPart(snapshot: MetricsSnapshot): MetricsSnapshot {
  return {
    ...emptySnapshot(),
    counters: snapshot.counters,
    histograms: snapshot.histograms,
  };
}

/**
 * `total` minus `part`, series by series (a worker's push: the aggregate
 * without that worker's own counts). Series that drop to zero stay.
 */
export function subtractSnapshot(
  total: MetricsSnapshot,
  part: MetricsSnapshot,
): MetricsSnapshot {
  const result = mergeSnapshots([total]);
  for (const [key, value] of Object.entries(part.counters)) {
    if (key in result.counters) result.counters[key]! -= value;
  }
  for (const [key, value] of Object.entries(part.gauges)) {
    if (key in result.gauges) result.gauges[key]! -= value;
  }
  for (const [key, state] of Object.entries(part.histograms)) {
    const into = result.histograms[key];
    if (!into) continue;
    state.counts.forEach((n, i) => into.counts[i] = (into.counts[i] ?? 0) - n);
    into.sum -= state.sum;
    into.count -= state.count;
  }
  return result;
}

/** Environment variable naming the file {@linkcode startMetricsDump} writes. */
export const METRICS_DUMP_ENV = "KOAN_METRICS_DUMP";
const DUMP_MS = 250;
let dumping = false;

/**
 * Test hook: when the master's environment names a file in
 * `KOAN_METRICS_DUMP`, writes `aggregate()` there as JSON four times a
 * second (write to a temporary name, then rename, so a reader never sees
 * half a file). Idempotent; does nothing without the variable or without
 * the permissions to read it and write the file. Worker pools start it,
 * so it runs only in the master.
 */
export function startMetricsDump(): void {
  if (dumping) return;
  let path: string | undefined;
  try {
    path = Deno.env.get(METRICS_DUMP_ENV);
  } catch (error) {
    // No --allow-env for it: NotCapable (PermissionDenied before Deno 2).
    if (
      !(error instanceof Deno.errors.NotCapable ||
        error instanceof Deno.errors.PermissionDenied)
    ) throw error;
    return;
  }
  if (!path) return;
  dumping = true;
  const target = path;
  const timer = setInterval(() => {
    // Outside the try: a bug in aggregating is not a file that cannot be written.
    const text = JSON.stringify(aggregate());
    try {
      Deno.writeTextFileSync(`${target}.tmp`, text);
      Deno.renameSync(`${target}.tmp`, target);
    } catch (error) {
      // Not allowed (NotCapable, PermissionDenied), or the directory went
      // away (NotFound): a test hook stays quiet. Anything else is thrown.
      if (
        !(error instanceof Deno.errors.NotCapable ||
          error instanceof Deno.errors.PermissionDenied ||
          error instanceof Deno.errors.NotFound)
      ) throw error;
    }
  }, DUMP_MS);
  Deno.unrefTimer(timer);
}
