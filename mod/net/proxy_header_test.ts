import assert from "node:assert/strict";
import {
  parseProxyHeader,
  PROXY_HEADER_MAX_BYTES,
  PROXY_V1_MAX_BYTES,
  type ProxyHeader,
  V2_SIGNATURE,
} from "./proxy_header.ts";

const encoder = new TextEncoder();

const SIGNATURE = V2_SIGNATURE;

/** A v2 header as the spec lays it out; `length` overrides the length field. */
function v2(
  versionCommand: number,
  family: number,
  block: number[],
  length = block.length,
): Uint8Array {
  return new Uint8Array([
    ...SIGNATURE,
    versionCommand,
    family,
    length >> 8,
    length & 0xff,
    ...block,
  ]);
}

/** IPv4 block: 192.0.2.7:51234 -> 198.51.100.1:443. */
const INET_BLOCK = [192, 0, 2, 7, 198, 51, 100, 1, 0xc8, 0x22, 0x01, 0xbb];

/** IPv6 block: 2001:db8::7:51234 -> [::1]:8080. */
const INET6_BLOCK = [
  0x20,
  0x01,
  0x0d,
  0xb8,
  ...new Array(11).fill(0),
  7,
  ...new Array(15).fill(0),
  1,
  0xc8,
  0x22,
  0x1f,
  0x90,
];

function tlv(type: number, value: number[]): number[] {
  return [type, value.length >> 8, value.length & 0xff, ...value];
}

function header(bytes: Uint8Array): ProxyHeader {
  const parsed = parseProxyHeader(bytes);
  assert.ok(parsed.done, "the header is complete");
  return parsed.header;
}

function text(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Every proper prefix of `bytes` asks for more, never for fewer than it has nor more than all. */
function assertNeedsMoreUntilComplete(bytes: Uint8Array, length: number) {
  for (let n = 0; n < length; n++) {
    const parsed = parseProxyHeader(bytes.subarray(0, n));
    assert.equal(parsed.done, false, `${n} bytes are not a whole header`);
    if (!parsed.done) {
      assert.ok(parsed.atLeast > n && parsed.atLeast <= length, `at ${n}`);
    }
  }
  assert.equal(parseProxyHeader(bytes.subarray(0, length)).done, true);
}

Deno.test("parseProxyHeader() reads a v1 TCP4 line and leaves what follows", () => {
  const line = "PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\n";
  assert.deepEqual(header(text(`${line}GET / HTTP/1.1\r\n`)), {
    version: 1,
    source: { address: "192.0.2.7", port: 51234 },
    destination: { address: "198.51.100.1", port: 443 },
    length: line.length,
  });
});

Deno.test("parseProxyHeader() reads a v1 TCP6 line and writes its addresses canonically", () => {
  const line = "PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::1 0 65535\r\n";
  assert.deepEqual(header(text(line)), {
    version: 1,
    source: { address: "2001:db8::7", port: 0 },
    destination: { address: "::1", port: 65535 },
    length: line.length,
  });
  assert.deepEqual(
    header(text("PROXY TCP6 ::ffff:192.0.2.7 ::FFFF:c000:0208 1 2\r\n"))
      .source,
    { address: "::ffff:192.0.2.7", port: 1 },
  );
  const canonical = (address: string) =>
    header(text(`PROXY TCP6 ${address} ::1 1 2\r\n`)).source?.address;
  assert.equal(canonical("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(canonical("0:0:0:0:0:0:0:0"), "::");
  assert.equal(canonical("1:0:0:0:0:0:0:0"), "1::");
  assert.equal(canonical("0:1:0:0:0:0:0:0"), "0:1::");
  assert.equal(canonical("1:0:1:1:1:1:1:1"), "1:0:1:1:1:1:1:1");
  assert.equal(canonical("fe80::1:2:3:4"), "fe80::1:2:3:4");
});

Deno.test("parseProxyHeader() takes v1 UNKNOWN as no address, whatever follows it on the line", () => {
  assert.deepEqual(header(text("PROXY UNKNOWN\r\nhello")), {
    version: 1,
    length: 15,
  });
  const line = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
  assert.deepEqual(header(text(line)), { version: 1, length: line.length });
});

Deno.test("parseProxyHeader() reads a v2 PROXY header over IPv4, skipping its TLVs", () => {
  const block = [
    ...INET_BLOCK,
    ...tlv(0x01, [0x68, 0x32]), // ALPN "h2"
    ...tlv(0x04, [0, 0, 0]), // NOOP padding
    ...tlv(0x05, []), // an empty UNIQUE_ID
  ];
  const bytes = v2(0x21, 0x11, block);
  const data = text("Beautiful is better than?\n");
  const all = new Uint8Array([...bytes, ...data]);
  assert.deepEqual(header(all), {
    version: 2,
    source: { address: "192.0.2.7", port: 51234 },
    destination: { address: "198.51.100.1", port: 443 },
    length: bytes.length,
  });
});

Deno.test("parseProxyHeader() reads a v2 PROXY header over IPv6", () => {
  const bytes = v2(0x21, 0x21, INET6_BLOCK);
  assert.deepEqual(header(bytes), {
    version: 2,
    source: { address: "2001:db8::7", port: 51234 },
    destination: { address: "::1", port: 8080 },
    length: 16 + 36,
  });
});

Deno.test("parseProxyHeader() takes v2 LOCAL, AF_UNSPEC and AF_UNIX as no address", () => {
  // LOCAL (a health check): the block is skipped whatever it holds.
  assert.deepEqual(header(v2(0x20, 0x00, [])), { version: 2, length: 16 });
  assert.deepEqual(header(v2(0x20, 0x11, INET_BLOCK)), {
    version: 2,
    length: 28,
  });
  assert.deepEqual(header(v2(0x21, 0x00, [1, 2, 3])), {
    version: 2,
    length: 19,
  });
  const unix = new Array(216).fill(0x61);
  assert.deepEqual(header(v2(0x21, 0x31, unix)), {
    version: 2,
    length: 16 + 216,
  });
});

Deno.test("parseProxyHeader() asks for more at every truncation of a valid header", () => {
  const v1 = text("PROXY TCP6 2001:db8::7 ::1 51234 443\r\n");
  assertNeedsMoreUntilComplete(v1, v1.length);
  const v2Header = v2(0x21, 0x11, [...INET_BLOCK, ...tlv(0x01, [0x68])]);
  assertNeedsMoreUntilComplete(v2Header, v2Header.length);
  // Once the fixed part is in, it knows the whole length.
  assert.deepEqual(parseProxyHeader(v2Header.subarray(0, 16)), {
    done: false,
    atLeast: v2Header.length,
  });
});

Deno.test("parseProxyHeader() reads a header arriving one byte at a time", () => {
  for (
    const bytes of [
      text("PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\nhi"),
      new Uint8Array([...v2(0x21, 0x21, INET6_BLOCK), 0x68, 0x69]),
    ]
  ) {
    let received: Uint8Array = new Uint8Array(0);
    let parsed = parseProxyHeader(received);
    let reads = 0;
    while (!parsed.done) {
      received = bytes.subarray(0, received.length + 1);
      reads++;
      parsed = parseProxyHeader(received);
    }
    assert.equal(parsed.header.length, bytes.length - 2);
    assert.equal(reads, bytes.length - 2, "complete at its last byte");
  }
});

Deno.test("parseProxyHeader() refuses a v1 line longer than 107 bytes", () => {
  const long = `PROXY TCP6 ${"1".repeat(100)}`;
  assert.equal(
    parseProxyHeader(text(long.slice(0, PROXY_V1_MAX_BYTES - 1))).done,
    false,
  );
  assert.throws(
    () => parseProxyHeader(text(long.slice(0, PROXY_V1_MAX_BYTES))),
    { name: "SyntaxError", message: /longer than 107 bytes/ },
  );
  // A line whose CRLF would be its 108th and 109th bytes.
  const overlong = `PROXY UNKNOWN ${"x".repeat(93)}\r\n`;
  assert.equal(overlong.length, 109);
  assert.throws(() => parseProxyHeader(text(overlong)), SyntaxError);
  // At the bound exactly, it is fine.
  const longest = `PROXY UNKNOWN ${"x".repeat(91)}\r\n`;
  assert.equal(longest.length, PROXY_V1_MAX_BYTES);
  assert.equal(header(text(longest)).length, PROXY_V1_MAX_BYTES);
});

Deno.test("parseProxyHeader() refuses a v2 header with a bad signature at each byte", () => {
  const good = v2(0x21, 0x11, INET_BLOCK);
  for (let i = 0; i < 12; i++) {
    const bad = good.slice();
    bad[i]! ^= 0x40;
    assert.throws(() => parseProxyHeader(bad), SyntaxError, `byte ${i}`);
    // Noticed with nothing more than the wrong byte.
    if (i > 0) {
      assert.throws(() => parseProxyHeader(bad.subarray(0, i + 1)), {
        name: "SyntaxError",
      });
    }
  }
});

Deno.test("parseProxyHeader() refuses a v2 header with a bad or huge length", () => {
  // Shorter than its family's address block.
  assert.throws(() => parseProxyHeader(v2(0x21, 0x11, INET_BLOCK, 11)), {
    name: "SyntaxError",
    message: /cannot hold its 12-byte address block/,
  });
  assert.throws(
    () => parseProxyHeader(v2(0x21, 0x21, INET_BLOCK, 12)),
    SyntaxError,
  );
  assert.throws(() => parseProxyHeader(v2(0x21, 0x31, [], 0)), SyntaxError);
  // Huge: refused from the fixed part alone, before any waiting.
  for (const length of [0xffff, PROXY_HEADER_MAX_BYTES - 16 + 1]) {
    assert.throws(
      () => parseProxyHeader(v2(0x21, 0x11, [], length)),
      { name: "SyntaxError", message: /more than 4096/ },
    );
  }
  // The largest allowed is waited for.
  assert.deepEqual(
    parseProxyHeader(v2(0x21, 0x11, [], PROXY_HEADER_MAX_BYTES - 16)),
    { done: false, atLeast: PROXY_HEADER_MAX_BYTES },
  );
});

Deno.test("parseProxyHeader() refuses malformed v2 TLVs", () => {
  // A TLV whose length runs past the header.
  assert.throws(
    () =>
      parseProxyHeader(v2(0x21, 0x11, [...INET_BLOCK, 0x01, 0x00, 0x05, 1])),
    { name: "SyntaxError", message: /TLV of type 0x01 runs 4 bytes past/ },
  );
  // Two bytes left: not even a type and a length.
  assert.throws(
    () => parseProxyHeader(v2(0x21, 0x11, [...INET_BLOCK, 0x01, 0x00])),
    { name: "SyntaxError", message: /inside a TLV's type and length/ },
  );
});

Deno.test("parseProxyHeader() refuses a bad v2 version, command or family", () => {
  for (const versionCommand of [0x11, 0x31, 0x22, 0x2f]) {
    assert.throws(
      () => parseProxyHeader(v2(versionCommand, 0x11, INET_BLOCK)),
      SyntaxError,
      `0x${versionCommand.toString(16)}`,
    );
  }
  for (const family of [0x41, 0x13, 0xff]) {
    assert.throws(
      () => parseProxyHeader(v2(0x21, family, INET_BLOCK)),
      SyntaxError,
      `0x${family.toString(16)}`,
    );
  }
});

Deno.test("parseProxyHeader() refuses garbage before the header at its first byte", () => {
  for (
    const garbage of [
      "GET / HTTP/1.1\r\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      " PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "Beautiful is better than?\n",
      "\x00",
    ]
  ) {
    assert.throws(() => parseProxyHeader(text(garbage)), {
      name: "SyntaxError",
      message: /does not start with a PROXY protocol header/,
    });
  }
  // A near miss is caught as soon as it differs.
  assert.throws(() => parseProxyHeader(text("PROXX")), SyntaxError);
  assert.throws(() => parseProxyHeader(text("\r\nPROXY")), SyntaxError);
  assert.throws(
    () =>
      parseProxyHeader(
        new Uint8Array([0x0a, ...v2(0x21, 0x11, INET_BLOCK)]),
      ),
    SyntaxError,
  );
});

Deno.test("parseProxyHeader() refuses non-numeric or out-of-range v1 ports", () => {
  for (
    const ports of [
      "http 80",
      "80 http",
      "65536 80",
      "80 -1",
      "+80 80",
      "080 80",
      "0x50 80",
      "8 0 80",
      "1.5 80",
      "99999999999999999999 1",
    ]
  ) {
    assert.throws(
      () =>
        parseProxyHeader(
          text(`PROXY TCP4 192.0.2.7 198.51.100.1 ${ports}\r\n`),
        ),
      SyntaxError,
      ports,
    );
  }
});

Deno.test("parseProxyHeader() refuses v1 addresses out of range or of the wrong family", () => {
  const tcp4 = [
    "256.0.0.1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "1.2.3.-4",
    "::1",
    "localhost",
    "",
  ];
  for (const address of tcp4) {
    assert.throws(
      () => parseProxyHeader(text(`PROXY TCP4 ${address} 1.2.3.4 1 2\r\n`)),
      SyntaxError,
      JSON.stringify(address),
    );
  }
  const tcp6 = [
    ":::1",
    "1::2::3",
    "12345::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7::8",
    "::ffff:256.0.0.1",
    "g::1",
    "fe80::1%eth0",
    "192.0.2.7",
  ];
  for (const address of tcp6) {
    assert.throws(
      () => parseProxyHeader(text(`PROXY TCP6 ${address} ::1 1 2\r\n`)),
      SyntaxError,
      JSON.stringify(address),
    );
  }
});

Deno.test("parseProxyHeader() refuses malformed v1 lines", () => {
  for (
    const line of [
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
      "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
      "PROXY \u00e9\r\n",
      "PROXY\r\n",
      "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    ]
  ) {
    assert.throws(
      () => parseProxyHeader(text(line)),
      SyntaxError,
      JSON.stringify(line),
    );
  }
});
