/**
 * Access-log formats compiled once, at start and on every reload, into a
 * list of operations that append one line to a byte buffer — the way
 * nginx's `ngx_http_log_module` compiles a `log_format`. Writing a line
 * then only copies bytes: no template is parsed and no string is built.
 *
 * Formats: `combined` (nginx's and Apache's, byte for byte, for per-request
 * records; connection records as `koan`), `json` (one object a line, every
 * key always present), `koan` (the leveled log's access line) and templates
 * of `$variables` with nginx's names and escaping.
 *
 * @module
 */
import type { AccessRecord } from "./access_record.ts";
import type { LineBuffer } from "./line_buffer.ts";
import type { TimeCache } from "./time_cache.ts";

/** What {@linkcode compileAccessFormat} needs besides the format. */
export interface AccessFormatOptions {
  /** `$worker`: the log tag (`master`, `w3`, `inetd`). @default {"master"} */
  tag?: string;
  /** `$pid`. @default {Deno.pid} */
  pid?: number;
  /** The leveled log's format, which the `koan` line follows. @default {"text"} */
  log?: "text" | "json";
}

/** A compiled access-log format. */
export interface AccessFormat {
  /** Appends `record`'s line, newline included; `time` must be updated for this line. */
  write(out: LineBuffer, record: AccessRecord, time: TimeCache): void;
  /** The request headers it prints (`$http_*`), lowercase with `-`: all a protocol need capture. */
  readonly headers: readonly string[];
}

/** nginx's `combined`, the format most log tools parse. */
export const COMBINED =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/**
 * The `json` format's keys, in order, and the variable each holds. Every
 * key is on every line; a value that does not apply is `null`.
 */
export const JSON_KEYS: readonly (readonly [string, string])[] = [
  ["time", "time_iso8601"],
  ["remote_addr", "remote_addr"],
  ["remote_port", "remote_port"],
  ["worker", "worker"],
  ["pid", "pid"],
  ["protocol", "protocol"],
  ["request", "request"],
  ["status", "status"],
  ["body_bytes_sent", "body_bytes_sent"],
  ["bytes_in", "bytes_in"],
  ["bytes_out", "bytes_out"],
  ["request_time", "request_time"],
  ["requests", "requests"],
  ["outcome", "outcome"],
  ["http_referer", "http_referer"],
  ["http_user_agent", "http_user_agent"],
];

/** Appends a value and returns true, or returns false when there is none. */
type Variable = (
  out: LineBuffer,
  record: AccessRecord,
  time: TimeCache,
  json: boolean,
) => boolean;

type Op = (out: LineBuffer, record: AccessRecord, time: TimeCache) => void;

const encoder = new TextEncoder();
const DASH = 0x2d;
const QUOTE = 0x22;
const NULL = encoder.encode("null");

function str(out: LineBuffer, text: string, json: boolean): void {
  if (json) out.json(text);
  else out.escaped(text);
}

/** A peer split into address and port (`[::1]:80` → `::1`, `80`). */
interface Peer {
  addr: string;
  port: string;
}

/**
 * Peers seen lately: lines of many keep-alive connections interleave, so
 * one peer string is split once, not per line. Emptied when it grows past
 * a few thousand (a new peer costs a split, nothing more).
 */
const peers = new Map<string, Peer>();
const MAX_PEERS = 4096;

function splitPeer(peer: string): Peer {
  const known = peers.get(peer);
  if (known !== undefined) return known;
  let addr = peer;
  let port = "";
  if (peer.startsWith("[")) {
    const end = peer.indexOf("]");
    if (end > 0) {
      addr = peer.slice(1, end);
      if (peer[end + 1] === ":") port = peer.slice(end + 2);
    }
  } else {
    const colon = peer.lastIndexOf(":");
    // host:port; a path (unix peer) or a bare name stays as it is.
    if (
      colon > 0 && peer.indexOf(":") === colon && !peer.includes("/") &&
      /^\d+$/.test(peer.slice(colon + 1))
    ) {
      addr = peer.slice(0, colon);
      port = peer.slice(colon + 1);
    }
  }
  if (peers.size >= MAX_PEERS) peers.clear();
  const split = { addr, port };
  peers.set(peer, split);
  return split;
}

/**
 * The request line, as nginx's `$request`: `$request_method $request_uri
 * $server_protocol` (the version left out when it was not made out).
 */
function request(out: LineBuffer, r: AccessRecord, json: boolean): boolean {
  const method = r.fields?.method;
  if (method === undefined || method === "-") return false;
  str(out, method, json);
  out.byte(0x20);
  str(out, r.fields!.target ?? "-", json);
  if (r.version !== undefined) {
    out.byte(0x20);
    str(out, r.version, json);
  }
  return true;
}

function field(name: string): Variable {
  return (out, r, _t, json) => {
    const value = r.fields?.[name];
    if (value === undefined || value === "-") return false;
    str(out, value, json);
    return true;
  };
}

function header(name: string): Variable {
  return (out, r, _t, json) => {
    const value = r.headers?.get(name);
    if (value === undefined) return false;
    str(out, value, json);
    return true;
  };
}

function variables(tag: string, pid: number): Record<string, Variable> {
  const tagBytes = encoder.encode(tag);
  return {
    remote_addr(out, r, _t, json) {
      if (r.peer === "") return false;
      str(out, splitPeer(r.peer).addr, json);
      return true;
    },
    remote_port(out, r) {
      const port = splitPeer(r.peer).port;
      if (port === "") return false;
      out.text(port);
      return true;
    },
    remote_user: () => false,
    time_local(out, _r, t) {
      out.put(t.local);
      return true;
    },
    time_iso8601(out, _r, t) {
      out.put(t.iso8601);
      return true;
    },
    msec(out, _r, t) {
      out.milli(t.now);
      return true;
    },
    request: (out, r, _t, json) => request(out, r, json),
    request_method: field("method"),
    request_uri: field("target"),
    server_protocol(out, r, _t, json) {
      if (r.version === undefined) return false;
      str(out, r.version, json);
      return true;
    },
    status(out, r) {
      if (r.status === undefined) return false;
      out.uint(r.status);
      return true;
    },
    body_bytes_sent(out, r) {
      out.uint(r.bodyBytes ?? r.bytesOut);
      return true;
    },
    bytes_sent(out, r) {
      out.uint(r.bytesOut);
      return true;
    },
    request_time(out, r) {
      out.milli(Math.max(0, Math.round(r.durationMs)));
      return true;
    },
    protocol(out, r, _t, json) {
      str(out, r.protocol, json);
      return true;
    },
    worker(out) {
      out.put(tagBytes);
      return true;
    },
    pid(out) {
      out.uint(pid);
      return true;
    },
    outcome(out, r, _t, json) {
      str(out, r.outcome, json);
      return true;
    },
    requests(out, r) {
      if (r.requests === undefined) return false;
      out.uint(r.requests);
      return true;
    },
    bytes_in(out, r) {
      out.uint(r.bytesIn);
      return true;
    },
    bytes_out(out, r) {
      out.uint(r.bytesOut);
      return true;
    },
  };
}

/** Variables whose value is a number: unquoted in `json`. */
const NUMERIC = new Set([
  "remote_port",
  "msec",
  "status",
  "body_bytes_sent",
  "bytes_sent",
  "request_time",
  "pid",
  "requests",
  "bytes_in",
  "bytes_out",
]);

/** Every variable {@linkcode compileAccessFormat} knows, `$http_<header>` aside. */
export const KNOWN_VARIABLES: readonly string[] = Object.keys(
  variables("", 0),
);

const NAME = /[A-Za-z0-9_]/;

interface Part {
  literal?: string;
  variable?: string;
}

function parseTemplate(template: string): Part[] {
  if (/[\r\n]/.test(template)) {
    throw new SyntaxError("An access format must be one line");
  }
  const parts: Part[] = [];
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf("$", i);
    if (dollar < 0) {
      parts.push({ literal: template.slice(i) });
      break;
    }
    if (dollar > i) parts.push({ literal: template.slice(i, dollar) });
    let name: string;
    if (template[dollar + 1] === "{") {
      const end = template.indexOf("}", dollar + 2);
      if (end < 0) {
        throw new SyntaxError(`Cannot compile "${template}": "\${" not closed`);
      }
      name = template.slice(dollar + 2, end);
      i = end + 1;
    } else {
      let end = dollar + 1;
      while (end < template.length && NAME.test(template[end]!)) end++;
      name = template.slice(dollar + 1, end);
      i = end;
    }
    if (name === "") {
      throw new SyntaxError(
        `Cannot compile "${template}": a "$" is not followed by a name`,
      );
    }
    parts.push({ variable: name });
  }
  return parts;
}

function lookup(
  name: string,
  known: Record<string, Variable>,
  headers: string[],
): Variable {
  const found = Object.hasOwn(known, name) ? known[name] : undefined;
  if (found) return found;
  if (/^http_[a-z0-9_]+$/.test(name)) {
    const headerName = name.slice(5).replaceAll("_", "-");
    if (!headers.includes(headerName)) headers.push(headerName);
    return header(headerName);
  }
  throw new SyntaxError(`Unknown access-log variable "$${name}"`);
}

function literal(text: string): Op {
  const bytes = encoder.encode(text);
  return (out) => out.put(bytes);
}

/** A variable where a missing value prints `-` (nginx). */
function plainOp(variable: Variable): Op {
  return (out, record, time) => {
    const mark = out.length;
    if (!variable(out, record, time, false)) {
      out.length = mark;
      out.byte(DASH);
    }
  };
}

/** A JSON value: a quoted string or a number, `null` when missing. */
function jsonOp(variable: Variable, numeric: boolean): Op {
  return (out, record, time) => {
    const mark = out.length;
    if (!numeric) out.byte(QUOTE);
    if (variable(out, record, time, true)) {
      if (!numeric) out.byte(QUOTE);
    } else {
      out.length = mark;
      out.put(NULL);
    }
  };
}

function run(ops: readonly Op[]): AccessFormat["write"] {
  return (out, record, time) => {
    for (let i = 0; i < ops.length; i++) ops[i]!(out, record, time);
    out.byte(0x0a);
  };
}

function templateOps(
  template: string,
  known: Record<string, Variable>,
  headers: string[],
): Op[] {
  const ops: Op[] = [];
  let text = "";
  for (const part of parseTemplate(template)) {
    // $remote_user is always "-": text like the template's own.
    const constant = part.variable === "remote_user" ? "-" : part.literal;
    if (constant !== undefined) {
      text += constant;
      continue;
    }
    if (text !== "") ops.push(literal(text));
    text = "";
    ops.push(plainOp(lookup(part.variable!, known, headers)));
  }
  if (text !== "") ops.push(literal(text));
  return ops;
}

function jsonFormatOps(
  known: Record<string, Variable>,
  headers: string[],
): Op[] {
  const ops: Op[] = [];
  JSON_KEYS.forEach(([key, name], index) => {
    ops.push(literal(`${index === 0 ? "{" : ","}${JSON.stringify(key)}:`));
    ops.push(jsonOp(lookup(name, known, headers), NUMERIC.has(name)));
  });
  ops.push(literal("}"));
  return ops;
}

/** Milliseconds as the leveled log wrote them: rounded to a tenth, `15.3`, `0`. */
function tenths(out: LineBuffer, ms: number): void {
  const r = Math.round(ms * 10);
  out.uint(Math.floor(r / 10));
  if (r % 10 !== 0) {
    out.byte(0x2e);
    out.byte(0x30 + (r % 10));
  }
}

/** The request part of a koan line: the fields joined, or `-`. */
function koanRequest(record: AccessRecord): string {
  return record.fields ? Object.values(record.fields).join(" ") : "-";
}

/**
 * The `koan` line: what the leveled log wrote for access records before
 * formats existed, kept byte for byte (`... koan.access: 127.0.0.1:5555
 * zen in=12 out=80 requests=3 ms=0.4 closed normally`).
 */
function koanText(tag: string, pid: number): AccessFormat["write"] {
  const head = encoder.encode(`Z INFO  [${tag} ${pid}] koan.access: `);
  const IN = encoder.encode(" in=");
  const OUT = encoder.encode(" out=");
  const REQUESTS = encoder.encode(" requests=");
  const MS = encoder.encode(" ms=");
  return (out, r, t) => {
    out.put(t.utcSecond);
    out.byte(0x30 + Math.floor(t.ms / 100));
    out.byte(0x30 + (Math.floor(t.ms / 10) % 10));
    out.byte(0x30 + (t.ms % 10));
    out.put(head);
    out.plain(r.peer);
    out.byte(0x20);
    out.plain(r.protocol);
    if (r.status !== undefined) {
      out.byte(0x20);
      const fields = r.fields;
      let first = true;
      for (const key in fields) {
        if (!first) out.byte(0x20);
        out.plain(fields[key]!);
        first = false;
      }
      if (first) out.byte(DASH);
      out.byte(0x20);
      out.uint(r.status);
    }
    out.put(IN);
    out.uint(r.bytesIn);
    out.put(OUT);
    out.uint(r.bytesOut);
    if (r.status === undefined) {
      out.put(REQUESTS);
      out.uint(r.requests ?? 0);
    }
    out.put(MS);
    tenths(out, r.durationMs);
    out.byte(0x20);
    out.plain(r.outcome);
    out.byte(0x0a);
  };
}

/** The `koan` line when the leveled log is JSON: the object it wrote. */
function koanJson(tag: string, pid: number): AccessFormat["write"] {
  return (out, r, t) => {
    const durationMs = Math.round(r.durationMs * 10) / 10;
    const perRequest = r.status !== undefined;
    const message = perRequest
      ? `${r.peer} ${r.protocol} ${
        koanRequest(r)
      } ${r.status} in=${r.bytesIn} out=${r.bytesOut} ms=${durationMs} ${r.outcome}`
      : `${r.peer} ${r.protocol} in=${r.bytesIn} out=${r.bytesOut} requests=${
        r.requests ?? 0
      } ms=${durationMs} ${r.outcome}`;
    const time = new Date(t.now).toISOString();
    const object: Record<string, unknown> = {
      time,
      level: "info",
      worker: tag,
      pid,
      category: "koan.access",
      message,
      protocol: r.protocol,
      peer: r.peer,
      bytesIn: r.bytesIn,
      bytesOut: r.bytesOut,
      durationMs,
      outcome: r.outcome,
    };
    if (perRequest) {
      if (r.requests !== undefined) object.requests = r.requests;
      object.status = r.status;
      if (r.fields !== undefined) object.fields = r.fields;
      object.request = koanRequest(r);
    } else {
      object.requests = r.requests ?? 0;
    }
    out.text(JSON.stringify(object));
    out.byte(0x0a);
  };
}

/**
 * Compiles an access-log format: `combined`, `json`, `koan` or a template
 * of `$variables` (see the README's access-log section for the list).
 *
 * @example Usage
 * ```ts
 * import { compileAccessFormat } from "./access_format.ts";
 * import { LineBuffer } from "./line_buffer.ts";
 * import { TimeCache } from "./time_cache.ts";
 * const format = compileAccessFormat("$remote_addr $status $request_time");
 * const out = new LineBuffer();
 * const time = new TimeCache();
 * time.update();
 * format.write(out, {
 *   protocol: "http", peer: "10.0.0.1:4242", bytesIn: 78, bytesOut: 512,
 *   durationMs: 15.25, outcome: "closed normally", status: 200,
 * }, time);
 * const line = new TextDecoder().decode(out.view());
 * if (line !== "10.0.0.1 200 0.015\n") throw new Error(line);
 * ```
 *
 * @throws {SyntaxError} for an unknown variable or a malformed template.
 */
export function compileAccessFormat(
  format: string,
  options: AccessFormatOptions = {},
): AccessFormat {
  const tag = options.tag ?? "master";
  const pid = options.pid ?? Deno.pid;
  const koan = options.log === "json" ? koanJson(tag, pid) : koanText(tag, pid);
  const known = variables(tag, pid);
  const headers: string[] = [];
  switch (format) {
    case "koan":
      return { write: koan, headers };
    case "combined": {
      const combined = run(templateOps(COMBINED, known, headers));
      return {
        write(out, record, time) {
          if (record.status === undefined) koan(out, record, time);
          else combined(out, record, time);
        },
        headers,
      };
    }
    case "json":
      return { write: run(jsonFormatOps(known, headers)), headers };
    default:
      if (format.trim() === "") {
        throw new SyntaxError("An access format cannot be empty");
      }
      return { write: run(templateOps(format, known, headers)), headers };
  }
}
