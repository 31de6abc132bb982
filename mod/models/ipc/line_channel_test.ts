import assert from "node:assert/strict";
import { LineChannel } from "./line_channel.ts";

const encoder = new TextEncoder();

function readableOf(chunks: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

Deno.test("LineChannel.messages() reassembles lines split anywhere and skips garbage", async () => {
  const garbage: string[] = [];
  const channel = new LineChannel<{ n: number }, never>(
    readableOf(['{"n":', '1}\n{"n":2}\nnot json\n\n{"n"', ":3}\n"]),
    new WritableStream(),
  );
  const got: number[] = [];
  for await (const message of channel.messages((line) => garbage.push(line))) {
    got.push(message.n);
  }
  assert.deepEqual(got, [1, 2, 3]);
  assert.deepEqual(garbage, ["not json"]);
});

Deno.test("LineChannel.send() writes one JSON line per message, in order", async () => {
  const written: string[] = [];
  const decoder = new TextDecoder();
  const channel = new LineChannel<never, { t: string }>(
    readableOf([]),
    new WritableStream({
      write: (chunk) => void written.push(decoder.decode(chunk)),
    }),
  );
  channel.send({ t: "a" });
  channel.send({ t: "b" });
  await channel.close();
  assert.equal(written.join(""), '{"t":"a"}\n{"t":"b"}\n');
});
