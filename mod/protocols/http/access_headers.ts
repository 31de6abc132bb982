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

/** Whether the field line at `at` is named `name` (lowercase), any case. */
function named(buf: Uint8Array, at: number, name: Uint8Array): boolean {
  if (buf[at + name.length] !== COLON) return false;
  for (let j = 0; j < name.length; j++) {
    let b = buf[at + j]!;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (b !== name[j]) return false;
  }
  return true;
}

/**
 * The first value of each header in `names` (lowercase, `-` as sent) found
 * in the head `buf[start, end)` — a head the parser has accepted — or
 * undefined when none of them was sent.
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
  if (names !== cachedNames) {
    cachedNames = names;
    cachedBytes = names.map((name) => encoder.encode(name));
  }
  const wanted = cachedBytes;
  let values: (string | undefined)[] | undefined;
  let found = 0;
  // Field lines start after the request line's LF; the blank line ends them.
  let at = buf.indexOf(LF, start) + 1;
  while (at > 0 && at < end && buf[at] !== CR) {
    const lineEnd = buf.indexOf(LF, at);
    if (lineEnd < 0 || lineEnd >= end) break;
    for (let k = 0; k < wanted.length; k++) {
      const name = wanted[k]!;
      if (values?.[k] !== undefined || !named(buf, at, name)) continue;
      let from = at + name.length + 1;
      let to = lineEnd - 1; // the CR
      while (from < to && (buf[from] === SP || buf[from] === HTAB)) from++;
      while (to > from && (buf[to - 1] === SP || buf[to - 1] === HTAB)) to--;
      values ??= new Array(wanted.length);
      values[k] = latin1(buf, from, to);
      found++;
      break;
    }
    if (found === wanted.length) break;
    at = lineEnd + 1;
  }
  return values === undefined ? undefined : new CapturedHeaders(names, values);
}
