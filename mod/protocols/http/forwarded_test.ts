import assert from "node:assert/strict";
import {
  believedHop,
  forwardedClient,
  forwardingFields,
  type Hop,
  parseForwarded,
  parseXForwardedFor,
  type TrustedSet,
} from "./forwarded.ts";
import { canonicalAddress } from "./ip.ts";

const encoder = new TextEncoder();

/** A trusted set of exact addresses. */
function trusting(...addresses: string[]): TrustedSet {
  return new Set(addresses);
}

/** The client `head`'s forwarding headers name, as a peer string. */
function clientOf(lines: string[], trusted: TrustedSet): string | undefined {
  const head = encoder.encode(
    `GET / HTTP/1.1\r\nHost: koan.test\r\n${
      lines.map((line) => `${line}\r\n`).join("")
    }\r\n`,
  );
  return forwardedClient(head, { start: 0, end: head.length, trusted })?.peer;
}

Deno.test("parseXForwardedFor() reads addresses, ports and IPv6 brackets", () => {
  assert.deepEqual(
    parseXForwardedFor(
      "192.0.2.1, 192.0.2.2:4711,2001:DB8::1 ,[2001:db8::2],[2001:db8::3]:80",
    ),
    [
      { address: "192.0.2.1" },
      { address: "192.0.2.2", port: "4711" },
      { address: "2001:db8::1" },
      { address: "2001:db8::2" },
      { address: "2001:db8::3", port: "80" },
    ],
  );
  assert.deepEqual(parseXForwardedFor("::ffff:192.0.2.9"), [
    { address: "192.0.2.9" },
  ]);
  assert.deepEqual(parseXForwardedFor(" , 192.0.2.1,,"), [
    { address: "192.0.2.1" },
  ], "empty elements are skipped");
});

Deno.test("parseXForwardedFor() marks what is not an address", () => {
  for (
    const entry of [
      "unknown",
      "_hidden",
      "example.com",
      "192.0.2.256",
      "192.0.2",
      "192.0.2.1:99999",
      "192.0.2.1:",
      "192.0.2.1:80:80",
      "[192.0.2.1]",
      "[2001:db8::1",
      "[2001:db8::1]80",
      "fe80::1%eth0",
      '"192.0.2.1"',
      "192.0.2.1 192.0.2.2",
    ]
  ) {
    assert.deepEqual(parseXForwardedFor(entry), [undefined], entry);
  }
});

Deno.test("parseForwarded() reads for= in each element, any case, quoted or not", () => {
  assert.deepEqual(
    parseForwarded(
      'for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https, ' +
        'by=203.0.113.43;FOR="198.51.100.17:80";host="x,y"',
    ),
    [
      { address: "192.0.2.43" },
      { address: "2001:db8:cafe::17", port: "4711" },
      { address: "198.51.100.17", port: "80" },
    ],
  );
  assert.deepEqual(parseForwarded('for="192.0.2.1:_port"'), [
    { address: "192.0.2.1" },
  ], "an obfuscated port is dropped");
  assert.deepEqual(parseForwarded('for="\\192.0.2.1"'), [
    { address: "192.0.2.1" },
  ], "a quoted-pair");
});

Deno.test("parseForwarded() gives no address for unknown, obfuscated or missing for=", () => {
  assert.deepEqual(
    parseForwarded("for=unknown, for=_hidden, for=_SEVKISEK, proto=http"),
    [undefined, undefined, undefined, undefined],
  );
  assert.deepEqual(parseForwarded('for="[_hidden]"'), [undefined]);
  assert.deepEqual(
    parseForwarded('for="2001:db8::1"'),
    [undefined],
    "unbracketed",
  );
  assert.deepEqual(parseForwarded("for=example.com"), [undefined]);
});

Deno.test("parseForwarded() stops believing at a syntax error", () => {
  // Unquoted brackets and colons are not token characters.
  assert.deepEqual(parseForwarded("for=192.0.2.1, for=[2001:db8::1]"), [
    { address: "192.0.2.1" },
    undefined,
  ]);
  assert.deepEqual(parseForwarded("for=192.0.2.1:80"), [undefined]);
  assert.deepEqual(parseForwarded('for="192.0.2.1'), [undefined], "open quote");
  assert.deepEqual(parseForwarded("for=192.0.2.1;for=192.0.2.2"), [undefined]);
  assert.deepEqual(parseForwarded("192.0.2.1"), [undefined]);
  assert.deepEqual(parseForwarded("for="), [undefined]);
  assert.deepEqual(parseForwarded("for=192.0.2.1 for=192.0.2.2"), [undefined]);
  assert.deepEqual(parseForwarded(" , for=192.0.2.1 ;proto=http ,"), [
    { address: "192.0.2.1" },
  ]);
});

Deno.test("believedHop() skips trusted proxies from the right and stops at the first other", () => {
  const hops = parseXForwardedFor(
    "198.51.100.1, 203.0.113.9, 10.0.0.1, 10.0.0.2",
  );
  assert.equal(
    believedHop(hops, trusting("10.0.0.1", "10.0.0.2"))?.address,
    "203.0.113.9",
  );
  assert.equal(
    believedHop(hops, trusting("10.0.0.2"))?.address,
    "10.0.0.1",
    "an untrusted proxy is as far as the walk goes",
  );
  assert.equal(
    believedHop(hops, trusting("10.0.0.1", "10.0.0.2", "203.0.113.9"))
      ?.address,
    "198.51.100.1",
  );
  assert.equal(
    believedHop(
      hops,
      trusting("10.0.0.1", "10.0.0.2", "203.0.113.9", "198.51.100.1"),
    )?.address,
    "198.51.100.1",
    "all trusted: the leftmost",
  );
  assert.equal(believedHop([], trusting()), undefined);
});

Deno.test("believedHop() stops at an unusable entry, at the last trusted hop", () => {
  const hops: (Hop | undefined)[] = parseXForwardedFor(
    "203.0.113.9, garbage, 10.0.0.1",
  );
  assert.equal(believedHop(hops, trusting("10.0.0.1"))?.address, "10.0.0.1");
  assert.equal(
    believedHop(parseXForwardedFor("203.0.113.9, unknown"), trusting()),
    undefined,
    "the rightmost unusable: the socket peer stands",
  );
});

Deno.test("forwardedClient() ignores spoofed leftmost entries", () => {
  // The client sent "X-Forwarded-For: 127.0.0.1"; nginx appended its peer.
  assert.equal(
    clientOf(["X-Forwarded-For: 127.0.0.1, 203.0.113.9"], trusting()),
    "203.0.113.9",
  );
  assert.equal(
    clientOf([
      "X-Forwarded-For: 127.0.0.1",
      "X-Forwarded-For: 203.0.113.9, 10.0.0.1",
    ], trusting("10.0.0.1")),
    "203.0.113.9",
    "two lines are one list, in order",
  );
});

Deno.test("forwardedClient() reads X-Forwarded-For before Forwarded, and keeps ports", () => {
  assert.equal(
    clientOf([
      "Forwarded: for=192.0.2.66",
      "X-Forwarded-For: 203.0.113.9",
    ], trusting()),
    "203.0.113.9",
    "a Forwarded the proxy passed through is not believed",
  );
  assert.equal(
    clientOf(['Forwarded: for="[2001:db8::7]:4711"'], trusting()),
    "[2001:db8::7]:4711",
  );
  assert.equal(
    clientOf(["x-forwarded-for: 192.0.2.1:4711"], trusting()),
    "192.0.2.1:4711",
  );
  assert.equal(
    clientOf(["X-Forwarded-For: 2001:db8::7"], trusting()),
    "2001:db8::7",
  );
  assert.equal(clientOf([], trusting()), undefined);
  assert.equal(clientOf(["X-Forwarded-For:"], trusting()), undefined);
  assert.equal(
    clientOf(["Forwarded: for=_hidden"], trusting()),
    undefined,
    "an obfuscated client: the socket peer stands",
  );
});

Deno.test("forwardingFields() finds the headers in any case among others", () => {
  const head = encoder.encode(
    "GET / HTTP/1.1\r\nHost: x\r\nX-FORWARDED-FOR:\t192.0.2.1 \r\n" +
      "X-Forwarded-Forx: no\r\nforwarded: for=192.0.2.2\r\n\r\nBODY: x\r\n",
  );
  assert.deepEqual(forwardingFields(head, 0, head.length), {
    xForwardedFor: "192.0.2.1",
    forwarded: "for=192.0.2.2",
  });
});

Deno.test("canonicalAddress() writes one form per address", () => {
  assert.equal(
    canonicalAddress("2001:0db8:0000:0000:0001:0000:0000:0001"),
    "2001:db8::1:0:0:1",
  );
  assert.equal(canonicalAddress("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(canonicalAddress("::"), "::");
  assert.equal(canonicalAddress("1:0:1:1:1:1:1:1"), "1:0:1:1:1:1:1:1");
  assert.equal(canonicalAddress("::ffff:7f00:1"), "127.0.0.1");
  assert.equal(canonicalAddress("127.000.000.001"), "127.0.0.1");
  assert.equal(canonicalAddress("fe80::1%1"), undefined);
});
