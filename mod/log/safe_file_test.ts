import assert from "node:assert/strict";
import {
  openAppendSafely,
  removeFileHolding,
  replaceFileSafely,
} from "./safe_file.ts";

/** Runs `body` in a fresh temp directory, removed afterwards. */
async function inTempDir(body: (dir: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "koan-safe-file-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `body` under `mask`, then puts the umask back. */
function underUmask(mask: number, body: () => void): void {
  const previous = Deno.umask(mask);
  try {
    body();
  } finally {
    Deno.umask(previous);
  }
}

function modeOf(path: string): number {
  return Deno.lstatSync(path).mode! & 0o777;
}

const encoder = new TextEncoder();

Deno.test("openAppendSafely() creates a missing file 0640 even under umask 000", async () => {
  await inTempDir((dir) => {
    underUmask(0o000, () => openAppendSafely(`${dir}/koan.log`).close());
    assert.equal(modeOf(`${dir}/koan.log`).toString(8), "640");
    underUmask(
      0o000,
      () => openAppendSafely(`${dir}/other.log`, { mode: 0o600 }).close(),
    );
    assert.equal(modeOf(`${dir}/other.log`).toString(8), "600");
  });
});

Deno.test("openAppendSafely() lets a stricter umask narrow the mode, never widen it", async () => {
  await inTempDir((dir) => {
    underUmask(0o077, () => openAppendSafely(`${dir}/koan.log`).close());
    assert.equal(modeOf(`${dir}/koan.log`).toString(8), "600");
  });
});

Deno.test("openAppendSafely() appends to an existing file and leaves its mode alone", async () => {
  await inTempDir((dir) => {
    const path = `${dir}/koan.log`;
    Deno.writeTextFileSync(path, "old\n", { mode: 0o644 });
    Deno.chmodSync(path, 0o644);
    const file = openAppendSafely(path);
    file.writeSync(encoder.encode("new\n"));
    file.close();
    assert.equal(Deno.readTextFileSync(path), "old\nnew\n");
    assert.equal(modeOf(path).toString(8), "644");
  });
});

Deno.test("openAppendSafely() refuses a symlink, dangling or not, and writes nothing through it", async () => {
  await inTempDir((dir) => {
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "precious\n");
    Deno.symlinkSync(victim, `${dir}/koan.log`);
    Deno.symlinkSync(`${dir}/nowhere`, `${dir}/dangling.log`);
    for (const name of ["koan.log", "dangling.log"]) {
      const path = `${dir}/${name}`;
      assert.throws(
        () => openAppendSafely(path),
        (error: Error) =>
          error.message ===
            `Cannot open "${path}": it is a symlink (koan never writes through one)`,
      );
    }
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.throws(() => Deno.lstatSync(`${dir}/nowhere`), Deno.errors.NotFound);
  });
});

Deno.test("openAppendSafely() refuses a directory, a FIFO and a file with a second name", async () => {
  await inTempDir(async (dir) => {
    const fifo = `${dir}/fifo.log`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(made.code, 0, "mkfifo");
    Deno.writeTextFileSync(`${dir}/victim`, "precious\n");
    Deno.linkSync(`${dir}/victim`, `${dir}/linked.log`);
    const cases = [
      [dir, "it is a directory"],
      [fifo, "it is a FIFO"],
      [`${dir}/linked.log`, "it has 2 hard links"],
    ] as const;
    for (const [path, why] of cases) {
      assert.throws(
        () => openAppendSafely(path),
        (error: Error) =>
          error.message.startsWith(`Cannot open "${path}": ${why}`),
      );
    }
    assert.equal(Deno.readTextFileSync(`${dir}/victim`), "precious\n");
  });
});

Deno.test("openAppendSafely() takes a character device (/dev/null)", () => {
  const file = openAppendSafely("/dev/null");
  file.writeSync(encoder.encode("discarded\n"));
  file.close();
});

Deno.test("openAppendSafely() passes on why a file cannot be created", () => {
  assert.throws(
    () => openAppendSafely("/nonexistent-dir/koan.log"),
    Deno.errors.NotFound,
  );
});

Deno.test("replaceFileSafely() replaces a symlink at the path instead of writing through it", async () => {
  await inTempDir((dir) => {
    const victim = `${dir}/victim`;
    const path = `${dir}/koan.pid`;
    Deno.writeTextFileSync(victim, "precious\n");
    Deno.symlinkSync(victim, path);
    underUmask(0o000, () => replaceFileSafely(path, "42\n"));
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.ok(Deno.lstatSync(path).isFile);
    assert.equal(Deno.readTextFileSync(path), "42\n");
    assert.equal(modeOf(path).toString(8), "644");
    // Again over a regular file; no temporary name is left behind.
    replaceFileSafely(path, "43\n");
    assert.equal(Deno.readTextFileSync(path), "43\n");
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((entry) => entry.name).sort(),
      ["koan.pid", "victim"],
    );
  });
});

Deno.test("replaceFileSafely() leaves nothing behind when the rename fails", async () => {
  await inTempDir((dir) => {
    Deno.mkdirSync(`${dir}/koan.pid`);
    Deno.writeTextFileSync(`${dir}/koan.pid/inside`, "");
    assert.throws(() => replaceFileSafely(`${dir}/koan.pid`, "42\n"));
    assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), [
      "koan.pid",
    ]);
  });
});

Deno.test("removeFileHolding() removes the file only while it holds what was written", async () => {
  await inTempDir((dir) => {
    const path = `${dir}/koan.pid`;
    Deno.writeTextFileSync(path, "42\n");
    assert.equal(removeFileHolding(path, "42"), undefined);
    assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
    assert.equal(removeFileHolding(path, "42"), undefined, "gone already");

    Deno.writeTextFileSync(path, "999999\n");
    assert.equal(removeFileHolding(path, "42"), "999999");
    assert.equal(Deno.readTextFileSync(path), "999999\n");
  });
});

Deno.test("removeFileHolding() leaves a symlink and its target alone", async () => {
  await inTempDir((dir) => {
    const victim = `${dir}/victim`;
    const path = `${dir}/koan.pid`;
    Deno.writeTextFileSync(victim, "42\n");
    Deno.symlinkSync(victim, path);
    assert.match(removeFileHolding(path, "42")!, /it is a symlink/);
    assert.ok(Deno.lstatSync(path).isSymlink);
    assert.equal(Deno.readTextFileSync(victim), "42\n");
  });
});
