/**
 * Every setting koan has, declared once. This one table drives the TOML
 * parser, the command-line flags, `koan check-config` and `koan --help`
 * (gunicorn's config.py habit): adding a setting here is all it takes.
 *
 * Each setting's schema (valibot) is built by a function of the library,
 * called only when a value for it is checked: valibot is imported only
 * when a file or a flag sets something (`load.ts`), and `koan inetd`,
 * which starts once per connection, builds schemas only for the keys it
 * reads. (valibot rather than zod: 15 ms to import and 3 ms to check a
 * whole file, against 40–50 and 15–25; docs/performance.md.)
 *
 * @module
 */
import type * as v from "valibot";
import {
  accessFormatProblem,
  logDestinationProblem,
} from "./access_variables.ts";
import { cidrProblem } from "./cidr.ts";

/** valibot's namespace, given to a setting's schema builder. */
export type Valibot = typeof v;

/** A schema that checks an unknown value and outputs a `T`. */
export type Schema<T> = v.GenericSchema<unknown, T>;

/** One declared setting of type `T`. */
export interface Setting<T = unknown> {
  /** Builds the validator, whose output is the stored value. */
  schema: (v: Valibot) => Schema<T>;
  /** Value used when neither the file nor a flag sets it. */
  default: T;
  /** One line of help for `--help` and the docs. */
  help: string;
  /** Command-line flag that overrides it, if any (without `--`). */
  flag?: string;
  /** Models for which the setting means something; absent = all. */
  models?: readonly ModelName[];
}

/** Extra facts about a setting. */
export interface SettingOptions {
  /** Command-line flag (without `--`). */
  flag?: string;
  /** Models the setting applies to. */
  models?: readonly ModelName[];
}

function setting<T>(
  schema: (v: Valibot) => Schema<T>,
  defaultValue: NoInfer<T>,
  help: string,
  options: SettingOptions = {},
): Setting<T> {
  return { schema, default: defaultValue, help, ...options };
}

/** Concurrency models (DESIGN §5). */
export const MODEL_NAMES = [
  "iterative",
  "async",
  "threads",
  "processes",
  "thread-per-connection",
  "process-per-connection",
] as const;
/** A concurrency model's name. */
export type ModelName = typeof MODEL_NAMES[number];

/** Protocol names accepted in `[[listener]] protocol`. */
export const PROTOCOL_NAMES = ["zen", "http", "echo"] as const;

const YEAR = 86_400 * 365;
const seconds = (v: Valibot) =>
  v.pipe(
    v.number(),
    v.minValue(0, "must be 0 or more seconds"),
    v.maxValue(YEAR, "must be at most a year"),
  );
const positiveSeconds = (v: Valibot) =>
  v.pipe(
    v.number(),
    v.gtValue(0, "must be more than 0 seconds"),
    v.maxValue(YEAR, "must be at most a year"),
  );
const bytes = (min: number) => (v: Valibot) =>
  v.pipe(
    v.number(),
    v.integer("must be a whole number of bytes"),
    v.minValue(min, `must be at least ${min} bytes`),
    v.maxValue(2 ** 40, "must be at most 1 TiB"),
  );
const count = (min: number, max = 1_000_000) => (v: Valibot) =>
  v.pipe(
    v.number(),
    v.integer("must be a whole number"),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );
const enumOf = <T extends readonly string[]>(values: T) => (v: Valibot) =>
  v.picklist(
    values,
    `must be one of ${values.map((value) => `"${value}"`).join(", ")}`,
  );
const text = (v: Valibot) => v.string();

/** A string whose `problem` (if any) is the error. */
const checked =
  (problem: (value: string) => string | undefined) => (v: Valibot) =>
    v.pipe(
      v.string(),
      v.check(
        (value) => problem(value) === undefined,
        (issue) => problem(issue.input) ?? "invalid",
      ),
    );
const destination = checked(logDestinationProblem);
/** An HTTP route path: starts with "/", no space, query or fragment. */
const routePath = checked((value) =>
  /^\/[^\s?#]*$/.test(value)
    ? undefined
    : `must be a path starting with "/" (no space, "?" or "#")`
);

/** Settings of one `[[listener]]` table. */
export const LISTENER = {
  protocol: setting(
    enumOf(PROTOCOL_NAMES),
    "zen",
    "protocol served: zen | http | echo",
  ),
  address: setting(
    (v) => v.pipe(v.string(), v.nonEmpty("must not be empty")),
    "127.0.0.1:1060",
    "host:port, [v6]:port, :port, or unix:/absolute/path",
  ),
  model: setting(
    enumOf(MODEL_NAMES),
    "async",
    `concurrency model: ${MODEL_NAMES.join(" | ")}`,
    { flag: "model" },
  ),
  workers: setting(
    count(0, 1024),
    0,
    "threads or processes for the pooled models; 0 = number of CPUs",
    { flag: "workers", models: ["threads", "processes"] },
  ),
  concurrency: setting(
    count(0),
    0,
    "connections per worker at once; 1 = blocking pool; 0 = unlimited",
    { models: ["threads", "processes"] },
  ),
  tls_cert: setting(
    text,
    "",
    "PEM certificate chain: serve this listener over TLS 1.2/1.3 (with tls_key); re-read on SIGHUP",
  ),
  tls_key: setting(
    text,
    "",
    "PEM private key for tls_cert",
  ),
  tls_alpn: setting(
    (v) => v.boolean(),
    false,
    'offer ALPN "http/1.1" (HTTP listeners with TLS)',
  ),
  socket_mode: setting(
    checked((value) =>
      value === "" || /^0?[0-7]{3}$/.test(value)
        ? undefined
        : 'must be an octal mode such as "0660", or "" for the umask\'s'
    ),
    "",
    'unix: listeners: the socket file\'s mode, such as "0660"; "": as the umask leaves it',
  ),
  proxy_protocol: setting(
    (v) => v.boolean(),
    false,
    "expect a PROXY protocol header (v1 or v2) first on each connection, from trusted_proxies only",
  ),
  trusted_proxies: setting(
    (v) => v.array(checked(cidrProblem)(v)),
    [] as string[],
    "addresses and CIDR blocks whose PROXY headers and X-Forwarded-For / Forwarded are believed",
  ),
} as const;

/** Single settings, by section. */
export const SECTIONS = {
  zen: {
    aphorisms: setting(
      text,
      "",
      "TOML table of aphorisms replacing the built-in one (reloaded on SIGHUP)",
    ),
    max_question: setting(
      bytes(2),
      1024,
      "longest question in bytes; longer gets 'Error: question too long.'",
    ),
    idle_timeout: setting(
      positiveSeconds,
      60,
      "seconds a Zen or echo connection may stay silent",
    ),
    work: setting(
      enumOf(["none", "sleep", "block", "cpu"] as const),
      "none",
      "simulated work per answer: none | sleep | block | cpu",
    ),
    work_ms: setting(
      (v) =>
        v.pipe(
          v.number(),
          v.minValue(0, "must be 0 or more"),
          v.maxValue(60_000, "must be at most 60000 ms"),
        ),
      0,
      "milliseconds of simulated work per answer",
    ),
  },
  http: {
    docroot: setting(
      text,
      "",
      "directory of static files; empty: built-in routes only",
      { flag: "docroot" },
    ),
    max_request_line: setting(
      bytes(64),
      8192,
      "longest request line in bytes (414 past it)",
    ),
    max_header_bytes: setting(
      bytes(256),
      16384,
      "largest header block in bytes (431 past it)",
    ),
    max_headers: setting(
      count(1, 10_000),
      100,
      "most header fields (431 past it)",
    ),
    max_body: setting(
      bytes(0),
      1048576,
      "largest request body in bytes (413 past it)",
    ),
    header_timeout: setting(
      positiveSeconds,
      10,
      "seconds to receive a request's headers (408 past it)",
    ),
    keepalive_timeout: setting(
      positiveSeconds,
      15,
      "seconds an idle keep-alive connection stays open",
    ),
    admin: setting(
      enumOf(["loopback", "on", "off"] as const),
      "loopback",
      "who gets /metrics, /status and /status.json: loopback peers only | anyone | nobody (404)",
    ),
    request_rate: setting(
      (v) =>
        v.pipe(
          v.number(),
          v.minValue(0, "must be 0 or more requests a second"),
          v.maxValue(1_000_000, "must be at most 1000000"),
        ),
      0,
      "requests a second per client address (a token bucket, as nginx's limit_req); past it 429 with Retry-After; 0 = off",
    ),
    request_burst: setting(
      count(0),
      0,
      "requests a client may make at once above request_rate",
    ),
    server_tokens: setting(
      (v) => v.boolean(),
      false,
      "name koan's version in the Server header (nginx's server_tokens); off: plain `koan`",
    ),
    health_path: setting(
      routePath,
      "/healthz",
      "liveness probe: 200 while the process serves, draining included; for any peer",
    ),
    ready_path: setting(
      routePath,
      "/readyz",
      "readiness probe: 200, or 503 from SIGTERM on (drain_delay included), while a reload moves a listener and while a pooled listener has no worker ready; for any peer",
    ),
  },
  limits: {
    max_connections: setting(
      count(1, 10_000_000),
      10000,
      "open connections per listener; excess is answered busy and closed",
    ),
    max_per_source: setting(
      count(0, 10_000_000),
      0,
      "open connections per client address per listener; 0 = off",
    ),
    rate_per_source: setting(
      (v) =>
        v.pipe(
          v.number(),
          v.minValue(0, "must be 0 or more connections a second"),
          v.maxValue(1_000_000, "must be at most 1000000"),
        ),
      0,
      "new connections a second per client address per listener (xinetd's cps); past it refused; 0 = off",
    ),
    rate_burst: setting(
      count(0),
      0,
      "new connections a client may open at once above rate_per_source",
    ),
    shutdown_timeout: setting(
      seconds,
      30,
      "seconds to drain on SIGTERM before forcing",
    ),
    drain_delay: setting(
      seconds,
      0,
      "on SIGTERM, seconds to keep accepting with /readyz at 503 before the drain (ends early after drain_probes probes); a reload moving a listener keeps the old one as long; 0 = drain at once",
    ),
    drain_probes: setting(
      count(1, 1000),
      2,
      "/readyz probes answered 503 that end the drain_delay wait early",
    ),
    worker_timeout: setting(
      positiveSeconds,
      30,
      "seconds a silent worker may go before it is replaced",
      { models: ["threads", "processes"] },
    ),
    max_requests: setting(
      count(0, 2 ** 31),
      0,
      "recycle a worker after this many connections; 0 = never",
      { models: ["threads", "processes"] },
    ),
    serial_idle: setting(
      seconds,
      1,
      "seconds an idle connection may hold a worker that serves one connection at a time (iterative, concurrency = 1); 0: close once idle after an answer",
      { models: ["iterative", "threads", "processes"] },
    ),
    send_timeout: setting(
      positiveSeconds,
      30,
      "seconds a client that stops reading may stall a write",
    ),
    idle_exit: setting(
      positiveSeconds,
      60,
      "`koan inetd --wait`: exit after this long without clients",
    ),
  },
  log: {
    level: setting(
      enumOf(["debug", "info", "warning", "error"] as const),
      "info",
      "debug | info | warning | error",
      { flag: "log-level" },
    ),
    format: setting(
      enumOf(["text", "json"] as const),
      "text",
      "text | json (one JSON object a line)",
      { flag: "log-format" },
    ),
    file: setting(
      destination,
      "",
      'log file, reopened on SIGUSR2 (koan reopen); empty: stderr; "syslog" (/dev/log) or "syslog:/path/to/socket"',
    ),
    access: setting(
      (v) => v.boolean(),
      true,
      "one access-log line per connection (Zen, echo) or request (HTTP)",
    ),
    access_format: setting(
      checked(accessFormatProblem),
      "combined",
      'access lines: "combined" (HTTP; Zen/echo as "koan") | "json" | "koan" | a template with $variables (nginx names)',
    ),
    access_file: setting(
      destination,
      "",
      "access log destination; empty: where `file` goes; same forms as `file`",
    ),
  },
  daemon: {
    pid_file: setting(
      text,
      "",
      "write the master's pid here; removed on exit",
      { flag: "pid-file" },
    ),
  },
} as const;

type ValuesOf<S> = {
  -readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

/** One listener, validated. */
export type ListenerConfig = ValuesOf<typeof LISTENER>;
/** Name of a section of single settings. */
export type SectionName = keyof typeof SECTIONS;
/** The whole effective configuration. */
export type Config =
  & { listener: ListenerConfig[] }
  & { -readonly [S in SectionName]: ValuesOf<typeof SECTIONS[S]> };
