/**
 * The metric series koan exports, with their help text: one table for the
 * Prometheus renderer, the status page and systemd STATUS= lines.
 *
 * @module
 */

/** Metric name → [type, help]. */
export const METRICS = {
  koan_connections_open: ["gauge", "Connections open now"],
  koan_connections_total: ["counter", "Connections accepted and admitted"],
  koan_connections_refused_total: [
    "counter",
    "Connections refused by max_connections, max_per_source or rate_per_source",
  ],
  koan_requests_limited_total: [
    "counter",
    "HTTP requests answered 429 and Zen questions answered slow down (request_rate)",
  ],
  koan_rate_limit_sources: [
    "gauge",
    "Client addresses with rate-limit state, by limit (at most 65536 per listener and limit)",
  ],
  koan_proxy_refused_total: [
    "counter",
    "Connections closed before admission: a peer not in trusted_proxies where a PROXY header is expected, or a malformed, late or cut-short header",
  ],
  koan_requests_total: [
    "counter",
    'HTTP requests by status, Zen answers (status="answered")',
  ],
  koan_connections_closed_total: [
    "counter",
    "Zen and echo connections closed, by outcome",
  ],
  koan_received_bytes_total: ["counter", "Bytes received from clients"],
  koan_sent_bytes_total: ["counter", "Bytes sent to clients"],
  koan_request_duration_seconds: [
    "histogram",
    "HTTP request and Zen/echo connection durations",
  ],
  koan_workers: ["gauge", "Workers alive"],
  koan_worker_restarts_total: ["counter", "Workers restarted after an exit"],
  koan_lost_connections_total: [
    "counter",
    "Connections lost by event (stop, reload, recycle, crash, refusal) and reason: refused, or cut with work in flight",
  ],
  koan_reloads_total: ["counter", "Configuration reloads (SIGHUP), by result"],
  koan_access_log_lost_lines_total: [
    "counter",
    "Access log lines dropped because writing them failed",
  ],
  koan_access_log_write_errors_total: [
    "counter",
    "Access log writes, syslog sends and reopens that failed",
  ],
} as const;

/** A metric name koan exports. */
export type MetricName = keyof typeof METRICS;
