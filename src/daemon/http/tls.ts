// The HTTP side's TLS certificate and key, read and checked together so that a wrong pair
// fails at startup (or at a SIGHUP reload) with the file named, not at the first handshake.
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export async function readTls(certFile: string, keyFile: string): Promise<TlsFiles> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  createSecureContext({ cert, key });
  return { cert, key };
}
