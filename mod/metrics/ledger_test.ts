import assert from "node:assert/strict";
import {
  describeEvent,
  Ledger,
  LEDGER_SIZE,
  type LossEvent,
  parseLedgerLines,
} from "./ledger.ts";
import { emptySnapshot, metrics, type MetricsSnapshot } from "./registry.ts";

function refusals(counts: Record<string, number>): MetricsSnapshot {
  const snapshot = emptySnapshot();
  for (const [listener, n] of Object.entries(counts)) {
    snapshot.counters[
      `koan_connections_refused_total{listener="${listener}",reason="max_connections"}`
    ] = n;
  }
  return snapshot;
}

Deno.test("ledger: a stop is one event, logged, counted into the metric", () => {
  const seen: LossEvent[] = [];
  const ledger = new Ledger((event) => seen.push(event));
  const key =
    'koan_lost_connections_total{event="stop",protocol="zen",reason="shutdown_timeout"}';
  const before = metrics.snapshot().counters[key] ?? 0;
  const event = ledger.record("stop", {
    refused: 0,
    cut: 3,
    undelivered: 3,
    closed: 9,
  }, { protocol: "zen", reason: "shutdown_timeout" });
  assert.equal(event.total, 12);
  assert.deepEqual(seen, [event]);
  assert.equal(metrics.snapshot().counters[key], before + 3);
  assert.match(
    describeEvent(event),
    /^stop \d\d:\d\d:\d\d — 3 lost of 12 \(0 refused, 3 cut, 3 answers not delivered, 9 closed normally\) reason shutdown_timeout$/,
  );
});

Deno.test("ledger: a reload that lost nothing still shows in the metric", () => {
  const ledger = new Ledger();
  const key =
    'koan_lost_connections_total{event="reload",protocol="all",reason="none"}';
  ledger.record("reload", { refused: 0, cut: 0, undelivered: 0, closed: 0 });
  assert.ok(key in metrics.snapshot().counters);
});

Deno.test("ledger: refusals become one event per listener and second", () => {
  const seen: LossEvent[] = [];
  const ledger = new Ledger((event) => seen.push(event));
  const protocolOf = (listener: string) =>
    listener === "127.0.0.1:1" ? "zen" : "http";
  ledger.observe(refusals({ "127.0.0.1:1": 4 }), protocolOf); // baseline
  assert.equal(seen.length, 0);
  ledger.observe(refusals({ "127.0.0.1:1": 4 }), protocolOf);
  assert.equal(seen.length, 0, "no growth, no event");
  ledger.observe(
    refusals({ "127.0.0.1:1": 9, "127.0.0.1:2": 2 }),
    protocolOf,
  );
  assert.deepEqual(
    seen.map((e) => [e.kind, e.listener, e.protocol, e.reason, e.refused]),
    [
      ["refusal", "zen 127.0.0.1:1", "zen", "max_connections", 5],
      ["refusal", "http 127.0.0.1:2", "http", "max_connections", 2],
    ],
  );
});

Deno.test("ledger: keeps the last LEDGER_SIZE events", () => {
  const ledger = new Ledger();
  for (let i = 0; i < LEDGER_SIZE + 5; i++) {
    ledger.record("recycle", { refused: 0, cut: 0, undelivered: 0, closed: i });
  }
  const events = ledger.events();
  assert.equal(events.length, LEDGER_SIZE);
  assert.equal(events[0]!.closed, 5);
});

Deno.test("ledger: a logged line reads back as the event", () => {
  const event = new Ledger().record("crash", {
    refused: 0,
    cut: 2,
    undelivered: 2,
    closed: 0,
  }, { protocol: "zen", listener: "zen 127.0.0.1:1060", reason: "SIGKILL" });
  const [read] = parseLedgerLines(
    `2026-12-02T12:00:00Z INFO koan.daemon: ledger: ${describeEvent(event)}\n`,
  );
  assert.deepEqual(read, {
    kind: "crash",
    lost: 2,
    total: 2,
    refused: 0,
    cut: 2,
    undelivered: 2,
    closed: 0,
    reason: "SIGKILL",
    listener: "zen 127.0.0.1:1060",
  });
});
