import assert from "node:assert/strict";
import { bindListeningFd, type RawTcp } from "../../net/fd_tcp.ts";
import { freePort } from "../../net/free_port.ts";
import { HandbackRouter, type HandbackWorker } from "./handback.ts";

function worker(name: string, log: string[]): HandbackWorker<string> & {
  got: string[];
  waiting: boolean[];
} {
  const got: string[] = [];
  const waiting: boolean[] = [];
  return {
    got,
    waiting,
    deliver: (conn) => {
      got.push(conn);
      log.push(`${name}<-${conn}`);
      return true;
    },
    queued: (w) => waiting.push(w),
  };
}

Deno.test("HandbackRouter: waits for room, oldest first, to the worker with the most room", () => {
  const log: string[] = [];
  const discarded: string[] = [];
  const router = new HandbackRouter<string>((conn) => discarded.push(conn));
  const a = worker("a", log);
  const b = worker("b", log);
  router.slots(a, 0);
  router.slots(b, 0);
  router.offer("c1");
  router.offer("c2");
  assert.equal(router.queued, 2);
  assert.deepEqual(a.waiting, [true], "told to take from the master");
  router.slots(b, 1);
  assert.deepEqual(b.got, ["c1"]);
  router.slots(a, 2);
  assert.deepEqual(a.got, ["c2"]);
  assert.equal(router.queued, 0);
  assert.deepEqual(a.waiting, [true, false]);
  router.close();
  router.offer("late");
  assert.deepEqual(discarded, ["late"]);
});

Deno.test("HandbackRouter: a report overtaken by a hand-over does not promise a slot twice", () => {
  const router = new HandbackRouter<string>(() => {});
  const a = worker("a", []);
  router.slots(a, 1, 0);
  router.offer("c1"); // sent; a has adopted none yet
  router.offer("c2");
  // A stale report (sent before c1 arrived) still says one free slot.
  router.slots(a, 1, 0);
  assert.deepEqual(a.got, ["c1"], "c2 waits: a's slot went to c1");
  router.slots(a, 1, 1); // c1 done, and adopted
  assert.deepEqual(a.got, ["c1", "c2"]);
});

Deno.test("HandbackRouter: a worker that is gone is skipped", () => {
  const router = new HandbackRouter<string>(() => {});
  const gone: HandbackWorker<string> = {
    deliver: () => false,
    queued: () => {},
  };
  const b = worker("b", []);
  router.slots(gone, 5);
  router.slots(b, 1);
  router.offer("c1");
  assert.deepEqual(b.got, ["c1"]);
});

Deno.test("HandbackRouter: flushAll() passes every waiting connection on at a drain, room or not, marked forced", () => {
  const forced: string[] = [];
  const router = new HandbackRouter<string>(() => {});
  const take = (name: string): HandbackWorker<string> & { got: string[] } => {
    const got: string[] = [];
    return {
      got,
      deliver: (conn, force) => {
        got.push(conn);
        if (force) forced.push(`${name}<-${conn}`);
        return true;
      },
      queued: () => {},
    };
  };
  const a = take("a");
  const b = take("b");
  router.slots(a, 0);
  router.slots(b, 1);
  router.offer("c1"); // b's free slot
  router.offer("c2");
  router.offer("c3");
  assert.equal(router.queued, 2, "no room left: c2 and c3 wait");
  router.flushAll();
  assert.equal(router.queued, 0);
  // Neither has a free slot now: the first goes to either, the next to
  // the other (the one with the most room, counting what it was sent).
  assert.equal(forced.length, 2, "both passed on, forced");
  assert.notEqual(forced[0]![0], forced[1]![0], "spread over the workers");
  assert.equal(router.sentTo(a) + router.sentTo(b), 3);
});

Deno.test("HandbackRouter: stopAccepting() closes the socket the master accepts from at once, and keeps what waits", async () => {
  const port = freePort();
  const router = new HandbackRouter<RawTcp>((raw) => raw.close());
  const got: RawTcp[] = [];
  const a: HandbackWorker<RawTcp> = {
    deliver: (raw) => {
      got.push(raw);
      return true;
    },
    queued: () => {},
  };
  router.listen(bindListeningFd("127.0.0.1", port), (raw) => raw);
  router.slots(a, 1);
  assert.equal(router.listening, true);
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  for (let i = 0; i < 200 && got.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(got.length, 1, "accepted while a worker had room");
  router.stopAccepting();
  assert.equal(router.listening, false);
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  router.offer(got[0]!); // given back: waits for room, not closed
  assert.equal(router.queued, 1);
  router.close();
  first.close();
});
