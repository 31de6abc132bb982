/**
 * Prometheus text exposition (format 0.0.4) of a metrics snapshot.
 *
 * @module
 */
import { METRICS } from "./names.ts";
import { LATENCY_BUCKETS, type MetricsSnapshot } from "./registry.ts";

function nameOf(key: string): string {
  const brace = key.indexOf("{");
  return brace < 0 ? key : key.slice(0, brace);
}

function withLabel(key: string, label: string): string {
  const brace = key.indexOf("{");
  return brace < 0
    ? `${key}{${label}}`
    : `${key.slice(0, brace)}{${key.slice(brace + 1, -1)},${label}}`;
}

function suffixed(key: string, suffix: string): string {
  const brace = key.indexOf("{");
  return brace < 0
    ? key + suffix
    : key.slice(0, brace) + suffix + key.slice(brace);
}

function number(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : "-Inf";
}

/**
 * Renders a snapshot as Prometheus text.
 *
 * @example Usage
 * ```ts
 * import { Metrics } from "./registry.ts";
 * import { renderPrometheus } from "./prometheus.ts";
 * const m = new Metrics();
 * m.inc('koan_connections_total{protocol="zen"}');
 * if (!renderPrometheus(m.snapshot()).includes("# TYPE koan_connections_total counter")) {
 *   throw new Error("missing TYPE");
 * }
 * ```
 */
export function renderPrometheus(snapshot: MetricsSnapshot): string {
  const groups = new Map<string, string[]>();
  const push = (name: string, line: string) => {
    const lines = groups.get(name) ?? [];
    lines.push(line);
    groups.set(name, lines);
  };
  for (const [key, value] of Object.entries(snapshot.counters)) {
    push(nameOf(key), `${key} ${number(value)}`);
  }
  for (const [key, value] of Object.entries(snapshot.gauges)) {
    push(nameOf(key), `${key} ${number(value)}`);
  }
  for (const [key, state] of Object.entries(snapshot.histograms)) {
    const name = nameOf(key);
    const bucketKey = suffixed(key, "_bucket");
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((bound, i) => {
      cumulative += state.counts[i] ?? 0;
      push(name, `${withLabel(bucketKey, `le="${bound}"`)} ${cumulative}`);
    });
    cumulative += state.counts[LATENCY_BUCKETS.length] ?? 0;
    push(name, `${withLabel(bucketKey, 'le="+Inf"')} ${cumulative}`);
    push(name, `${suffixed(key, "_sum")} ${number(state.sum)}`);
    push(name, `${suffixed(key, "_count")} ${state.count}`);
  }
  let text = "";
  for (const name of [...groups.keys()].sort()) {
    const [type, help] =
      (METRICS as Record<string, readonly [string, string]>)[name] ??
        ["untyped", name];
    text += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
    text += groups.get(name)!.join("\n") + "\n";
  }
  return text;
}
