/**
 * Zen and echo cases every model must pass, written once against a running
 * daemon's ports (Hono's shared router suite, here for concurrency models).
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, readAll, readUntil, send } from "../_helpers.ts";
import type { Ports } from "./models.ts";

/** One conformance case. */
export interface Case {
  name: string;
  run(ports: Ports): Promise<void>;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Zen: answers, pipelining, framing and bad input. */
export const ZEN_CASES: readonly Case[] = [
  {
    name: "zen answers a question",
    async run(ports) {
      using conn = await connect(ports.zen);
      await send(conn, "Beautiful is better than?");
      assert.equal((await readUntil(conn, ".")).text, "ugly.");
    },
  },
  {
    name: "zen answers several questions sent in one write, in order",
    async run(ports) {
      using conn = await connect(ports.zen);
      await send(
        conn,
        "Beautiful is better than?Readability?\n Now is better than?",
      );
      const { text } = await readUntil(
        conn,
        (t) => t.split(".").length > 3,
      );
      assert.equal(text, "ugly.counts.never.");
    },
  },
  {
    name: "zen answers one question split over several writes",
    async run(ports) {
      using conn = await connect(ports.zen);
      for (const part of ["Expli", "cit is better", " than", "?"]) {
        await send(conn, part);
        await pause(30);
      }
      assert.equal((await readUntil(conn, ".")).text, "implicit.");
    },
  },
  {
    name: "zen keeps one connection for many questions",
    async run(ports) {
      using conn = await connect(ports.zen);
      for (
        const [question, answer] of [
          ["Simple is better than?", "complex."],
          ["Flat is better than?", "nested."],
          ["Sparse is better than?", "dense."],
        ]
      ) {
        await send(conn, question!);
        assert.equal((await readUntil(conn, ".")).text, answer);
      }
    },
  },
  {
    name: "zen answers an unknown aphorism with the error",
    async run(ports) {
      using conn = await connect(ports.zen);
      await send(conn, "Is this the real life?");
      assert.equal(
        (await readUntil(conn, ".")).text,
        "Error: unknown aphorism.",
      );
    },
  },
  {
    name: "zen answers a too long question with the error, then closes",
    async run(ports) {
      using conn = await connect(ports.zen);
      await send(conn, "x".repeat(2000));
      assert.equal(await readAll(conn), "Error: question too long.");
    },
  },
];

/** Echo (RFC 862). */
export const ECHO_CASES: readonly Case[] = [
  {
    name: "echo returns every byte, over many writes",
    async run(ports) {
      using conn = await connect(ports.echo);
      const sent = crypto.getRandomValues(new Uint8Array(50_000));
      const received = new Uint8Array(sent.length);
      let got = 0;
      const reading = (async () => {
        while (got < sent.length) {
          const n = await conn.read(received.subarray(got));
          if (n === null) break;
          got += n;
        }
      })();
      for (let at = 0; at < sent.length; at += 7_000) {
        await send(conn, sent.subarray(at, at + 7_000));
      }
      await reading;
      assert.equal(got, sent.length);
      assert.deepEqual(received, sent);
    },
  },
];
