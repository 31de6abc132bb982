import assert from "node:assert/strict";
import { PROTOCOL_NAMES } from "../config/settings.ts";
import type { ProtocolName } from "./contract.ts";
import { loadProtocol } from "./load.ts";
import { protocolFor } from "./registry.ts";

Deno.test("loadProtocol() gives the registry's protocol for every name", async () => {
  for (const name of PROTOCOL_NAMES) {
    const loaded = await loadProtocol(name);
    assert.equal(loaded.name, name);
    assert.equal(loaded, protocolFor(name));
  }
});

Deno.test("loadProtocol() rejects a name koan does not serve", async () => {
  await assert.rejects(
    () => loadProtocol("gopher" as ProtocolName),
    (error: Error) =>
      error instanceof RangeError &&
      /"gopher" is not available/.test(error.message),
  );
});
