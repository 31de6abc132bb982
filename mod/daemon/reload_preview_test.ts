import assert from "node:assert/strict";
import type { Address } from "../config/address.ts";
import { ConfigError } from "../config/load.ts";
import { configOf } from "../config/_testing.ts";
import { freePort } from "../net/free_port.ts";
import { loadGeneration } from "./load_generation.ts";
import {
  previewLines,
  previewReload,
  recordLoadOptions,
} from "./reload_preview.ts";
import type { RunningRecord } from "./running_record.ts";

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "koan-preview-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A record of a daemon started with `--config path`, running `raw`. */
function recordOf(path: string, raw: Record<string, unknown>): RunningRecord {
  return {
    pid: 4242,
    options: { path },
    env: {},
    cwd: Deno.cwd(),
    configPath: path,
    inherited: [],
    config: configOf(raw).config,
    writtenAt: "2025-01-01T00:00:00.000Z",
  };
}

const ZEN = (port: number) =>
  `[[listener]]\nprotocol = "zen"\naddress = "127.0.0.1:${port}"\nworkers = 1\n`;

Deno.test("recordLoadOptions() reads $KOAN_CONFIG from the record, never from the caller", () => {
  const options = recordLoadOptions({ options: {}, env: {} });
  assert.equal(options.env?.("KOAN_CONFIG"), undefined);
  assert.equal(options.env?.("HOME"), undefined);
  const given = recordLoadOptions({
    options: { path: "/k.toml" },
    env: { KOAN_CONFIG: "/e.toml" },
  });
  assert.equal(given.path, "/k.toml");
  assert.equal(given.env?.("KOAN_CONFIG"), "/e.toml");
});

Deno.test("previewReload() compares the edited file with the running config", async () => {
  await withDir(async (dir) => {
    const port = freePort();
    const path = `${dir}/koan.toml`;
    await Deno.writeTextFile(
      path,
      ZEN(port) + "[limits]\nmax_connections = 5\n",
    );
    const record = recordOf(path, {
      listener: [{
        protocol: "zen",
        address: `127.0.0.1:${port}`,
        workers: 1,
      }],
    });
    const preview = await previewReload(record, {
      probe: () => Promise.resolve(),
    });
    assert.equal(preview.path, path);
    assert.deepEqual(previewLines(preview), [
      "limits.max_connections: 10000 → 5",
      `workers kept: zen 127.0.0.1:${port} (async): updated in place`,
    ]);
  });
});

Deno.test("previewReload() throws the ConfigError the daemon would log", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/koan.toml`;
    await Deno.writeTextFile(path, "[zen]\nbogus = 1\n");
    await assert.rejects(
      previewReload(recordOf(path, {})),
      (e: unknown) =>
        e instanceof ConfigError && e.message === "zen.bogus: unknown key",
    );
  });
});

Deno.test("previewReload() probes only added addresses, and says why one would not start", async () => {
  await withDir(async (dir) => {
    const [kept, taken, free] = [freePort(), freePort(), freePort()];
    const path = `${dir}/koan.toml`;
    await Deno.writeTextFile(
      path,
      ZEN(kept) +
        `[[listener]]\nprotocol = "echo"\naddress = "127.0.0.1:${taken}"\n` +
        `[[listener]]\nprotocol = "echo"\naddress = "127.0.0.1:${free}"\n`,
    );
    const probed: string[] = [];
    const preview = await previewReload(
      recordOf(path, {
        listener: [{
          protocol: "zen",
          address: `127.0.0.1:${kept}`,
          workers: 1,
        }],
      }),
      {
        probe: (address: Address) => {
          probed.push(`${address.hostname}:${address.port}`);
          return address.port === taken
            ? Promise.reject(new Deno.errors.AddrInUse("in use"))
            : Promise.resolve();
        },
      },
    );
    assert.deepEqual(probed, [`127.0.0.1:${taken}`, `127.0.0.1:${free}`]);
    assert.deepEqual(
      previewLines(preview).filter((line) => line.includes(`:${taken}`)),
      [
        `listener echo 127.0.0.1:${taken}: added (async)`,
        `listener echo 127.0.0.1:${taken}: address in use: the reload would go on without it`,
      ],
    );
  });
});

Deno.test("previewReload() finds an address in use with the daemon's own probe", async () => {
  await withDir(async (dir) => {
    using holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (holder.addr as Deno.NetAddr).port;
    const path = `${dir}/koan.toml`;
    await Deno.writeTextFile(path, ZEN(port));
    const preview = await previewReload(recordOf(path, {}));
    assert.deepEqual(preview.unavailable, [
      { name: `zen 127.0.0.1:${port}`, reason: "address in use" },
    ]);
  });
});

Deno.test("loadGeneration() with dryRun leaves no log file behind; without, the plan creates it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/koan.toml`;
    await Deno.writeTextFile(
      path,
      `[log]\nfile = "${dir}/koan.log"\naccess_file = "${dir}/access.log"\n`,
    );
    await Deno.writeTextFile(`${dir}/access.log`, "kept\n");
    await loadGeneration({ path }, { dryRun: true });
    await assert.rejects(Deno.lstat(`${dir}/koan.log`), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(`${dir}/access.log`), "kept\n");
    await loadGeneration({ path });
    assert.ok((await Deno.lstat(`${dir}/koan.log`)).isFile);
  });
});
