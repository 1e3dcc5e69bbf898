/**
 * A throw-away certificate authority and server certificates for local TLS (MariaDB standing in
 * for Aurora, over TLS as in AWS), made with node:crypto alone: ECDSA P-256 keys, X.509 v3
 * certificates DER-encoded here and signed with SHA-256. No openssl binary needed.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { isIP } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface CertificateAuthority {
  /** PEM: what a client trusts. */
  readonly certificate: string;
  /** PEM (PKCS #8). */
  readonly privateKey: string;
}

export interface ServerCertificate {
  readonly certificate: string;
  readonly privateKey: string;
}

// DER, the few types a certificate needs.
const der = (tag: number, content: Buffer): Buffer => {
  const n = content.length;
  const length =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : undefined;
  if (!length) throw new Error("DER value too long");
  return Buffer.concat([Buffer.from([tag]), length, content]);
};
const sequence = (...items: Buffer[]) => der(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => der(0x31, Buffer.concat(items));
const explicit = (n: number, item: Buffer) => der(0xa0 + n, item);
const octets = (bytes: Buffer) => der(0x04, bytes);
const bits = (bytes: Buffer) => der(0x03, Buffer.concat([Buffer.from([0]), bytes]));
const utf8 = (text: string) => der(0x0c, Buffer.from(text, "utf8"));
const bool = (value: boolean) => der(0x01, Buffer.from([value ? 0xff : 0]));
const integer = (bytes: Buffer) => der(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const base128 = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) base128.unshift((v & 0x7f) | 0x80);
    out.push(...base128);
  }
  return der(0x06, Buffer.from(out));
}

/** UTCTime, YYMMDDHHMMSSZ (dates before 2050). */
function time(date: Date): Buffer {
  const iso = date.toISOString();
  return der(
    0x17,
    Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`),
  );
}

const ECDSA_WITH_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));
const name = (commonName: string) => sequence(set(sequence(oid("2.5.4.3"), utf8(commonName))));
const extension = (id: string, critical: boolean, value: Buffer) => sequence(oid(id), ...(critical ? [bool(true)] : []), octets(value));

/** Key usage bits, first octet: digitalSignature 0x80, keyCertSign 0x04, cRLSign 0x02. */
const keyUsage = (flags: number) => der(0x03, Buffer.from([1, flags]));

function signedCertificate(options: {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signer: KeyObject;
  days: number;
  extensions: Buffer[];
}): string {
  const now = Date.now();
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(Object.assign(randomBytes(16), { 0: 0x40 })),
    ECDSA_WITH_SHA256,
    name(options.issuer),
    sequence(time(new Date(now - 60_000)), time(new Date(now + options.days * 86_400_000))),
    name(options.subject),
    options.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, sequence(...options.extensions)),
  );
  const signature = sign("sha256", tbs, options.signer);
  const cert = sequence(tbs, ECDSA_WITH_SHA256, bits(signature));
  const body = cert.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${body}${body.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`;
}

const newKeyPair = () => generateKeyPairSync("ec", { namedCurve: "P-256" });
const pkcs8 = (key: KeyObject) => key.export({ type: "pkcs8", format: "pem" }).toString();

/** A new CA, valid for `days`. */
export function createCertificateAuthority(commonName = "Local test CA", days = 365): CertificateAuthority {
  const { publicKey, privateKey } = newKeyPair();
  const certificate = makeChecked(
    signedCertificate({
      subject: commonName,
      issuer: commonName,
      publicKey,
      signer: privateKey,
      days,
      extensions: [extension("2.5.29.19", true, sequence(bool(true))), extension("2.5.29.15", true, keyUsage(0x04 | 0x02))],
    }),
  );
  return { certificate, privateKey: pkcs8(privateKey) };
}

/** A server certificate for `names` (host names and IP addresses) signed by `ca`. */
export function issueServerCertificate(ca: CertificateAuthority, names: readonly string[], days = 365): ServerCertificate {
  const { publicKey, privateKey } = newKeyPair();
  const altNames = names.map((n) => {
    if (isIP(n) === 4) return der(0x87, Buffer.from(n.split(".").map(Number)));
    if (isIP(n) === 0) return der(0x82, Buffer.from(n, "ascii"));
    throw new Error(`IPv6 names are not supported here: ${n}`);
  });
  const issuer = new X509Certificate(ca.certificate).subject.replace(/^CN=/, "");
  const cert = signedCertificate({
    subject: names[0] ?? "server",
    issuer,
    publicKey,
    signer: createPrivateKey(ca.privateKey),
    days,
    extensions: [
      extension("2.5.29.19", true, sequence()),
      extension("2.5.29.15", true, keyUsage(0x80)),
      extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))),
      extension("2.5.29.17", false, sequence(...altNames)),
    ],
  });
  if (!new X509Certificate(cert).verify(createPublicKey(ca.privateKey))) throw new Error("server certificate does not verify");
  return { certificate: cert, privateKey: pkcs8(privateKey) };
}

/** Parses what was built (a malformed encoding fails here, not in a TLS handshake). */
function makeChecked(pem: string): string {
  const cert = new X509Certificate(pem);
  if (!cert.ca) throw new Error("CA certificate without basicConstraints CA");
  return pem;
}

/**
 * This machine's local test CA, made once and kept in the OS temp dir (so that what is built to
 * trust it, such as the test build of the deployment packages, stays the same between runs).
 * Made again when it is missing or expires within 30 days.
 */
export function localCertificateAuthority(): CertificateAuthority {
  const dir = path.join(os.tmpdir(), "payments-local-ca-v1");
  const certificateFile = path.join(dir, "ca.pem");
  const keyFile = path.join(dir, "ca-key.pem");
  try {
    const ca = { certificate: fs.readFileSync(certificateFile, "utf8"), privateKey: fs.readFileSync(keyFile, "utf8") };
    if (new Date(new X509Certificate(ca.certificate).validTo).getTime() > Date.now() + 30 * 86_400_000) return ca;
  } catch {
    // missing or unreadable: made below
  }
  const ca = createCertificateAuthority("Payments local test CA");
  // Written aside and renamed, so that parallel test workers never read half a CA.
  const staging = fs.mkdtempSync(`${dir}-`);
  fs.writeFileSync(path.join(staging, "ca.pem"), ca.certificate);
  fs.writeFileSync(path.join(staging, "ca-key.pem"), ca.privateKey, { mode: 0o600 });
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    fs.renameSync(staging, dir);
  } catch {
    fs.rmSync(staging, { recursive: true, force: true });
    return { certificate: fs.readFileSync(certificateFile, "utf8"), privateKey: fs.readFileSync(keyFile, "utf8") };
  }
  return ca;
}
