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

function snapshot(): Row[] {
  const output = new Deno.Command("ps", {
    args: ["-e", "-o", "pid=,ppid=,rss="],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(output.stdout).trim().split("\n").map(
    (line) => {
      const [pid, ppid, rss] = line.trim().split(/\s+/).map(Number);
      return { pid: pid!, ppid: ppid!, rssBytes: (rss ?? 0) * 1024 };
    },
  );
}

/** RSS of `pid` and all its descendants, in bytes (0 if gone). */
export function treeRss(pid: number): number {
  const rows = snapshot();
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

/** Samples `treeRss(pid)` every `everyMs` until stopped; returns the peak. */
export function peakRss(pid: number, everyMs = 200): { stop(): number } {
  let peak = treeRss(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRss(pid));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, treeRss(pid));
    },
  };
}
