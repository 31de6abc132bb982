/**
 * The conformance suite: the same cases against every concurrency model,
 * each model serving Zen, echo and HTTP from a real daemon process.
 */
import assert from "node:assert/strict";
import { childProcesses, eventually, listeningSockets } from "../_helpers.ts";
import { ECHO_CASES, ZEN_CASES } from "./cases.ts";
import { HTTP_CASES } from "./http_cases.ts";
import { cleanStopCase, LIMITS_SECTIONS, limitsCase } from "./limits_cases.ts";
import { MODELS_UNDER_TEST, startModelDaemon, WORKERS } from "./models.ts";
import { refuseAtOnceCase, STOP_SECTIONS } from "./stop_cases.ts";

for (const model of MODELS_UNDER_TEST) {
  Deno.test(`conformance (${model.name}): protocols`, async (t) => {
    await using served = await startModelDaemon(model);
    for (const conformance of [...ZEN_CASES, ...ECHO_CASES, ...HTTP_CASES]) {
      await t.step(conformance.name, () => conformance.run(served.ports));
    }
    if (model.pool) {
      await t.step(`${WORKERS} workers per listener`, () => {
        const { daemon, ports } = served;
        for (const port of Object.values(ports)) {
          const accepting = new RegExp(
            `\\[(w\\d+) (\\d+)\\] koan\\.worker: w\\d+ accepting on 127\\.0\\.0\\.1:${port} \\(${model.pool}`,
            "g",
          );
          const workers = [...daemon.log.matchAll(accepting)];
          assert.equal(new Set(workers.map((m) => m[1])).size, WORKERS);
          const pids = new Set(workers.map((m) => Number(m[2])));
          assert.equal(
            listeningSockets(port),
            1,
            "one listening socket, shared by every worker",
          );
          if (model.pool === "thread") {
            assert.deepEqual([...pids], [daemon.pid], "threads share the pid");
          } else {
            assert.equal(pids.size, WORKERS, "one process per worker");
          }
        }
        if (model.pool === "process") {
          const children = childProcesses(daemon.pid)
            .filter((child) => child.cmdline.includes("_worker pool"));
          assert.equal(children.length, WORKERS * 3);
        }
      });
    } else {
      await t.step(
        "no child process is left once clients are gone",
        async () => {
          await eventually(
            () => childProcesses(served.daemon.pid).length === 0,
            "every connection child reaped",
          );
        },
      );
    }
  });

  Deno.test(`conformance (${model.name}): limits and clean stop`, async (t) => {
    await using served = await startModelDaemon(model, {
      sections: LIMITS_SECTIONS,
    });
    await t.step(
      model.oneAtATime
        ? "one connection at a time; the next waits its turn"
        : "max_per_source and max_connections refuse the excess",
      () => limitsCase(model, served.ports),
    );
    await t.step(
      "SIGTERM delivers the in-flight answer, exits 0, leaves no child",
      () => cleanStopCase(served.daemon, served.ports),
    );
  });

  Deno.test(`conformance (${model.name}): SIGTERM refuses new clients at once`, async () => {
    await using served = await startModelDaemon(model, {
      sections: STOP_SECTIONS,
    });
    await refuseAtOnceCase(served.daemon, served.ports);
  });
}
