/**
 * TLS on the real daemon, with the real tools: `curl` for HTTPS, `openssl
 * s_client` for Zen over TLS, the protocol versions refused and ALPN, and
 * live certificate rotation on SIGHUP under a loop of fresh handshakes
 * (zero failures; new connections show the new serial), a bad key at
 * reload refused with one line naming it, and bad files at start refused
 * with exit 2. Fully under `async`, `threads` and `processes`; one HTTPS
 * request and one Zen answer under the other models.
 */
import assert from "node:assert/strict";
import {
  freePort,
  MAIN,
  readUntil,
  RUN_FLAGS,
  runCli,
  send,
  startDaemon,
  type TestDaemon,
} from "../_helpers.ts";
import { makeTestPki, type TestPki } from "../../mod/net/_tls_testing.ts";
import { runTool } from "../service/_service.ts";
import type { ModelName } from "../../mod/config/settings.ts";

const QUESTION = "Beautiful is better than?";
const ANSWER = "ugly.";

/** `openssl s_client` against a local port, trusting `ca`, with `extra` flags. */
function sClient(
  port: number,
  ca: string,
  extra: string[] = [],
  input = "",
  timeoutMs = 10_000,
) {
  return runTool(
    "openssl",
    [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      "localhost",
      "-CAfile",
      ca,
      "-verify_return_error",
      ...extra,
    ],
    { input, timeoutMs },
  );
}

/** The serial of the certificate the server at `port` presents now. */
async function serialAt(port: number, ca: string): Promise<string> {
  const hello = await sClient(port, ca);
  assert.equal(hello.code, 0, hello.stderr);
  const x509 = await runTool(
    "openssl",
    ["x509", "-noout", "-serial"],
    { input: hello.stdout },
  );
  assert.equal(x509.code, 0, x509.stderr);
  return x509.stdout.trim().replace(/^serial=/, "");
}

/** One HTTPS GET with curl; returns the status and the protocol version. */
async function curl(port: number, ca: string, path = "/healthz") {
  const result = await runTool("curl", [
    "-sS",
    "--max-time",
    "10",
    "--cacert",
    ca,
    "--resolve",
    `localhost:${port}:127.0.0.1`,
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{ssl_verify_result}",
    `https://localhost:${port}${path}`,
  ]);
  return { ...result, status: result.stdout.trim() };
}

/** Asks the Zen listener a question over TLS (Deno's own client). */
async function askZen(port: number, ca: string): Promise<string> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [await Deno.readTextFile(ca)],
  });
  try {
    await send(conn, QUESTION);
    const { text } = await readUntil(conn, ".", 10_000);
    return text;
  } finally {
    conn.close();
  }
}

/** Copies `from` over `to` by rename, as a deploy tool swaps files. */
async function replace(from: string, to: string): Promise<void> {
  await Deno.copyFile(from, `${to}.new`);
  await Deno.rename(`${to}.new`, to);
}

interface TlsSetup {
  pki: TestPki;
  /** The files the config names, swapped by the tests. */
  cert: string;
  key: string;
  /** Serials of the two certificates issued. */
  first: string;
  second: string;
  /** The second certificate's files, and a key that matches neither. */
  next: { cert: string; key: string };
  strayKey: string;
}

async function tlsSetup(): Promise<TlsSetup> {
  const pki = await makeTestPki();
  const one = await pki.issue("one", "1001");
  const two = await pki.issue("two", "2002");
  const stray = await pki.issue("stray", "3003");
  const cert = `${pki.dir}/live.pem`;
  const key = `${pki.dir}/live.key`;
  await replace(one.cert, cert);
  await replace(one.key, key);
  return {
    pki,
    cert,
    key,
    first: one.serial,
    second: two.serial,
    next: two,
    strayKey: stray.key,
  };
}

/** HTTP (with ALPN) and Zen listeners on `model`, both over TLS. */
function tlsConfig(
  model: ModelName,
  setup: TlsSetup,
  ports: { http: number; zen: number },
): string {
  const listener = (protocol: string, port: number, alpn: boolean) =>
    [
      "[[listener]]",
      `protocol = "${protocol}"`,
      `address = "127.0.0.1:${port}"`,
      `model = "${model}"`,
      ...(model === "threads" || model === "processes" ? ["workers = 2"] : []),
      `tls_cert = "${setup.cert}"`,
      `tls_key = "${setup.key}"`,
      ...(alpn ? ["tls_alpn = true"] : []),
    ].join("\n");
  return [
    listener("http", ports.http, true),
    listener("zen", ports.zen, false),
    "[log]\naccess = false",
  ].join("\n\n");
}

async function startTls(
  model: ModelName,
  setup: TlsSetup,
): Promise<{ daemon: TestDaemon; http: number; zen: number }> {
  const ports = { http: freePort(), zen: freePort() };
  const daemon = await startDaemon([], {
    config: tlsConfig(model, setup, ports),
    ports: [ports.http, ports.zen],
    timeoutMs: 30_000,
  });
  return { daemon, ...ports };
}

/** Fresh HTTPS connections in a loop (Deno's client), counted until stopped. */
class HandshakeLoop {
  ok = 0;
  failed = 0;
  errors: string[] = [];
  #stopped = false;
  #done: Promise<void>[];

  constructor(port: number, ca: string, clients: number) {
    this.#done = Array.from({ length: clients }, () => this.#run(port, ca));
  }

  async #run(port: number, ca: string): Promise<void> {
    const caCerts = [await Deno.readTextFile(ca)];
    while (!this.#stopped) {
      try {
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port,
          caCerts,
        });
        try {
          await send(
            conn,
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
          );
          const { text, timedOut } = await readUntil(
            conn,
            (t) => t.includes("\r\n\r\n"),
            10_000,
          );
          if (timedOut || !text.startsWith("HTTP/1.1 200")) {
            throw new Error(`unexpected answer: ${JSON.stringify(text)}`);
          }
          this.ok++;
        } finally {
          conn.close();
        }
      } catch (error) {
        // Any failure counts: the test asserts there are none.
        this.failed++;
        if (this.errors.length < 5) this.errors.push(String(error));
      }
    }
  }

  async reach(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ok < count) {
      if (Date.now() > deadline) {
        throw new Error(
          `only ${this.ok} of ${count} requests (${this.failed} failed: ${this.errors})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#done);
  }
}

/** Waits until `tries` new connections in a row show `serial` (workers hear of a reload in turn). */
async function waitSerial(
  port: number,
  ca: string,
  serial: string,
  tries: number,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  let streak = 0;
  let last = "";
  while (streak < tries) {
    last = await serialAt(port, ca);
    streak = last === serial ? streak + 1 : 0;
    if (streak < tries && Date.now() > deadline) {
      assert.fail(`serial ${last}, not ${serial}, 10 s after the reload`);
    }
  }
}

for (const model of ["async", "threads", "processes"] as const) {
  Deno.test(`TLS (${model}): HTTPS and Zen, TLS 1.2+ only, ALPN, live rotation on SIGHUP, a bad key refused`, async () => {
    const setup = await tlsSetup();
    const ca = setup.pki.ca;
    try {
      const { daemon, http, zen } = await startTls(model, setup);
      await using _ = daemon;
      // HTTPS with curl; Zen over TLS with s_client.
      const first = await curl(http, ca);
      assert.equal(first.status, "200 0", first.stderr);
      // -quiet ignores the end of stdin: it is stopped after 2 s.
      const zenAnswer = await sClient(zen, ca, ["-quiet"], QUESTION, 2000);
      assert.equal(zenAnswer.stdout, ANSWER, zenAnswer.stderr);
      assert.equal(await askZen(zen, ca), ANSWER);
      // TLS 1.2 and 1.3 only (the client allowed to try older ones).
      for (const version of ["-tls1", "-tls1_1"]) {
        const old = await sClient(http, ca, [
          version,
          "-cipher",
          "DEFAULT@SECLEVEL=0",
        ]);
        assert.notEqual(old.code, 0, `${version} was accepted`);
        assert.doesNotMatch(old.stdout, /Cipher is (?!\(NONE\))/);
      }
      const tls12 = await sClient(http, ca, ["-tls1_2"]);
      assert.match(tls12.stdout, /New, TLSv1\.2, Cipher is/);
      const tls13 = await sClient(http, ca, ["-tls1_3"]);
      assert.match(tls13.stdout, /New, TLSv1\.3, Cipher is/);
      // ALPN http/1.1 on the HTTP listener that asks for it; none on Zen.
      const alpn = await sClient(http, ca, ["-alpn", "http/1.1"]);
      assert.match(alpn.stdout, /ALPN protocol: http\/1\.1/);
      const noAlpn = await sClient(zen, ca, ["-alpn", "http/1.1"]);
      assert.match(noAlpn.stdout, /No ALPN negotiated/);
      assert.equal(await serialAt(http, ca), setup.first);

      // Rotation under a loop of fresh handshakes.
      const loop = new HandshakeLoop(http, ca, 2);
      try {
        await loop.reach(30);
        await replace(setup.next.cert, setup.cert);
        await replace(setup.next.key, setup.key);
        daemon.kill("SIGHUP");
        await daemon.waitForLog(/reloaded/);
        await waitSerial(http, ca, setup.second, 6);
        await waitSerial(zen, ca, setup.second, 4);
        await loop.reach(loop.ok + 30);
      } finally {
        await loop.stop();
      }
      console.log(
        `TLS rotation ${model}: ${loop.ok} handshakes and requests, ${loop.failed} failed`,
      );
      assert.equal(loop.failed, 0, loop.errors.join("\n"));

      // A key that does not match: refused, one line naming it, old one kept.
      await replace(setup.strayKey, setup.key);
      daemon.kill("SIGHUP");
      await daemon.waitForLog(/reload refused/);
      const refusals = daemon.log.split("\n").filter((line) =>
        line.includes("reload refused")
      );
      assert.equal(refusals.length, 1, daemon.log);
      assert.match(
        refusals[0]!,
        /listener\[0\]\.tls_key: ".*live\.key" is not the private key/,
      );
      assert.equal(await serialAt(http, ca), setup.second);
      assert.equal((await curl(http, ca)).status, "200 0");
      assert.equal(await askZen(zen, ca), ANSWER);
    } finally {
      await setup.pki.remove();
    }
  });
}

for (
  const model of [
    "iterative",
    "thread-per-connection",
    "process-per-connection",
  ] as const
) {
  Deno.test(`TLS (${model}): one HTTPS request and one Zen answer`, async () => {
    const setup = await tlsSetup();
    const ca = setup.pki.ca;
    try {
      const { daemon, http, zen } = await startTls(model, setup);
      await using _ = daemon;
      const result = await curl(http, ca);
      assert.equal(result.status, "200 0", result.stderr);
      assert.equal(await askZen(zen, ca), ANSWER);
    } finally {
      await setup.pki.remove();
    }
  });
}

Deno.test("TLS: bad certificate files are config errors naming the key (exit 2)", async () => {
  const setup = await tlsSetup();
  try {
    const port = freePort();
    const config = async (lines: string[]) => {
      const path = `${setup.pki.dir}/koan.toml`;
      await Deno.writeTextFile(
        path,
        [
          `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${freePort()}"`,
          `[[listener]]\nprotocol = "http"\naddress = "127.0.0.1:${port}"\n${
            lines.join("\n")
          }`,
        ].join("\n\n"),
      );
      return path;
    };
    const cases: [string[], RegExp][] = [
      [
        [`tls_cert = "${setup.cert}"`],
        /listener\[1\]\.tls_key: must be set when tls_cert is/,
      ],
      [
        [`tls_key = "${setup.key}"`],
        /listener\[1\]\.tls_cert: must be set when tls_key is/,
      ],
      [
        [`tls_cert = "${setup.cert}"`, `tls_key = "${setup.strayKey}"`],
        /listener\[1\]\.tls_key: ".*stray\.key" is not the private key/,
      ],
      [
        [`tls_cert = "${setup.pki.dir}/none.pem"`, `tls_key = "${setup.key}"`],
        /listener\[1\]\.tls_cert: cannot read ".*none\.pem"/,
      ],
      [
        [`tls_cert = "${setup.key}"`, `tls_key = "${setup.key}"`],
        /listener\[1\]\.tls_cert: ".*live\.key" holds no PEM certificate/,
      ],
    ];
    for (const [lines, message] of cases) {
      const path = await config(lines);
      const check = await runCli(["check-config", "--config", path]);
      assert.equal(check.code, 2, check.stdout + check.stderr);
      assert.match(check.stderr, message);
      const serve = await runTool(
        Deno.execPath(),
        [...RUN_FLAGS, MAIN, "serve", "--config", path],
        { input: "", timeoutMs: 15_000 },
      );
      assert.equal(serve.code, 2, serve.stderr);
      assert.match(serve.stderr, message);
    }
    const good = await config([
      `tls_cert = "${setup.cert}"`,
      `tls_key = "${setup.key}"`,
    ]);
    const check = await runCli(["check-config", "--config", good]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /tls_cert = ".*live\.pem"/);
  } finally {
    await setup.pki.remove();
  }
});
