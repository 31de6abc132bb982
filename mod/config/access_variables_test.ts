import assert from "node:assert/strict";
import {
  accessFormatProblem,
  accessHeaderNamesOf,
  logDestinationProblem,
  templateVariables,
} from "./access_variables.ts";
import { ConfigError } from "./load.ts";
import { configOf } from "./_testing.ts";

Deno.test("accessFormatProblem() accepts the presets and templates of known variables", () => {
  for (
    const format of [
      "combined",
      "json",
      "koan",
      '$remote_addr - $remote_user [$time_local] "$request" $status',
      "${status}ms $http_x_forwarded_for $request_time",
      "no variables at all",
    ]
  ) {
    assert.equal(accessFormatProblem(format), undefined, format);
  }
});

Deno.test("accessFormatProblem() names what is wrong", () => {
  assert.match(
    accessFormatProblem("$status $nope")!,
    /unknown variable "\$nope"/,
  );
  assert.match(accessFormatProblem("$Status")!, /unknown variable "\$Status"/);
  assert.match(accessFormatProblem("cost $")!, /"\$" is not followed/);
  assert.match(accessFormatProblem("${status")!, /no closing/);
  assert.match(accessFormatProblem("a\nb")!, /one line/);
  assert.match(accessFormatProblem("")!, /"combined", "json", "koan"/);
});

Deno.test("templateVariables() reads $name and ${name}", () => {
  assert.deepEqual(templateVariables("$a-${b}c$d_e."), ["a", "b", "d_e"]);
});

Deno.test("accessHeaderNamesOf() lists the headers a format prints", () => {
  assert.deepEqual(accessHeaderNamesOf("combined"), ["referer", "user-agent"]);
  assert.deepEqual(accessHeaderNamesOf("json"), ["referer", "user-agent"]);
  assert.deepEqual(accessHeaderNamesOf("koan"), []);
  assert.deepEqual(
    accessHeaderNamesOf("$http_x_id ${http_host} $http_x_id $status"),
    ["x-id", "host"],
  );
});

Deno.test("logDestinationProblem() wants a path after syslog:", () => {
  assert.equal(logDestinationProblem(""), undefined);
  assert.equal(logDestinationProblem("syslog"), undefined);
  assert.equal(logDestinationProblem("syslog:/dev/log"), undefined);
  assert.equal(logDestinationProblem("/var/log/koan.log"), undefined);
  assert.ok(logDestinationProblem("syslog:"));
  assert.ok(logDestinationProblem("syslog:dev/log"));
});

Deno.test("buildConfig() refuses a bad access format or destination naming the key", () => {
  assert.throws(
    () => configOf({ log: { access_format: "$remote_addr $bogus" } }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /^log\.access_format: unknown variable "\$bogus"/.test(error.message),
  );
  assert.throws(
    () => configOf({ log: { access_file: "syslog:" } }),
    /^ConfigError: log\.access_file: needs a socket path/,
  );
  assert.throws(
    () => configOf({ log: { file: "syslog:relative" } }),
    /^ConfigError: log\.file: wants an absolute socket path/,
  );
  const { config } = configOf({
    log: {
      access_format: "json",
      access_file: "syslog",
      file: "syslog:/run/log",
    },
  });
  assert.equal(config.log.access_format, "json");
  assert.equal(configOf({}).config.log.access_format, "combined");
  assert.equal(configOf({}).config.log.access_file, "");
});
