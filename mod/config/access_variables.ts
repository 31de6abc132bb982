/**
 * The access-log format language as the configuration sees it: the preset
 * names and the `$variables` a `log.access_format` template may use (nginx
 * names). The log layer compiles formats (`mod/log/access_format.ts`) and
 * its tests hold it to this list; it lives here so that loading a config
 * refuses an unknown variable with the key's name, before anything starts.
 *
 * @module
 */

/** Formats known by name; anything else is a template. */
export const ACCESS_PRESETS = ["combined", "json", "koan"] as const;

/** Variables a template may use, besides `$http_<header>`. */
export const ACCESS_VARIABLES = [
  "remote_addr",
  "remote_port",
  "remote_user",
  "time_local",
  "time_iso8601",
  "msec",
  "request",
  "request_method",
  "request_uri",
  "server_protocol",
  "status",
  "body_bytes_sent",
  "bytes_sent",
  "request_time",
  "protocol",
  "worker",
  "pid",
  "outcome",
  "requests",
  "bytes_in",
  "bytes_out",
] as const;

/** `$http_<header>`: a request header, lowercase, `_` for `-`. */
export const HEADER_VARIABLE = /^http_[a-z0-9_]+$/;

const NAME = /[A-Za-z0-9_]/;

/**
 * The variable names in a template, in order, or a problem with it: a `$`
 * with no name, an unclosed `${`, a line break.
 *
 * @example Usage
 * ```ts
 * import { templateVariables } from "./access_variables.ts";
 * const names = templateVariables('$remote_addr "${request}"');
 * if (!Array.isArray(names) || names[1] !== "request") throw new Error();
 * ```
 */
export function templateVariables(template: string): string[] | string {
  if (/[\r\n]/.test(template)) return "must be one line";
  const names: string[] = [];
  for (let i = template.indexOf("$"); i >= 0; i = template.indexOf("$", i)) {
    let name: string;
    if (template[i + 1] === "{") {
      const end = template.indexOf("}", i + 2);
      if (end < 0) return 'a "${" has no closing "}"';
      name = template.slice(i + 2, end);
      i = end + 1;
    } else {
      let end = i + 1;
      while (end < template.length && NAME.test(template[end]!)) end++;
      name = template.slice(i + 1, end);
      i = end;
    }
    if (name === "") return 'a "$" is not followed by a variable name';
    names.push(name);
  }
  return names;
}

/**
 * Why `format` is not a valid `log.access_format`, or undefined when it is.
 *
 * @example Usage
 * ```ts
 * import { accessFormatProblem } from "./access_variables.ts";
 * if (accessFormatProblem("combined") !== undefined) throw new Error();
 * if (!accessFormatProblem("$nope")?.includes("$nope")) throw new Error();
 * ```
 */
export function accessFormatProblem(format: string): string | undefined {
  if ((ACCESS_PRESETS as readonly string[]).includes(format)) return undefined;
  if (format.trim() === "") {
    return `must be ${
      ACCESS_PRESETS.map((p) => `"${p}"`).join(", ")
    } or a template with $variables`;
  }
  const names = templateVariables(format);
  if (typeof names === "string") return names;
  for (const name of names) {
    if (
      !(ACCESS_VARIABLES as readonly string[]).includes(name) &&
      !HEADER_VARIABLE.test(name)
    ) {
      return `unknown variable "$${name}" (known: ${
        ACCESS_VARIABLES.map((v) => `$${v}`).join(" ")
      } $http_<header>)`;
    }
  }
  return undefined;
}

/** Why `spec` is not a valid `log.file` / `log.access_file`, or undefined. */
export function logDestinationProblem(spec: string): string | undefined {
  if (spec === "syslog:" || spec === "syslog:/") {
    return 'needs a socket path after "syslog:" (or "syslog" for /dev/log)';
  }
  if (spec.startsWith("syslog:") && !spec.startsWith("syslog:/")) {
    return 'wants an absolute socket path after "syslog:"';
  }
  return undefined;
}

/** The headers `combined` and `json` print. */
const PRESET_HEADERS = ["referer", "user-agent"] as const;

/**
 * The request headers a valid format prints (`$http_*`), lowercase with
 * `-`, in order of first use: what HTTP captures for the access log, and
 * nothing more.
 *
 * @example Usage
 * ```ts
 * import { accessHeaderNamesOf } from "./access_variables.ts";
 * const names = accessHeaderNamesOf("$status $http_x_request_id");
 * if (names.join() !== "x-request-id") throw new Error(names.join());
 * ```
 */
export function accessHeaderNamesOf(format: string): string[] {
  if (format === "combined" || format === "json") return [...PRESET_HEADERS];
  if (format === "koan") return [];
  const names = templateVariables(format);
  if (typeof names === "string") return [];
  const headers: string[] = [];
  for (const name of names) {
    if (!HEADER_VARIABLE.test(name)) continue;
    const header = name.slice("http_".length).replaceAll("_", "-");
    if (!headers.includes(header)) headers.push(header);
  }
  return headers;
}
