/**
 * Entry module of one `thread-per-connection` worker: serves a single
 * connection whose socket stays in the main thread, over a transport that
 * relays by message (see `conn_thread_messages.ts`), then says `done` and
 * is terminated. It logs for itself, tagged `c12`.
 *
 * Loaded by URL from `thread_per_connection.ts`; `deno compile` must
 * `--include` it.
 *
 * @module
 */
import { reopenLogs } from "../../log/log.ts";
import type { Transport } from "../../protocols/contract.ts";
import { serveRelayed } from "./serve_relayed.ts";
import { PushedInput } from "./pushed_input.ts";
import type { FromConnWorker, ToConnWorker } from "./thread_messages.ts";

const scope = self as unknown as {
  postMessage(message: FromConnWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToConnWorker>) => void) | null;
};

const post = (message: FromConnWorker, transfer: Transferable[] = []) =>
  scope.postMessage(message, transfer);

/** The relayed connection: bytes pushed in, writes acknowledged one by one. */
class RelayTransport implements Transport {
  #closed = false;
  #input: PushedInput;
  #writes: ((ok: boolean) => void)[] = [];

  constructor(input: PushedInput) {
    this.#input = input;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#input.read(buffer);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error("Connection is closed");
    // Copy: the bytes may be a view on a shared table that transfer would detach.
    const copy = bytes.slice();
    const ok = await new Promise<boolean>((resolve) => {
      this.#writes.push(resolve);
      post({ t: "write", buffer: copy.buffer }, [copy.buffer]);
    });
    if (!ok) throw new Error("Connection is closed");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    post({ t: "close" });
    this.#input.close();
    for (const resolve of this.#writes.splice(0)) resolve(false);
  }

  /** Delivers the acknowledgement of the oldest pending write. */
  acknowledge(ok: boolean): void {
    this.#writes.shift()?.(ok);
  }
}

const draining = new AbortController();
const input = new PushedInput(draining, () => post({ t: "consumed" }));
const transport = new RelayTransport(input);

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.t) {
    case "init":
      void serve(message);
      break;
    case "data":
      input.push(new Uint8Array(message.buffer, 0, message.length));
      break;
    case "eof":
      input.end();
      break;
    case "wrote":
      transport.acknowledge(message.ok);
      break;
    case "drain":
      input.drain();
      break;
    case "reopen":
      reopenLogs();
      break;
  }
};

async function serve(
  init: Extract<ToConnWorker, { t: "init" }>,
): Promise<void> {
  try {
    await serveRelayed(init, transport, draining);
  } finally {
    post({ t: "done" });
  }
}
