import assert from "node:assert/strict";
import {
  ACCESS_VARIABLES,
  accessFormatProblem,
  accessHeaderNamesOf,
} from "../config/access_variables.ts";
import {
  type AccessFormat,
  type AccessFormatOptions,
  compileAccessFormat,
  JSON_KEYS,
  KNOWN_VARIABLES,
} from "./access_format.ts";
import type { AccessHeaders, AccessRecord } from "./access_record.ts";
import { LineBuffer } from "./line_buffer.ts";
import { TimeCache } from "./time_cache.ts";

/** 2026-12-02 06:27:47.250 UTC, the second of the nginx lines below. */
const NOW = Date.UTC(2026, 11, 2, 6, 27, 47, 250);

function headers(values: Record<string, string>): AccessHeaders {
  return { get: (name) => values[name] };
}

/** Runs `body` with the process in time zone `tz` (V8 follows TZ changes). */
function inZone(tz: string, body: () => void): void {
  const before = Deno.env.get("TZ");
  Deno.env.set("TZ", tz);
  try {
    body();
  } finally {
    if (before === undefined) Deno.env.delete("TZ");
    else Deno.env.set("TZ", before);
  }
}

function line(
  format: string | AccessFormat,
  record: AccessRecord,
  options: AccessFormatOptions & { now?: number } = {},
): string {
  const compiled = typeof format === "string"
    ? compileAccessFormat(format, { pid: 4321, ...options })
    : format;
  const time = new TimeCache(() => options.now ?? NOW);
  time.update();
  const out = new LineBuffer(16);
  compiled.write(out, record, time);
  return new TextDecoder().decode(out.view());
}

const GET: AccessRecord = {
  protocol: "http",
  peer: "127.0.0.1:40000",
  bytesIn: 176,
  bytesOut: 154,
  durationMs: 1.6,
  outcome: "closed normally",
  status: 200,
  fields: { method: "GET", target: "/a?b=c" },
  version: "HTTP/1.1",
  bodyBytes: 13,
  // Latin-1 decoded, as the HTTP parser hands header bytes over.
  headers: headers({
    "referer": 'http://example.com/p?q="1"',
    "user-agent": 'Mozilla/5.0 "quoted" back\\slash\ttab \xe9t\xc3\xa9 end',
  }),
};

const ZEN: AccessRecord = {
  protocol: "zen",
  peer: "[::1]:5151",
  bytesIn: 12,
  bytesOut: 80,
  durationMs: 0.04,
  outcome: "idle timeout",
  requests: 3,
};

Deno.test("compileAccessFormat() combined writes nginx's own lines byte for byte", () => {
  // Written by nginx 1.22 (`access_log ... combined`) for the same three
  // requests, sent with nc; `cat -A` confirmed the bytes.
  const nginx = [
    '127.0.0.1 - - [02/Dec/2026:06:27:47 +0000] "GET /a?b=c HTTP/1.1" 200 13 "http://example.com/p?q=\\x221\\x22" "Mozilla/5.0 \\x22quoted\\x22 back\\x5Cslash\\x09tab \\xE9t\\xC3\\xA9 end"\n',
    '127.0.0.1 - - [02/Dec/2026:06:27:47 +0000] "GET / HTTP/1.0" 200 13 "-" "-"\n',
    '127.0.0.1 - - [02/Dec/2026:06:27:47 +0000] "HEAD /x HTTP/1.1" 200 0 "" "-"\n',
  ];
  inZone("UTC", () => {
    const combined = compileAccessFormat("combined");
    assert.equal(line(combined, GET), nginx[0]);
    assert.equal(
      line(combined, {
        ...GET,
        fields: { method: "GET", target: "/" },
        version: "HTTP/1.0",
        headers: undefined,
      }),
      nginx[1],
    );
    assert.equal(
      line(combined, {
        ...GET,
        fields: { method: "HEAD", target: "/x" },
        bodyBytes: 0,
        headers: headers({ referer: "" }),
      }),
      nginx[2],
    );
  });
});

Deno.test("compileAccessFormat() combined writes connection records as koan lines", () => {
  inZone("UTC", () => {
    assert.equal(
      line("combined", ZEN, { tag: "w2" }),
      "2026-12-02T06:27:47.250Z INFO  [w2 4321] koan.access: [::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout\n",
    );
  });
});

Deno.test("compileAccessFormat() combined logs a request it could not make out as nginx does", () => {
  inZone("UTC", () => {
    const timeout: AccessRecord = {
      ...GET,
      fields: { method: "-", target: "-" },
      version: undefined,
      status: 408,
      bodyBytes: 40,
      headers: undefined,
    };
    assert.match(line("combined", timeout), /\] "-" 408 40 "-" "-"\n$/);
    const refused = { ...timeout, fields: { method: "FOO", target: "/" } };
    assert.match(line("combined", refused), /\] "FOO \/" 408 40 "-" "-"\n$/);
    const { fields: _, ...bare } = timeout;
    assert.match(line("combined", bare), /\] "-" 408/);
  });
});

Deno.test("compileAccessFormat() koan keeps the leveled log's access lines", () => {
  // The exact lines LogTape wrote before access formats existed.
  const http = { ...GET, peer: "10.0.0.1:4242", durationMs: 15.25 };
  const koan = compileAccessFormat("koan", { pid: 4321 });
  const text = (record: AccessRecord) => line(koan, record).slice(25, -1);
  assert.equal(
    text(http),
    "INFO  [master 4321] koan.access: 10.0.0.1:4242 http GET /a?b=c 200 in=176 out=154 ms=15.3 closed normally",
  );
  const { fields: _, ...bare } = http;
  assert.equal(
    text({ ...bare, status: 503, outcome: "server busy" }),
    "INFO  [master 4321] koan.access: 10.0.0.1:4242 http - 503 in=176 out=154 ms=15.3 server busy",
  );
  assert.equal(
    text(ZEN),
    "INFO  [master 4321] koan.access: [::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout",
  );
  const { requests: __, ...none } = ZEN;
  assert.equal(
    text({ ...none, durationMs: 1234.56, outcome: "closed normally" }),
    "INFO  [master 4321] koan.access: [::1]:5151 zen in=12 out=80 requests=0 ms=1234.6 closed normally",
  );
  assert.equal(line(koan, ZEN).slice(0, 25), "2026-12-02T06:27:47.250Z ");
  // A line break in a value cannot split the line.
  assert.match(
    line(koan, { ...ZEN, outcome: "error: a\nb" }),
    /error: a\\x0Ab\n$/,
  );
});

Deno.test("compileAccessFormat() koan follows log.format json with the leveled log's object", () => {
  const koan = compileAccessFormat("koan", {
    pid: 4321,
    tag: "w2",
    log: "json",
  });
  const base = { level: "info", worker: "w2", pid: 4321 };
  const parse = (record: AccessRecord) => {
    const text = line(koan, record);
    assert.ok(text.endsWith("}\n"));
    const { time, ...rest } = JSON.parse(text);
    assert.equal(time, "2026-12-02T06:27:47.250Z");
    return rest;
  };
  const http = { ...GET, peer: "10.0.0.1:4242", durationMs: 15.25 };
  assert.deepEqual(parse(http), {
    ...base,
    category: "koan.access",
    message:
      "10.0.0.1:4242 http GET /a?b=c 200 in=176 out=154 ms=15.3 closed normally",
    protocol: "http",
    peer: "10.0.0.1:4242",
    bytesIn: 176,
    bytesOut: 154,
    durationMs: 15.3,
    outcome: "closed normally",
    status: 200,
    fields: { method: "GET", target: "/a?b=c" },
    request: "GET /a?b=c",
  });
  assert.deepEqual(parse(ZEN), {
    ...base,
    category: "koan.access",
    message: "[::1]:5151 zen in=12 out=80 requests=3 ms=0 idle timeout",
    protocol: "zen",
    peer: "[::1]:5151",
    bytesIn: 12,
    bytesOut: 80,
    durationMs: 0,
    outcome: "idle timeout",
    requests: 3,
  });
});

Deno.test("compileAccessFormat() json writes every key on every line, null where nothing applies", () => {
  inZone("UTC", () => {
    const json = compileAccessFormat("json", { tag: "w1", pid: 4321 });
    const http = JSON.parse(line(json, GET));
    assert.deepEqual(Object.keys(http), JSON_KEYS.map(([key]) => key));
    assert.deepEqual(http, {
      time: "2026-12-02T06:27:47+00:00",
      remote_addr: "127.0.0.1",
      remote_port: 40000,
      worker: "w1",
      pid: 4321,
      protocol: "http",
      request: "GET /a?b=c HTTP/1.1",
      status: 200,
      body_bytes_sent: 13,
      bytes_in: 176,
      bytes_out: 154,
      request_time: 0.002,
      requests: null,
      outcome: "closed normally",
      http_referer: 'http://example.com/p?q="1"',
      // Bytes above 0x7f stay one character each (\u00XX): valid JSON.
      http_user_agent:
        'Mozilla/5.0 "quoted" back\\slash\ttab \xe9t\xc3\xa9 end',
    });
    const zen = JSON.parse(line(json, ZEN));
    assert.deepEqual(Object.keys(zen), JSON_KEYS.map(([key]) => key));
    assert.deepEqual(zen, {
      time: "2026-12-02T06:27:47+00:00",
      remote_addr: "::1",
      remote_port: 5151,
      worker: "w1",
      pid: 4321,
      protocol: "zen",
      request: null,
      status: null,
      body_bytes_sent: 80,
      bytes_in: 12,
      bytes_out: 80,
      request_time: 0,
      requests: 3,
      outcome: "idle timeout",
      http_referer: null,
      http_user_agent: null,
    });
    const odd = line(json, { ...ZEN, outcome: "error: \u0001 \u20ac" });
    assert.match(odd, /"outcome":"error: \\u0001 \u20ac"/);
    assert.equal(JSON.parse(odd).outcome, "error: \u0001 \u20ac");
  });
});

Deno.test("compileAccessFormat() templates know every variable", () => {
  inZone("Asia/Kolkata", () => {
    const all = ACCESS_VARIABLES.map((name) => `${name}=$${name}`).join(" ");
    assert.equal(
      line(all, GET, { tag: "w3" }),
      [
        "remote_addr=127.0.0.1",
        "remote_port=40000",
        "remote_user=-",
        "time_local=02/Dec/2026:11:57:47 +0530",
        "time_iso8601=2026-12-02T11:57:47+05:30",
        "msec=1796192867.250",
        "request=GET /a?b=c HTTP/1.1",
        "request_method=GET",
        "request_uri=/a?b=c",
        "server_protocol=HTTP/1.1",
        "status=200",
        "body_bytes_sent=13",
        "bytes_sent=154",
        "request_time=0.002",
        "protocol=http",
        "worker=w3",
        "pid=4321",
        "outcome=closed normally",
        "requests=-",
        "bytes_in=176",
        "bytes_out=154",
      ].join(" ") + "\n",
    );
    assert.equal(
      line(all, { ...ZEN, durationMs: 1234.5678 }, { tag: "w3" }),
      [
        "remote_addr=::1",
        "remote_port=5151",
        "remote_user=-",
        "time_local=02/Dec/2026:11:57:47 +0530",
        "time_iso8601=2026-12-02T11:57:47+05:30",
        "msec=1796192867.250",
        "request=-",
        "request_method=-",
        "request_uri=-",
        "server_protocol=-",
        "status=-",
        "body_bytes_sent=80",
        "bytes_sent=80",
        "request_time=1.235",
        "protocol=zen",
        "worker=w3",
        "pid=4321",
        "outcome=idle timeout",
        "requests=3",
        "bytes_in=12",
        "bytes_out=80",
      ].join(" ") + "\n",
    );
  });
});

Deno.test("compileAccessFormat() reads any $http_<header>, - when it was not sent", () => {
  const record = {
    ...GET,
    headers: headers({ "x-request-id": "abc-1", "x-empty": "" }),
  };
  assert.equal(
    line("[$http_x_request_id] [${http_x_empty}] [$http_x_none]", record),
    "[abc-1] [] [-]\n",
  );
  assert.equal(
    line("$http_x_request_id", { ...GET, headers: undefined }),
    "-\n",
  );
});

Deno.test("compileAccessFormat() escapes values as nginx does and leaves the template's text alone", () => {
  const record = { ...ZEN, outcome: 'a"b\\c\u0000d\x7fe\xe9f\u20acg' };
  assert.equal(
    line('"$outcome" é', record),
    '"a\\x22b\\x5Cc\\x00d\\x7Fe\\xE9f\\xE2\\x82\\xACg" é\n',
  );
});

Deno.test("compileAccessFormat() takes a peer's address as nginx's $remote_addr", () => {
  const addr = (peer: string) =>
    line("$remote_addr|$remote_port", { ...ZEN, peer });
  assert.equal(addr("10.1.2.3:80"), "10.1.2.3|80\n");
  assert.equal(addr("[2001:db8::1]:443"), "2001:db8::1|443\n");
  assert.equal(addr("/run/koan/http.sock"), "/run/koan/http.sock|-\n");
  assert.equal(addr("stdin"), "stdin|-\n");
  assert.equal(addr("host.example"), "host.example|-\n");
  assert.equal(addr(""), "-|-\n");
});

Deno.test("compileAccessFormat() separates a variable from text with ${}", () => {
  assert.equal(line("${status}xyz $status.", GET), "200xyz 200.\n");
});

Deno.test("compileAccessFormat() refuses what log.access_format refuses", () => {
  for (const bad of ["$nope", "a $", "${status", "x\ny", "   ", "$HTTP_HOST"]) {
    assert.throws(() => compileAccessFormat(bad), SyntaxError, bad);
    assert.ok(accessFormatProblem(bad), `config accepts "${bad}"`);
  }
});

Deno.test("compileAccessFormat() knows exactly the variables the config accepts", () => {
  assert.deepEqual([...KNOWN_VARIABLES].sort(), [...ACCESS_VARIABLES].sort());
  for (const name of ACCESS_VARIABLES) compileAccessFormat(`$${name}`);
});

Deno.test("compileAccessFormat() asks for the headers the config says HTTP should capture", () => {
  for (
    const format of [
      "combined",
      "json",
      "koan",
      "$status",
      "$http_x_a ${http_user_agent} $http_x_a $http_host",
    ]
  ) {
    assert.deepEqual(
      [...compileAccessFormat(format).headers],
      accessHeaderNamesOf(format),
      format,
    );
  }
});
