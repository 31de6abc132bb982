import assert from "node:assert/strict";
import { ConnTransport, type Duplex, SendTimeoutError } from "./transport.ts";
import { deadlines } from "../util/deadline.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A peer that takes at most `chunk` bytes per write, or none at all while `stalled`. */
class SlowPeer implements Duplex {
  received = "";
  writes = 0;
  closed = false;
  stalled = false;
  #stall: ((error: Error) => void) | undefined;

  constructor(readonly chunk = Infinity) {}

  read(): Promise<number | null> {
    return Promise.resolve(null);
  }

  write(bytes: Uint8Array): Promise<number> {
    this.writes++;
    if (this.closed) {
      return Promise.reject(new Deno.errors.BadResource("closed"));
    }
    if (this.stalled) {
      return new Promise((_, reject) => this.#stall = reject);
    }
    const taken = bytes.subarray(0, Math.min(this.chunk, bytes.length));
    this.received += decoder.decode(taken);
    return Promise.resolve(taken.length);
  }

  close(): void {
    this.closed = true;
    this.#stall?.(new Deno.errors.BadResource("closed"));
  }
}

Deno.test("ConnTransport.write() goes on over short writes until every byte is out", async () => {
  const peer = new SlowPeer(3);
  const transport = new ConnTransport(peer, 10_000);
  await transport.write(encoder.encode("Beautiful is better than?"));
  assert.equal(peer.received, "Beautiful is better than?");
  assert.equal(peer.writes, 9);
  transport.close();
});

Deno.test("ConnTransport.write() beside a write in flight sends every byte of both", async () => {
  const peer = new SlowPeer(2);
  const transport = new ConnTransport(peer, 10_000);
  await Promise.all([
    transport.write(encoder.encode("ugly.")),
    transport.write(encoder.encode("implicit.")),
  ]);
  // The peer takes 2 bytes at a time, so the two may interleave; but every
  // byte of each goes out exactly once.
  const sorted = (text: string) => [...text].sort().join("");
  assert.equal(sorted(peer.received), sorted("ugly.implicit."));
  transport.close();
});

Deno.test("ConnTransport.write() rejects once closed, and when the duplex throws", async () => {
  const transport = new ConnTransport(new SlowPeer(), 10_000);
  transport.close();
  await assert.rejects(
    transport.write(encoder.encode("x")),
    Deno.errors.BrokenPipe,
  );
  const throwing = new ConnTransport({
    read: () => Promise.resolve(null),
    write: () => {
      throw new Deno.errors.BadResource("gone");
    },
    close: () => {},
  }, 10_000);
  await assert.rejects(
    throwing.write(encoder.encode("x")),
    Deno.errors.BadResource,
  );
});

Deno.test("ConnTransport closes a write stalled past send_timeout", async () => {
  const peer = new SlowPeer();
  peer.stalled = true;
  const transport = new ConnTransport(peer, 400);
  const started = performance.now();
  await assert.rejects(
    transport.write(encoder.encode("never read")),
    SendTimeoutError,
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 400, `closed after ${elapsed} ms`);
  assert.ok(transport.sendTimedOut);
  assert.ok(transport.closed);
  assert.ok(peer.closed);
});

Deno.test("ConnTransport's watchdog leaves the wheel once no write is pending", async () => {
  const before = deadlines.size;
  const transport = new ConnTransport(new SlowPeer(), 200);
  await transport.write(encoder.encode("complex."));
  assert.equal(deadlines.size, before + 1);
  // The first check (a quarter of send_timeout, swept every 100 ms) finds it idle.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(deadlines.size, before);
  assert.equal(transport.sendTimedOut, false);
  // The next write arms it again.
  await transport.write(encoder.encode("complex."));
  assert.equal(deadlines.size, before + 1);
  transport.close();
  assert.equal(deadlines.size, before);
});

Deno.test("ConnTransport.write() after a rejected write sends every byte of the next one", async () => {
  let fail = true;
  const peer = new SlowPeer(4);
  const transport = new ConnTransport({
    read: () => Promise.resolve(null),
    write: (bytes) =>
      fail
        ? Promise.reject(new Deno.errors.ConnectionReset("reset"))
        : peer.write(bytes),
    close: () => {},
  }, 10_000);
  await assert.rejects(
    transport.write(encoder.encode("lost")),
    Deno.errors.ConnectionReset,
  );
  fail = false;
  await transport.write(encoder.encode("Now is better than never."));
  assert.equal(peer.received, "Now is better than never.");
  await Promise.all([
    transport.write(encoder.encode("ab")),
    transport.write(encoder.encode("cd")),
  ]);
  assert.equal(peer.received, "Now is better than never.abcd");
  transport.close();
});
