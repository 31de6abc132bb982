/**
 * CIDR lists (`trusted_proxies`): checked when the config is read, and
 * matched against client addresses. The address arithmetic is ipaddr.js
 * (the library Express's proxy-addr uses), imported with the first list
 * that is checked or built, so configs without one never load it.
 *
 * @module
 */
import type ipaddrModule from "ipaddr.js";

type IpAddr = typeof ipaddrModule;
let ipaddr: IpAddr | undefined;

/** Loads ipaddr.js once; {@linkcode cidrProblem} and {@linkcode CidrSet} need it. */
export async function loadCidr(): Promise<void> {
  ipaddr ??= (await import("ipaddr.js")).default;
}

function lib(): IpAddr {
  if (ipaddr === undefined) {
    throw new Error("loadCidr() must be awaited before CIDR lists are used");
  }
  return ipaddr;
}

/**
 * Why `text` is not an address or CIDR block (`10.0.0.0/8`, `::1`,
 * `2001:db8::/32`); undefined when it is one. A bare address is a /32 or
 * /128. Needs {@linkcode loadCidr}.
 */
export function cidrProblem(text: string): string | undefined {
  const ip = lib();
  if (text.includes("/")) {
    try {
      ip.parseCIDR(text);
      return undefined;
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      return `"${text}" is not a CIDR block (address/prefix length)`;
    }
  }
  return ip.isValid(text) ? undefined : `"${text}" is not an IP address`;
}

/** A set of CIDR blocks that answers whether an address is in it. */
export class CidrSet {
  readonly #ranges: [ipaddrModule.IPv4 | ipaddrModule.IPv6, number][];

  /** `blocks` must each pass {@linkcode cidrProblem}. */
  constructor(blocks: readonly string[]) {
    const ip = lib();
    this.#ranges = blocks.map((block) => {
      if (block.includes("/")) return ip.parseCIDR(block);
      const address = ip.parse(block);
      return [address, address.kind() === "ipv4" ? 32 : 128];
    });
  }

  /** Whether the set is empty. */
  get empty(): boolean {
    return this.#ranges.length === 0;
  }

  /**
   * Whether `address` (a bare IPv4 or IPv6 address, IPv4-mapped IPv6
   * matching IPv4 blocks) is in one of the blocks; false for anything that
   * is not an address.
   */
  has(address: string): boolean {
    const ip = lib();
    if (!ip.isValid(address)) return false;
    const parsed = ip.process(address);
    for (const [range, bits] of this.#ranges) {
      if (parsed.kind() === range.kind() && parsed.match(range, bits)) {
        return true;
      }
    }
    return false;
  }
}
