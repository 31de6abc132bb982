/**
 * `deno task bench`: koan's standard measurements, each side by side with
 * a baseline in the same run (ratios, not absolute times). Results are
 * printed and written to dist/bench/ (kept out of git).
 *
 * Usage: deno task bench [--seconds N] [--only zen,many,http,models]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { benchManyConnections, benchZen } from "./zen.ts";
import { benchModels, formatRows } from "./models.ts";
import { benchHttp } from "./http.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "5" },
    only: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const only = values.only ? new Set(values.only.split(",")) : undefined;
const wanted = (name: string) => !only || only.has(name);
const report: Record<string, unknown> = { date: new Date().toISOString() };

function table(rows: Record<string, unknown>[]): void {
  console.table(rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map((
        [k, v],
      ) => [k, typeof v === "number" ? Number(v.toFixed(2)) : v]),
    )
  ));
}

if (wanted("zen")) {
  console.log(
    `\n== Zen QPS, 50 closed-loop clients, ${seconds} s x 3 rounds ==`,
  );
  const { rows, ratio } = await benchZen({ seconds });
  table(rows as unknown as Record<string, unknown>[]);
  console.log(
    `koan async / raw baseline = ${ratio.toFixed(2)}x (target >= 0.8x)`,
  );
  report.zen = { rows, ratio };
}

if (wanted("many")) {
  console.log("\n== 10,000 concurrent Zen connections (koan async) ==");
  try {
    const many = await benchManyConnections(10_000);
    console.log(
      `${many.answered}/${many.connections} answered, ${many.refused} refused, ` +
        `RSS ${(many.rssBytes / 2 ** 20).toFixed(1)} MiB (target <= 300), ${
          many.seconds.toFixed(1)
        } s`,
    );
    report.many = many;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    console.log(`skipped: ${error.message}`);
  }
}

if (wanted("http")) {
  console.log(
    `\n== HTTP GET /, 50 keep-alive connections (wrk), ${seconds} s x 3 rounds ==`,
  );
  const rows = await benchHttp({ seconds, connections: 50 });
  table(rows.map((row) => ({
    ...row,
    rps: row.name.startsWith("ratio") ? `${row.rps.toFixed(2)}x` : row.rps,
  })) as unknown as Record<string, unknown>[]);
  console.log("target: keep-alive ratio >= 0.9x");
  report.http = rows;
}

if (wanted("models")) {
  console.log(
    `\n== Every model x (Zen fast, Zen 50 ms blocking work, HTTP keep-alive), ${seconds} s each ==`,
  );
  const rows = await benchModels({
    seconds,
    onProgress: (workload, model) => console.error(`  ${workload} / ${model}`),
  });
  console.log(formatRows(rows));
  report.models = rows;
}

await Deno.mkdir(new URL("../../../dist/bench/", import.meta.url), {
  recursive: true,
});
const out = new URL(
  `../../../dist/bench/bench-${Date.now()}.json`,
  import.meta.url,
);
await Deno.writeTextFile(out, JSON.stringify(report, null, 2));
console.log(`\nresults written to ${out.pathname}`);
