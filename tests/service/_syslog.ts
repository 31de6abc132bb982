/**
 * A unix datagram socket standing in for `/dev/log`: a test binds it,
 * points koan at it (`[log] file = "syslog:/path"`) and reads the RFC 5424
 * messages koan sent.
 *
 * @module
 */

const decoder = new TextDecoder();

/** One RFC 5424 message as koan writes it: `<PRI>1 TIME HOST koan PID - - MSG`. */
export interface SyslogMessage {
  /** Facility × 8 + severity. */
  pri: number;
  facility: number;
  severity: number;
  time: string;
  host: string;
  app: string;
  pid: number;
  msg: string;
  /** The datagram as received. */
  raw: string;
}

const RFC5424 = /^<(\d+)>1 (\S+) (\S+) (\S+) (\d+) - - ([^]*)$/;

/** Parses one of koan's syslog datagrams; throws on any other shape. */
export function parseSyslog(raw: string): SyslogMessage {
  const match = RFC5424.exec(raw);
  if (!match) {
    throw new Error(`not an RFC 5424 message: ${JSON.stringify(raw)}`);
  }
  const pri = Number(match[1]);
  return {
    pri,
    facility: pri >> 3,
    severity: pri & 7,
    time: match[2]!,
    host: match[3]!,
    app: match[4]!,
    pid: Number(match[5]),
    msg: match[6]!,
    raw,
  };
}

/** A bound syslog socket collecting every message; `await using` closes it. */
export class SyslogSocket implements AsyncDisposable {
  readonly path: string;
  readonly messages: SyslogMessage[] = [];
  #socket: Deno.DatagramConn;
  #done: Promise<void>;
  #wake: (() => void)[] = [];

  /** Binds `dir/log`. */
  constructor(dir: string) {
    this.path = `${dir}/log`;
    this.#socket = Deno.listenDatagram({
      transport: "unixpacket",
      path: this.path,
    });
    this.#done = this.#pump();
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const [data] = await this.#socket.receive();
        this.messages.push(parseSyslog(decoder.decode(data)));
        for (const wake of this.#wake.splice(0)) wake();
      }
    } catch (error) {
      // Closed by dispose: the pending receive fails with BadResource or
      // Interrupted (either may come first). Anything else, a datagram
      // that is not koan's RFC 5424 included, fails the test at dispose.
      if (
        !(error instanceof Deno.errors.BadResource) &&
        !(error instanceof Deno.errors.Interrupted)
      ) throw error;
    }
  }

  /** Waits for a message that passes `test` (15 s at most) and returns it. */
  async waitFor(
    test: (message: SyslogMessage) => boolean,
    what: string,
    timeoutMs = 15_000,
  ): Promise<SyslogMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(test);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `no syslog message ${what}; got:\n${
            this.messages.map((m) => m.raw).join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.close();
    await this.#done;
  }
}
