import assert from "node:assert/strict";
import { PushedInput } from "./pushed_input.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (buffer: Uint8Array, n: number | null) =>
  n === null ? null : new TextDecoder().decode(buffer.subarray(0, n));

Deno.test("PushedInput.read() returns pushed bytes in order, across partial reads", async () => {
  const input = new PushedInput(new AbortController());
  input.push(bytes("hello "));
  input.push(bytes("world"));
  input.end();
  const buffer = new Uint8Array(4);
  const parts: (string | null)[] = [];
  for (let i = 0; i < 5; i++) {
    parts.push(text(buffer, await input.read(buffer)));
  }
  assert.deepEqual(parts, ["hell", "o ", "worl", "d", null]);
});

Deno.test("PushedInput signals a drain only after queued bytes are read", async () => {
  const draining = new AbortController();
  const input = new PushedInput(draining);
  input.push(bytes("Why?"));
  input.drain();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(draining.signal.aborted, false, "the question is in flight");
  const buffer = new Uint8Array(16);
  assert.equal(text(buffer, await input.read(buffer)), "Why?");
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(draining.signal.aborted, true);
});

Deno.test("PushedInput counts whole chunks consumed (flow-control credit)", async () => {
  let consumed = 0;
  const input = new PushedInput(new AbortController(), () => consumed++);
  input.push(bytes("abcdef"));
  const buffer = new Uint8Array(4);
  await input.read(buffer);
  assert.equal(consumed, 0);
  await input.read(buffer);
  assert.equal(consumed, 1);
});

Deno.test("PushedInput.close() ends a pending read", async () => {
  const input = new PushedInput(new AbortController());
  const pending = input.read(new Uint8Array(8));
  input.close();
  assert.equal(await pending, null);
});

Deno.test("PushedInput.room() waits until the handler has read below the limit", async () => {
  const input = new PushedInput(new AbortController());
  input.push(bytes("abcdef"));
  assert.equal(input.queued, 6);
  let roomy = false;
  const room = input.room(4).then(() => roomy = true);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(roomy, false, "6 bytes queued, the limit is 4");
  await input.read(new Uint8Array(2));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(roomy, false, "4 bytes still queued");
  await input.read(new Uint8Array(1));
  await room;
  assert.equal(input.queued, 3);
});

Deno.test("PushedInput.close() releases a pusher waiting for room and drops later pushes", async () => {
  const input = new PushedInput(new AbortController());
  input.push(bytes("abcdef"));
  const room = input.room(1);
  input.close();
  await room;
  input.push(bytes("more"));
  assert.equal(input.queued, 0);
  assert.equal(await input.read(new Uint8Array(8)), null);
});
