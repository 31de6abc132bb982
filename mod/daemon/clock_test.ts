import assert from "node:assert/strict";
import { monotonicMicros, monotonicSource, uptimeMicros } from "./clock.ts";

Deno.test("uptimeMicros() rounds /proc/uptime up to its 10 ms resolution", () => {
  assert.equal(uptimeMicros("0.00 0.00\n"), 10_000n);
  assert.equal(uptimeMicros("86400.99 1.00\n"), 86_401_000_000n);
  assert.throws(() => uptimeMicros("soon"), SyntaxError);
});

function kernelMonotonicMicros(): bigint | undefined {
  // /proc/timer_list shows CLOCK_MONOTONIC to root only.
  try {
    const text = Deno.readTextFileSync("/proc/timer_list");
    const now = /now at (\d+) nsecs/.exec(text)?.[1];
    return now === undefined ? undefined : BigInt(now) / 1000n;
  } catch {
    return undefined;
  }
}

Deno.test("monotonicMicros() reads CLOCK_MONOTONIC: between two kernel readings", () => {
  assert.equal(monotonicSource(), "clock_gettime");
  const before = kernelMonotonicMicros();
  const ours = monotonicMicros();
  const after = kernelMonotonicMicros();
  assert.ok(ours !== undefined);
  if (before !== undefined && after !== undefined) {
    assert.ok(
      before <= ours && ours <= after,
      `${before} <= ${ours} <= ${after}`,
    );
  } else {
    // Not root: CLOCK_BOOTTIME is never behind CLOCK_MONOTONIC.
    assert.ok(ours <= uptimeMicros(Deno.readTextFileSync("/proc/uptime")));
  }
});
