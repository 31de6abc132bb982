/**
 * HTTP answers that do not help an attacker, under every model: error
 * pages are fixed text per status (nothing from the request comes back),
 * everything koan answers carries `X-Content-Type-Options: nosniff`, a
 * directory redirect never names another host nor splits a header, and
 * the Server header names no version unless `server_tokens` is on — a
 * SIGHUP that flips it takes effect for new answers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { VERSION } from "../../mod/util/version.ts";
import { connect, eventually, readAll, send } from "../_helpers.ts";
import { parseResponses, type WireResponse } from "../http_corpus/wire.ts";
import { MODELS_UNDER_TEST, startModelDaemon } from "./models.ts";

const TOKEN = "zq7TOKEN";
const H = "Host: koan.test\r\n";

const REASONS: Readonly<Record<number, string>> = {
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Content Too Large",
  414: "URI Too Long",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  505: "HTTP Version Not Supported",
};

/** Requests carrying {@linkcode TOKEN} that koan refuses, and the status each gets. */
const REFUSALS: readonly [number, string][] = [
  [400, `GET /zen HTTP/1.1\r\n${H}${TOKEN} x: 1\r\n\r\n`],
  [400, `GET /zen?q=${TOKEN} HTTP/1.1\r\n\r\n`],
  [404, `GET /${TOKEN}<script>alert(1)</script> HTTP/1.1\r\n${H}\r\n`],
  [404, `GET http://${TOKEN}.test/${TOKEN}.html HTTP/1.1\r\n${H}\r\n`],
  [405, `DELETE /healthz?${TOKEN} HTTP/1.1\r\n${H}\r\n`],
  [413, `POST /zen?${TOKEN} HTTP/1.1\r\n${H}Content-Length: 99999999\r\n\r\n`],
  [414, `GET /${TOKEN}${"a".repeat(300)} HTTP/1.1\r\n${H}\r\n`],
  [431, `GET / HTTP/1.1\r\n${H}X-${TOKEN}: ${"b".repeat(600)}\r\n\r\n`],
  [417, `GET / HTTP/1.1\r\n${H}Expect: ${TOKEN}\r\n\r\n`],
  [501, `${TOKEN} / HTTP/1.1\r\n${H}\r\n`],
  [501, `POST /zen HTTP/1.1\r\n${H}Transfer-Encoding: ${TOKEN}\r\n\r\n`],
  [505, `GET /${TOKEN} HTTP/2.0\r\n${H}\r\n`],
];

/** Sends `request` on a new connection; resolves to the first answer and all that came back. */
async function exchange(
  port: number,
  request: string,
): Promise<{ response: WireResponse; text: string }> {
  using conn = await connect(port);
  await send(conn, request);
  const text = await readAll(conn);
  const { responses } = parseResponses(text);
  assert.ok(responses[0], `no answer to ${JSON.stringify(request)}:\n${text}`);
  return { response: responses[0], text };
}

const get = (target: string) =>
  `GET ${target} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;

/** A docroot with an index page and a directory named like a host. */
async function makeDocroot(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "koan-answers-" });
  await Deno.mkdir(`${dir}/example.com`);
  await Deno.writeTextFile(`${dir}/index.html`, "<p>home</p>");
  await Deno.writeTextFile(`${dir}/example.com/index.html`, "<p>x</p>");
  return dir;
}

for (const model of MODELS_UNDER_TEST) {
  Deno.test(`answers (${model.name}): fixed error pages, nosniff, safe redirects, Server by server_tokens`, async (t) => {
    const docroot = await makeDocroot();
    try {
      const http =
        `[http]\ndocroot = "${docroot}"\nmax_request_line = 256\nmax_header_bytes = 512\n`;
      await using served = await startModelDaemon(model, { sections: http });
      const { daemon, ports } = served;
      const port = ports.http;

      await t.step("error pages repeat nothing of the request", async () => {
        for (const [status, request] of REFUSALS) {
          const { response, text } = await exchange(port, request);
          const what = JSON.stringify(request.slice(0, 60));
          assert.equal(response.status, status, what);
          assert.equal(response.body, `${status} ${REASONS[status]}\n`, what);
          assert.ok(!text.includes(TOKEN), `${what} echoed in\n${text}`);
          assert.equal(
            response.headers.get("x-content-type-options"),
            "nosniff",
            what,
          );
        }
      });

      await t.step("a directory redirect stays on this host", async () => {
        for (
          const [target, location] of [
            ["//example.com", "/example.com/"],
            ["http://koan.test//example.com", "/example.com/"],
            ['/example.com?a="<>', "/example.com/?a=%22%3C%3E"],
            ["/example.com?next=//evil.test", "/example.com/?next=//evil.test"],
          ]
        ) {
          const { response } = await exchange(port, get(target!));
          assert.equal(response.status, 301, target);
          assert.equal(response.headers.get("location"), location, target);
          assert.equal(
            response.headers.get("x-content-type-options"),
            "nosniff",
          );
        }
        const { response } = await exchange(port, get("/\\example.com"));
        assert.equal(response.status, 400, "a backslash is refused");
        assert.equal(response.headers.get("location"), undefined);
      });

      await t.step("Server is plain koan by default", async () => {
        for (const target of ["/", "/healthz", "/index.html", "/nope"]) {
          const { response } = await exchange(port, get(target));
          assert.equal(response.headers.get("server"), "koan", target);
          assert.equal(
            response.headers.get("x-content-type-options"),
            "nosniff",
            target,
          );
        }
      });

      await t.step(
        "a SIGHUP that turns server_tokens on names the version, off hides it",
        async () => {
          const config = daemon.configPath!;
          const text = await Deno.readTextFile(config);
          await Deno.writeTextFile(
            config,
            text.replace("[http]\n", "[http]\nserver_tokens = true\n"),
          );
          daemon.kill("SIGHUP");
          await daemon.waitForLog(/reloaded/);
          await eventually(async () => {
            // Several rounds: every worker of a pool must have the new generation.
            for (let round = 0; round < 4; round++) {
              for (const target of ["/healthz", "/index.html", "/nope"]) {
                const { response } = await exchange(port, get(target));
                if (response.headers.get("server") !== `koan/${VERSION}`) {
                  return false;
                }
              }
            }
            return true;
          }, "Server: koan/<version> after the reload");

          await Deno.writeTextFile(config, text);
          daemon.kill("SIGHUP");
          await daemon.waitForLog(/reloaded[^]*reloaded/);
          await eventually(async () => {
            for (let round = 0; round < 4; round++) {
              for (const target of ["/healthz", "/index.html", "/nope"]) {
                const { response } = await exchange(port, get(target));
                if (response.headers.get("server") !== "koan") return false;
              }
            }
            return true;
          }, "Server: koan again after the reload that turns it off");
        },
      );
    } finally {
      await Deno.remove(docroot, { recursive: true });
    }
  });
}
