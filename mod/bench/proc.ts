/**
 * Process facts for benchmarks: resident memory of a process tree (workers
 * as child processes included). Read through `ps`, because Deno grants
 * /proc/<other pid>/ only with --allow-all, which benchmarks do not take.
 *
 * @module
 */

interface Row {
  pid: number;
  ppid: number;
  rssBytes: number;
}

async function snapshot(): Promise<Row[]> {
  // Asynchronous, so sampling never stalls the load generator's event loop.
  const output = await new Deno.Command("ps", {
    args: ["-e", "-o", "pid=,ppid=,rss="],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout).trim().split("\n").map(
    (line) => {
      const [pid, ppid, rss] = line.trim().split(/\s+/).map(Number);
      return { pid: pid!, ppid: ppid!, rssBytes: (rss ?? 0) * 1024 };
    },
  );
}

/** RSS of `pid` and all its descendants, in bytes (0 if gone). */
export async function treeRss(pid: number): Promise<number> {
  const rows = await snapshot();
  const byParent = new Map<number, Row[]>();
  for (const row of rows) {
    const siblings = byParent.get(row.ppid) ?? [];
    siblings.push(row);
    byParent.set(row.ppid, siblings);
  }
  let total = rows.find((row) => row.pid === pid)?.rssBytes ?? 0;
  const stack = [pid];
  while (stack.length > 0) {
    for (const child of byParent.get(stack.pop()!) ?? []) {
      total += child.rssBytes;
      stack.push(child.pid);
    }
  }
  return total;
}

/** Samples `treeRss(pid)` every `everyMs` until stopped; `stop()` gives the peak. */
export function peakRss(
  pid: number,
  everyMs = 500,
): { stop(): Promise<number> } {
  let peak = 0;
  let stopped = false;
  const sample = async () => {
    const rss = await treeRss(pid);
    if (!stopped) peak = Math.max(peak, rss);
  };
  let pending = sample();
  const timer = setInterval(() => {
    pending = pending.then(sample);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await pending.then(sample);
      stopped = true;
      return peak;
    },
  };
}
