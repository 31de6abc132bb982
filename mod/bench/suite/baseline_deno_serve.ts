/**
 * The comparison point for koan's HTTP benchmark: a `Deno.serve` hello
 * world (Rust's hyper doing the HTTP). koan's own HTTP/1.1 stack on the
 * `async` model, access log off, should reach at least 1.0x of it;
 * `baseline_http_loop.ts` measures how far any server on `Deno.listen` can
 * go against it.
 *
 * Usage: deno run --allow-net mod/bench/suite/baseline_deno_serve.ts PORT
 *
 * @module
 */
const port = Number(Deno.args[0] ?? 8000);
const body = new TextEncoder().encode("Hello, world!");

Deno.serve(
  { hostname: "127.0.0.1", port, onListen() {} },
  () => new Response(body, { headers: { "content-type": "text/plain" } }),
);
