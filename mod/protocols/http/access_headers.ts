/**
 * The request headers the access log prints (`$http_referer`,
 * `$http_user_agent`, any `$http_*` of the format), captured from a parsed
 * head before its bytes are reused. Only the names the configured format
 * uses are looked for, and nothing is allocated when none is sent: the
 * parser itself keeps no header it does not act on.
 *
 * @module
 */
import type { AccessRecord } from "../contract.ts";
import { COLON, CR, HTAB, latin1, LF, SP } from "./chars.ts";

/** Header values for one access record. */
type AccessHeaders = NonNullable<AccessRecord["headers"]>;

class CapturedHeaders implements AccessHeaders {
  readonly #names: readonly string[];
  readonly #values: (string | undefined)[];

  constructor(names: readonly string[], values: (string | undefined)[]) {
    this.#names = names;
    this.#values = values;
  }

  get(name: string): string | undefined {
    const i = this.#names.indexOf(name);
    return i < 0 ? undefined : this.#values[i];
  }
}

const encoder = new TextEncoder();
let cachedNames: readonly string[] = [];
let cachedBytes: Uint8Array[] = [];

/** `names` as bytes; the last list asked for is kept (it is the config's). */
function namesAsBytes(names: readonly string[]): Uint8Array[] {
  if (names !== cachedNames) {
    cachedNames = names;
    cachedBytes = names.map((name) => encoder.encode(name));
  }
  return cachedBytes;
}

/**
 * Collects the wanted headers of one head at a time, field line by field
 * line, as the parser walks them: a field whose name differs in length
 * from every wanted name costs one comparison per name.
 *
 * @example Usage
 * ```ts
 * import { HeaderCapture } from "./access_headers.ts";
 * const head = new TextEncoder().encode("User-Agent: curl");
 * const capture = new HeaderCapture(["user-agent"]);
 * capture.field(head, 0, 10, 12, 16);
 * if (capture.end()?.get("user-agent") !== "curl") throw new Error();
 * if (capture.end() !== undefined) throw new Error("one head at a time");
 * ```
 */
export class HeaderCapture {
  readonly #names: readonly string[];
  readonly #wanted: Uint8Array[];
  #values: (string | undefined)[] | undefined;

  /** `names`: lowercase, `-` as sent (`user-agent`). */
  constructor(names: readonly string[]) {
    this.#names = names;
    this.#wanted = namesAsBytes(names);
  }

  /**
   * Offers one field line of a head the parser accepted: its name is
   * `buf[nameStart, nameEnd)`, its value, trimmed, `buf[valueStart, valueEnd)`.
   * The first value of each wanted name is kept.
   */
  field(
    buf: Uint8Array,
    nameStart: number,
    nameEnd: number,
    valueStart: number,
    valueEnd: number,
  ): void {
    const wanted = this.#wanted;
    const length = nameEnd - nameStart;
    outer: for (let k = 0; k < wanted.length; k++) {
      const name = wanted[k]!;
      if (name.length !== length || this.#values?.[k] !== undefined) continue;
      for (let j = 0; j < length; j++) {
        let b = buf[nameStart + j]!;
        if (b >= 0x41 && b <= 0x5a) b += 0x20;
        if (b !== name[j]) continue outer;
      }
      (this.#values ??= new Array(wanted.length))[k] = latin1(
        buf,
        valueStart,
        valueEnd,
      );
      return;
    }
  }

  /** The values of the head offered since the last call, or undefined when none was sent. */
  end(): AccessHeaders | undefined {
    const values = this.#values;
    if (values === undefined) return undefined;
    this.#values = undefined;
    return new CapturedHeaders(this.#names, values);
  }

  /** Drops what a head that was not accepted offered. */
  reset(): void {
    this.#values = undefined;
  }
}

/**
 * The first value of each header in `names` (lowercase, `-` as sent) found
 * in the head `buf[start, end)` — a head the parser has accepted — or
 * undefined when none of them was sent. The parser captures them itself
 * as it goes ({@linkcode HeaderCapture}); this reads a head on its own.
 *
 * @example Usage
 * ```ts
 * import { captureHeaders } from "./access_headers.ts";
 * const head = new TextEncoder().encode(
 *   "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent:  curl/8.5 \r\n\r\n",
 * );
 * const headers = captureHeaders(head, 0, head.length, ["referer", "user-agent"]);
 * if (headers?.get("user-agent") !== "curl/8.5") throw new Error();
 * if (headers.get("referer") !== undefined) throw new Error();
 * ```
 */
export function captureHeaders(
  buf: Uint8Array,
  start: number,
  end: number,
  names: readonly string[],
): AccessHeaders | undefined {
  if (names.length === 0) return undefined;
  const capture = new HeaderCapture(names);
  // Field lines start after the request line's LF; the blank line ends them.
  let at = buf.indexOf(LF, start) + 1;
  while (at > 0 && at < end && buf[at] !== CR) {
    const lineEnd = buf.indexOf(LF, at);
    if (lineEnd < 0 || lineEnd >= end) break;
    const colon = buf.indexOf(COLON, at);
    if (colon > at && colon < lineEnd) {
      let from = colon + 1;
      let to = lineEnd - 1; // the CR
      while (from < to && (buf[from] === SP || buf[from] === HTAB)) from++;
      while (to > from && (buf[to - 1] === SP || buf[to - 1] === HTAB)) to--;
      capture.field(buf, at, colon, from, to);
    }
    at = lineEnd + 1;
  }
  return capture.end();
}
