// The go-plugin handshake: the one line a plugin prints on stdout once it serves,
// CORE|APP|NETWORK|ADDR|PROTOCOL[|SERVERCERT[|MUX]]. Parsing mirrors what go-plugin's
// client does, so that plugins it accepts are accepted here and its errors are ours.

/** go-plugin's core protocol version; anything else is a different wire protocol. */
export const CORE_PROTOCOL_VERSION = 1;

/** plugprom's own handshake defaults (the bundled greeter and the TypeScript SDK use them). */
export const DEFAULT_MAGIC_COOKIE_KEY = "PLUGPROM_PLUGIN";
export const DEFAULT_MAGIC_COOKIE_VALUE = "plugprom";
export const DEFAULT_PROTOCOL_VERSIONS: readonly number[] = [1];

export type RpcProtocol = "grpc" | "netrpc";

export interface Handshake {
  coreVersion: number;
  appVersion: number;
  network: "tcp" | "unix";
  address: string;
  protocol: RpcProtocol;
  /** The plugin's TLS server certificate (DER), present when it runs with AutoMTLS. */
  serverCert?: Buffer;
  /** go-plugin >= 1.6 multiplexes broker connections over one; we only record it. */
  mux: boolean;
}

export class HandshakeError extends Error {
  constructor(
    message: string,
    /** Which rule the line broke, for callers that want to react differently. */
    readonly reason: "malformed" | "core-version" | "app-version" | "network" | "protocol" | "cert",
  ) {
    super(message);
    this.name = "HandshakeError";
  }
}

export function parseHandshake(rawLine: string, offeredVersions: readonly number[]): Handshake {
  const line = rawLine.trim();
  const parts = line.split("|");
  if (parts.length < 4) {
    throw new HandshakeError(
      `unrecognized handshake line ${JSON.stringify(truncate(line, 200))}: expected CORE|APP|NETWORK|ADDR|PROTOCOL; ` +
        "the plugin printed something else on stdout before its handshake (plugins must not write to stdout)",
      "malformed",
    );
  }
  const [coreText, appText, network, address] = parts;
  const coreVersion = parseVersion(coreText);
  if (coreVersion !== CORE_PROTOCOL_VERSION) {
    throw new HandshakeError(
      `incompatible core protocol version ${JSON.stringify(coreText)}: this host speaks ${CORE_PROTOCOL_VERSION}; ` +
        "the plugin was built with an incompatible go-plugin",
      "core-version",
    );
  }
  const appVersion = parseVersion(appText);
  if (appVersion === undefined || !offeredVersions.includes(appVersion)) {
    throw new HandshakeError(
      `incompatible app protocol version ${JSON.stringify(appText)}: offered ${offeredVersions.join(", ")}; ` +
        "start it with --protocol-version matching the plugin",
      "app-version",
    );
  }
  if (network !== "tcp" && network !== "unix") {
    throw new HandshakeError(`unknown network ${JSON.stringify(network)} in handshake: expected tcp or unix`, "network");
  }
  if (address === "" || (network === "unix" && !address.startsWith("/"))) {
    throw new HandshakeError(`invalid ${network} address ${JSON.stringify(address)} in handshake`, "network");
  }
  // go-plugin treats a missing field as the legacy net/rpc protocol.
  const protocolText = parts[4] === undefined || parts[4] === "" ? "netrpc" : parts[4];
  if (protocolText !== "grpc" && protocolText !== "netrpc") {
    throw new HandshakeError(`unknown RPC protocol ${JSON.stringify(protocolText)} in handshake: expected grpc or netrpc`, "protocol");
  }
  const handshake: Handshake = { coreVersion, appVersion, network, address, protocol: protocolText, mux: parts[6] === "true" };
  // go-plugin ignores short values here; a real certificate is hundreds of characters.
  const certText = parts[5];
  if (certText !== undefined && certText.length > 50) {
    if (!/^[A-Za-z0-9+/]+=*$/.test(certText)) {
      throw new HandshakeError("server certificate in handshake is not base64", "cert");
    }
    handshake.serverCert = Buffer.from(certText, "base64");
  }
  return handshake;
}

/** The line a plugin prints; the inverse of parseHandshake (used by the TypeScript SDK). */
export function formatHandshake(h: Omit<Handshake, "coreVersion" | "mux"> & { mux?: boolean }): string {
  const fields = [String(CORE_PROTOCOL_VERSION), String(h.appVersion), h.network, h.address, h.protocol];
  if (h.serverCert) fields.push(h.serverCert.toString("base64").replace(/=+$/, ""));
  return fields.join("|");
}

function parseVersion(text: string): number | undefined {
  if (!/^\d{1,9}$/.test(text)) return undefined;
  return Number(text);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
