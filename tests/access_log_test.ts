/**
 * The access log end to end: the real daemon writing `log.access_file` in
 * each format (combined for HTTP and the koan line for Zen by default,
 * json, a template, syslog), a SIGHUP switching the format, nothing lost
 * on SIGTERM after a burst under every kind of model, and check-config
 * refusing an unknown variable.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  ask,
  eventually,
  freePort,
  runCli,
  startDaemon,
  type TestDaemon,
  writeConfig,
} from "./_helpers.ts";

interface Served {
  daemon: TestDaemon;
  http: number;
  zen: number;
  dir: string;
  access: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * koan with an HTTP and a Zen listener (`model` for both), access lines to
 * a file of their own.
 */
async function serve(log: string, model = "async"): Promise<Served> {
  const dir = await Deno.makeTempDir({ prefix: "koan-access-" });
  const access = `${dir}/access.log`;
  const http = freePort();
  const zen = freePort();
  const listener = (protocol: string, port: number) =>
    `[[listener]]\nprotocol = "${protocol}"\naddress = "127.0.0.1:${port}"\nmodel = "${model}"\n` +
    (model === "threads" || model === "processes" ? "workers = 2\n" : "");
  const daemon = await startDaemon([], {
    ports: [http, zen],
    config: listener("http", http) + listener("zen", zen) +
      `[log]\naccess_file = "${access}"\n${log}`,
  });
  return {
    daemon,
    http,
    zen,
    dir,
    access,
    async [Symbol.asyncDispose]() {
      await daemon.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function lines(path: string): string[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return text === "" ? [] : text.slice(0, -1).split("\n");
}

/** Waits until the file has `count` lines; returns them. */
async function waitLines(path: string, count: number): Promise<string[]> {
  await eventually(
    () => lines(path).length >= count,
    `${count} lines in ${path}`,
  );
  return lines(path);
}

async function get(port: number, path: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { "user-agent": 'koan-test/1 "q"', referer: "http://ref/" },
  });
  await response.body?.cancel();
  return response.status;
}

const COMBINED =
  /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/healthz\?x=1 HTTP\/1\.1" 200 2 "http:\/\/ref\/" "koan-test\/1 \\x22q\\x22"$/;

Deno.test("access log: HTTP as combined and Zen as the koan line, in access_file only", async () => {
  await using s = await serve("");
  assert.equal(await get(s.http, "/healthz?x=1"), 200);
  assert.deepEqual(await ask(s.zen, ["Beautiful is better than?"]), ["ugly."]);
  const [http, zen] = await waitLines(s.access, 2);
  assert.match(http!, COMBINED);
  assert.match(
    zen!,
    /^\S+Z INFO {2}\[master \d+\] koan\.access: 127\.0\.0\.1:\d+ zen in=25 out=5 requests=1 ms=[\d.]+ closed normally$/,
  );
  assert.doesNotMatch(s.daemon.log, /koan\.access|GET \/healthz/);
  assert.match(s.daemon.log, /listening on/, "the leveled log stays on stderr");
});

Deno.test("access log: json, one object a line with every key", async () => {
  await using s = await serve('access_format = "json"\n');
  assert.equal(await get(s.http, "/nope"), 404);
  assert.deepEqual(await ask(s.zen, ["Flat is better than?"]), ["nested."]);
  const [http, zen] = (await waitLines(s.access, 2)).map((l) => JSON.parse(l));
  assert.deepEqual(Object.keys(http), Object.keys(zen));
  assert.equal(http.request, "GET /nope HTTP/1.1");
  assert.equal(http.status, 404);
  assert.equal(http.remote_addr, "127.0.0.1");
  assert.equal(http.http_user_agent, 'koan-test/1 "q"');
  assert.equal(http.http_referer, "http://ref/");
  assert.equal(http.worker, "master");
  assert.equal(zen.protocol, "zen");
  assert.equal(zen.requests, 1);
  assert.equal(zen.status, null);
  assert.equal(zen.outcome, "closed normally");
});

Deno.test("access log: a template of $variables for every protocol", async () => {
  await using s = await serve(
    'access_format = "$protocol|$remote_addr|$request|$status|$requests|$http_x_id|$outcome"\n',
  );
  const response = await fetch(`http://127.0.0.1:${s.http}/`, {
    headers: { "x-id": "abc" },
  });
  await response.text();
  await ask(s.zen, ["Readability?"]);
  assert.deepEqual(await waitLines(s.access, 2), [
    "http|127.0.0.1|GET / HTTP/1.1|200|-|abc|keep-alive",
    "zen|127.0.0.1|-|-|1|-|closed normally",
  ]);
});

Deno.test("access log: SIGHUP switches the format; lines before it are written in the old one", async () => {
  await using s = await serve("");
  assert.equal(await get(s.http, "/healthz?x=1"), 200);
  const config = s.daemon.configPath!;
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    text.replace("[log]\n", '[log]\naccess_format = "$status $request"\n'),
  );
  s.daemon.kill("SIGHUP");
  await s.daemon.waitForLog(/reloaded/);
  assert.equal(await get(s.http, "/healthz?x=2"), 200);
  const [before, after] = await waitLines(s.access, 2);
  assert.match(before!, COMBINED);
  assert.equal(after, "200 GET /healthz?x=2 HTTP/1.1");
});

for (const model of ["async", "threads", "processes"]) {
  Deno.test(`access log (${model}): SIGTERM right after a burst of 1000 requests loses no line`, async () => {
    await using s = await serve(
      'access_format = "$worker $status $request"\n',
      model,
    );
    const port = s.http;
    const REQUESTS = 1000;
    let next = 0;
    let ok = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (next < REQUESTS) {
        const n = next++;
        if (await get(port, `/healthz?n=${n}`) === 200) ok++;
      }
    }));
    assert.equal(ok, REQUESTS);
    const status = await s.daemon.stop("SIGTERM");
    assert.equal(status.code, 0, s.daemon.log);
    const written = lines(s.access);
    assert.equal(written.length, REQUESTS);
    const seen = new Set(written.map((line) => /n=(\d+)/.exec(line)?.[1]));
    assert.equal(seen.size, REQUESTS, "one line per request, each whole");
    if (model !== "async") {
      assert.ok(written.every((line) => /^w\d+ 200 GET /.test(line)));
    }
  });
}

for (const model of ["async", "processes"]) {
  Deno.test(`access log (${model}): syslog:/path sends RFC 5424 local7.info datagrams`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "koan-access-syslog-" });
    const socketPath = `${dir}/log.sock`;
    const socket = Deno.listenDatagram({
      transport: "unixpacket",
      path: socketPath,
    });
    try {
      const port = freePort();
      await using daemon = await startDaemon([], {
        ports: [port],
        config:
          `[[listener]]\nprotocol = "http"\naddress = "127.0.0.1:${port}"\nmodel = "${model}"\nworkers = 1\n` +
          `[log]\naccess_file = "syslog:${socketPath}"\n`,
      });
      assert.equal(await get(port, "/healthz?x=1"), 200);
      const [data] = await socket.receive();
      const message = new TextDecoder().decode(data);
      const header =
        /^<190>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \S+ koan (\d+) - - /;
      assert.match(message, header);
      if (model === "async") {
        assert.equal(Number(header.exec(message)![1]), daemon.pid);
      }
      assert.match(message.replace(header, ""), COMBINED);
    } finally {
      socket.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("check-config refuses an unknown access variable naming log.access_format", async () => {
  const path = await writeConfig(
    '[log]\naccess_format = "$remote_addr $request_length"\n',
  );
  try {
    const result = await runCli(["check-config", "--config", path]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^koan: log\.access_format: unknown variable "\$request_length"/,
    );
    const good = await writeConfig(
      '[log]\naccess_format = "$remote_addr $http_x_id"\naccess_file = "syslog"\n',
    );
    const accepted = await runCli(["check-config", "--config", good]);
    await Deno.remove(good);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(
      accepted.stdout,
      /access_format = "\$remote_addr \$http_x_id"/,
    );
  } finally {
    await Deno.remove(path);
  }
});
