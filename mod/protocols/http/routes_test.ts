import assert from "node:assert/strict";
import { configOf } from "../../config/_testing.ts";
import { http } from "./http.ts";
import type { HttpEnv } from "./settings.ts";
import { BUILT_IN_TABLE } from "../zen/aphorisms.ts";
import type { FileSource } from "./file_source.ts";
import type { Reply } from "./reply.ts";
import { HttpRequest, type Method } from "./request.ts";
import type { RouteContext } from "./route.ts";
import { allowOf, builtInRoutes, dispatch } from "./routes.ts";
import { HttpError } from "./status.ts";
import { wantsJson } from "./zen_route.ts";

const decoder = new TextDecoder();
const NO_FILES: FileSource = { lookup: () => Promise.resolve(null) };

function setup(
  options: {
    draining?: boolean;
    files?: FileSource;
    zen?: object;
    http?: object;
    fromLoopback?: boolean;
  } = {},
) {
  const state = {
    draining: options.draining ?? false,
    ready: true,
    probes: 0,
    probed() {
      this.probes++;
    },
  };
  const env: HttpEnv = {
    settings: http.settings(
      configOf({ zen: options.zen ?? {}, http: options.http ?? {} }).config,
    ),
    aphorisms: BUILT_IN_TABLE,
    state,
  };
  if (options.files) env.files = options.files;
  let body = new Uint8Array(0);
  const context: RouteContext = {
    env,
    fromLoopback: options.fromLoopback ?? true,
    body: () => Promise.resolve(body),
  };
  const run = async (
    method: Method,
    target: string,
    fields: Partial<HttpRequest> & { body?: string } = {},
  ): Promise<Reply | number> => {
    const request = new HttpRequest();
    request.method = method;
    request.target = target;
    const mark = target.indexOf("?");
    request.path = mark < 0 ? target : target.slice(0, mark);
    request.query = mark < 0 ? "" : target.slice(mark + 1);
    body = new TextEncoder().encode(fields.body ?? "");
    delete fields.body;
    Object.assign(request, fields);
    try {
      return await dispatch(request, {
        routes: builtInRoutes(env),
        files: env.files,
        context,
      });
    } catch (error) {
      if (error instanceof HttpError) return error.status;
      throw error;
    }
  };
  return { run, state };
}

function bodyOf(reply: Reply | number): string {
  assert.ok(typeof reply === "object", `got status ${reply}`);
  return decoder.decode(reply.body);
}

Deno.test("GET / says hello without a docroot, serves files with one", async () => {
  const { run } = setup();
  assert.equal(bodyOf(await run("GET", "/")), "Hello, world!");
  const withFiles = setup({ files: NO_FILES });
  assert.equal(await withFiles.run("GET", "/"), 404);
});

Deno.test("GET /healthz stays 200 while draining", async () => {
  const { run, state } = setup({ fromLoopback: false });
  assert.equal(bodyOf(await run("GET", "/healthz")), "ok");
  state.ready = false;
  state.draining = true;
  assert.equal(bodyOf(await run("GET", "/healthz")), "ok");
});

Deno.test("GET /readyz is 503 once not ready, counting probes, then closes once draining", async () => {
  const { run, state } = setup({ fromLoopback: false });
  assert.equal(bodyOf(await run("GET", "/readyz")), "ready");
  assert.equal(state.probes, 0);
  state.ready = false;
  const delayed = await run("GET", "/readyz");
  assert.ok(typeof delayed === "object");
  assert.equal(delayed.status, 503);
  assert.notEqual(delayed.close, true);
  assert.equal(state.probes, 1);
  state.draining = true;
  const draining = await run("GET", "/readyz");
  assert.ok(typeof draining === "object");
  assert.equal(draining.status, 503);
  assert.equal(draining.close, true);
  assert.equal(state.probes, 1);
});

Deno.test("the probe paths follow [http] health_path and ready_path", async () => {
  const { run } = setup({
    http: { health_path: "/live", ready_path: "/ready" },
  });
  assert.equal(bodyOf(await run("GET", "/live")), "ok");
  assert.equal(bodyOf(await run("GET", "/ready")), "ready");
  assert.equal(await run("GET", "/healthz"), 404);
  assert.equal(await run("GET", "/readyz"), 404);
});

Deno.test("/zen answers like the Zen protocol", async () => {
  const { run } = setup();
  assert.equal(
    bodyOf(await run("GET", "/zen?q=Now+is+better+than%3F")),
    "never.",
  );
  assert.equal(
    bodyOf(
      await run("POST", "/zen", { body: "\r\n Errors should never pass?\n" }),
    ),
    "silently.",
  );
  assert.equal(
    bodyOf(await run("GET", "/zen?q=Errors+should+never+pass")),
    "Error: unknown aphorism.",
  );
  assert.equal(await run("GET", "/zen"), 400);
});

Deno.test("/zen answers JSON when asked", async () => {
  const { run } = setup();
  const reply = await run("GET", "/zen?q=Sparse+is+better+than%3F", {
    accept: "application/json",
  });
  assert.deepEqual(JSON.parse(bodyOf(reply)), {
    question: "Sparse is better than?",
    answer: "dense.",
  });
});

Deno.test("/zen refuses a question past zen.max_question with 413", async () => {
  const { run } = setup({ zen: { max_question: 16 } });
  const reply = await run("POST", "/zen", { body: "x".repeat(20) + "?" });
  assert.ok(typeof reply === "object");
  assert.equal(reply.status, 413);
  assert.equal(decoder.decode(reply.body), "Error: question too long.");
  // In JSON too, the refusal does not repeat the question it refused.
  const question = "<script>" + "x".repeat(20) + "?";
  const json = await run("POST", "/zen", {
    body: question,
    accept: "application/json",
  });
  assert.ok(typeof json === "object");
  assert.equal(json.status, 413);
  assert.deepEqual(JSON.parse(decoder.decode(json.body)), {
    question: null,
    answer: "Error: question too long.",
  });
});

Deno.test("/zen does the configured simulated work", async () => {
  const { run } = setup({ zen: { work: "sleep", work_ms: 30 } });
  const started = performance.now();
  assert.equal(bodyOf(await run("GET", "/zen?q=Readability%3F")), "counts.");
  assert.ok(performance.now() - started >= 25, "slept");
});

Deno.test("dispatch() answers OPTIONS, 405 with Allow, 404 and 501", async () => {
  const { run } = setup();
  const options = await run("OPTIONS", "/zen");
  assert.ok(typeof options === "object");
  assert.equal(options.status, 204);
  assert.equal(options.extra, "Allow: GET, HEAD, POST, OPTIONS\r\n");
  assert.equal(await run("PUT", "/"), 405);
  assert.equal(await run("DELETE", "/healthz"), 405);
  assert.equal(await run("GET", "/nope"), 404);
  assert.equal(await run("CONNECT", "koan.test:443"), 501);
  const withFiles = setup({ files: NO_FILES });
  assert.equal(await withFiles.run("POST", "/file.txt"), 405);
  let allow = "";
  const request = new HttpRequest();
  request.method = "POST";
  try {
    dispatch(request, {
      routes: new Map(),
      files: NO_FILES,
      context: {
        env: {} as HttpEnv,
        fromLoopback: false,
        body: () => Promise.resolve(new Uint8Array()),
      },
    });
  } catch (error) {
    if (error instanceof HttpError) allow = error.headers;
  }
  assert.equal(allow, "Allow: GET, HEAD, OPTIONS\r\n");
});

Deno.test("allowOf() adds HEAD to GET and OPTIONS to all", () => {
  assert.equal(allowOf(["GET"]), "GET, HEAD, OPTIONS");
  assert.equal(allowOf(["GET", "POST"]), "GET, HEAD, POST, OPTIONS");
});

Deno.test("wantsJson() reads Accept with weights", () => {
  assert.ok(wantsJson("application/json"));
  assert.ok(wantsJson("text/html, Application/JSON;q=0.5"));
  assert.ok(!wantsJson("application/json;q=0"));
  assert.ok(!wantsJson("text/plain"));
  assert.ok(!wantsJson("*/*"));
  assert.ok(!wantsJson(undefined));
});
