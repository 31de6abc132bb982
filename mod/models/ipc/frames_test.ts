import assert from "node:assert/strict";
import { encodeFrame, FRAME, FrameReader } from "./frames.ts";

/** A reader that hands out `bytes` in chunks of `chunk` bytes. */
function chunked(bytes: Uint8Array, chunk: number) {
  let offset = 0;
  return {
    read(buffer: Uint8Array): Promise<number | null> {
      if (offset >= bytes.length) return Promise.resolve(null);
      const n = Math.min(chunk, buffer.length, bytes.length - offset);
      buffer.set(bytes.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("FrameReader.next() reassembles frames split over reads", async () => {
  const big = new Uint8Array(100_000).map((_, i) => i % 251);
  const stream = concat([
    encodeFrame(FRAME.init, new TextEncoder().encode("{}")),
    encodeFrame(FRAME.data, big),
    encodeFrame(FRAME.drain),
    encodeFrame(FRAME.eof),
  ]);
  for (const chunk of [1, 3, 7, 4096, 1 << 20]) {
    const reader = new FrameReader(chunked(stream, chunk));
    const types: number[] = [];
    let data: Uint8Array | undefined;
    for (let frame; (frame = await reader.next());) {
      types.push(frame.type);
      if (frame.type === FRAME.data) data = frame.payload;
    }
    assert.deepEqual(types, [FRAME.init, FRAME.data, FRAME.drain, FRAME.eof]);
    assert.deepEqual(data, big);
  }
});

Deno.test("FrameReader.next() rejects an unknown frame type", async () => {
  const reader = new FrameReader(chunked(new Uint8Array([9, 0, 0, 0, 0]), 5));
  await assert.rejects(() => reader.next(), RangeError);
});

Deno.test("FrameReader.next() returns null when the stream ends mid-frame", async () => {
  const frame = encodeFrame(FRAME.data, new Uint8Array(10));
  const reader = new FrameReader(chunked(frame.subarray(0, 8), 8));
  assert.equal(await reader.next(), null);
});
