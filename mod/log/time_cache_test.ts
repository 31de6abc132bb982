import assert from "node:assert/strict";
import { TimeCache } from "./time_cache.ts";

const decoder = new TextDecoder();

function inZone(tz: string, body: () => void): void {
  const before = Deno.env.get("TZ");
  Deno.env.set("TZ", tz);
  try {
    body();
  } finally {
    if (before === undefined) Deno.env.delete("TZ");
    else Deno.env.set("TZ", before);
  }
}

Deno.test("TimeCache renders nginx's $time_local and $time_iso8601 in local time", () => {
  const at = Date.UTC(2026, 0, 5, 23, 4, 9, 7);
  const cases: [string, string, string][] = [
    ["UTC", "05/Jan/2026:23:04:09 +0000", "2026-01-05T23:04:09+00:00"],
    ["Asia/Kolkata", "06/Jan/2026:04:34:09 +0530", "2026-01-06T04:34:09+05:30"],
    [
      "America/St_Johns",
      "05/Jan/2026:19:34:09 -0330",
      "2026-01-05T19:34:09-03:30",
    ],
  ];
  for (const [tz, local, iso] of cases) {
    inZone(tz, () => {
      const time = new TimeCache(() => at);
      time.update();
      assert.equal(decoder.decode(time.local), local, tz);
      assert.equal(decoder.decode(time.iso8601), iso, tz);
      assert.equal(decoder.decode(time.utcSecond), "2026-01-05T23:04:09.");
      assert.equal(time.ms, 7);
      assert.equal(time.now, at);
    });
  }
});

Deno.test("TimeCache renders once per second", () => {
  let now = Date.UTC(2026, 11, 2, 5, 19, 1, 0);
  const time = new TimeCache(() => now);
  time.update();
  const first = time.local;
  now += 999;
  time.update();
  assert.equal(
    time.local,
    first,
    "same second: the same bytes, not rendered again",
  );
  assert.equal(time.ms, 999);
  now += 1;
  time.update();
  assert.notEqual(time.local, first);
  assert.equal(decoder.decode(time.local).slice(0, 20), "02/Dec/2026:05:19:02");
  assert.equal(time.ms, 0);
});
