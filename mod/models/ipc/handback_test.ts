import assert from "node:assert/strict";
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
