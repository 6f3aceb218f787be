// go-plugin AutoMTLS material: a fresh self-signed certificate per side and per plugin
// start, shaped like go-plugin's own (ECDSA P-521, CN/SAN "localhost", CA, client and server
// auth), made with @peculiar/x509 on Node's WebCrypto rather than hand-written ASN.1.
import "reflect-metadata";
import { randomBytes, webcrypto, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface Certificate {
  certPem: string;
  keyPem: string;
  certDer: Buffer;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-521", hash: "SHA-512" };
/** go-plugin backdates by 30 s against clock skew between host and plugin. */
const BACKDATE_MS = 30_000;
/** Certificates live as long as one plugin process; a generous bound is still a bound. */
const VALIDITY_MS = 30 * 24 * 3600 * 1000;

export async function generateCertificate(): Promise<Certificate> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // A positive 128-bit serial: clear the top bit so DER does not read it as negative.
    serialNumber: (randomBytes(16)[0] & 0x7f).toString(16).padStart(2, "0") + randomBytes(15).toString("hex"),
    name: "CN=localhost, O=plugprom",
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + VALIDITY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyEncipherment |
          x509.KeyUsageFlags.keyAgreement |
          x509.KeyUsageFlags.keyCertSign,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem"),
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    certDer: Buffer.from(cert.rawData),
  };
}

export function derToPem(der: Buffer): string {
  const b64 = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

/** Parses a PEM certificate, with a readable error for garbage in PLUGIN_CLIENT_CERT. */
export function parsePemCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new Error(`not a PEM certificate: ${(err as Error).message}`);
  }
}
