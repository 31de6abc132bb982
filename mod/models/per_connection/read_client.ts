/**
 * The accepting side's read of a relayed client, shared by both
 * per-connection models: a reset, or a close once the child is done, is
 * the end of input; anything else is logged and ends it too, because the
 * relay's cleanup must run whatever happened.
 *
 * @module
 */
import { log } from "../../log/log.ts";
import {
  type ConnectionContext,
  isConnectionError,
  type Transport,
} from "../../protocols/contract.ts";

const logger = log("model");

/** Reads the client into `buffer`; `null` at the end of input, however it came. */
export async function readClient(
  transport: Transport,
  buffer: Uint8Array,
  context: ConnectionContext,
): Promise<number | null> {
  try {
    return await transport.read(buffer);
  } catch (error) {
    if (!isConnectionError(error)) {
      logger.debug("reading from {peer} failed: {error}", {
        peer: context.info.peer,
        error: (error as Error)?.stack ?? String(error),
      });
    }
    return null;
  }
}
