/**
 * Scaffolding for TLS tests and the TLS benchmark: a throwaway CA and
 * server certificates for `localhost` and `127.0.0.1`, made with the
 * `openssl` command in a temp directory.
 *
 * @module
 */

/** A certificate and its key, as PEM files. */
export interface IssuedCertificate {
  /** PEM certificate file. */
  cert: string;
  /** PEM private key file. */
  key: string;
  /** Serial number, hex, as `openssl x509 -serial` prints it. */
  serial: string;
}

/** A throwaway certificate authority. */
export interface TestPki {
  /** The directory holding every file. */
  dir: string;
  /** The CA's certificate (PEM file), for clients' trust. */
  ca: string;
  /** Issues a server certificate for localhost and 127.0.0.1 with `serial` (hex). */
  issue(name: string, serial: string): Promise<IssuedCertificate>;
  /** Removes the directory. */
  remove(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`,
    );
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** Makes a CA in a new temp directory (or `dir`). */
export async function makeTestPki(dir?: string): Promise<TestPki> {
  const root = dir ?? await Deno.makeTempDir({ prefix: "koan-tls-" });
  await openssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=koan test CA",
  ], root);
  await Deno.writeTextFile(
    `${root}/san.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
  );
  return {
    dir: root,
    ca: `${root}/ca.pem`,
    async issue(name: string, serial: string): Promise<IssuedCertificate> {
      await openssl([
        "req",
        ...EC,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        "/CN=localhost",
      ], root);
      await openssl([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        `0x${serial}`,
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        `${name}.pem`,
      ], root);
      return {
        cert: `${root}/${name}.pem`,
        key: `${root}/${name}.key`,
        serial: serial.toUpperCase(),
      };
    },
    remove: () => Deno.remove(root, { recursive: true }),
  };
}
