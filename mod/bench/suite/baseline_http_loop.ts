/**
 * The ceiling of any HTTP/1.1 server on `Deno.listen`, for koan's HTTP
 * benchmark: per connection, one loop that reads into a reused buffer,
 * counts the requests that a read completes by their "\r\n\r\n" (GETs
 * without bodies, as wrk sends), and answers them all with one write of a
 * precomputed response per request. No parsing, routing, limits, timeouts
 * or logs: every real server on `Deno.listen` does at least this much, so
 * its requests per second bound theirs, and its ratio to `Deno.serve`
 * (hyper, in Rust) is how far any TypeScript HTTP stack on Deno's TCP
 * connections can go against it.
 *
 * The response has `Deno.serve`'s bytes (`baseline_deno_serve.ts`):
 * content-type, content-length, and a date, here fixed at start-up.
 *
 * Usage: deno run --allow-net mod/bench/suite/baseline_http_loop.ts PORT
 *
 * @module
 */
import { listenRaw } from "./_raw_listen.ts";

const CR = 13;
const LF = 10;
const RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n" +
    `date: ${new Date().toUTCString()}\r\n\r\nHello, world!`,
);
/** `RESPONSE` repeated n times, at index n: one write per read. */
const batches: Uint8Array[] = [new Uint8Array(0), RESPONSE];

function batch(count: number): Uint8Array {
  let bytes = batches[count];
  if (!bytes) {
    bytes = new Uint8Array(RESPONSE.length * count);
    for (let i = 0; i < count; i++) bytes.set(RESPONSE, i * RESPONSE.length);
    // Pipelining depths are few; an odd huge one is not kept.
    if (count <= 256) batches[count] = bytes;
  }
  return bytes;
}

async function serve(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(16384);
  // How much of "\r\n\r\n" the bytes read so far end with: a terminator
  // may straddle two reads.
  let matched = 0;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    let requests = 0;
    for (let i = 0; i < n; i++) {
      const byte = buffer[i];
      if (byte === (matched % 2 === 0 ? CR : LF)) {
        if (++matched === 4) {
          requests++;
          matched = 0;
        }
      } else {
        matched = byte === CR ? 1 : 0;
      }
    }
    const out = batch(requests);
    for (let sent = 0; sent < out.length;) {
      sent += await conn.write(out.subarray(sent));
    }
  }
}

await listenRaw(Number(Deno.args[0] ?? 8000), serve);
