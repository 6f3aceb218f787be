// Listen and dial addresses as users write them: "host:port", "[v6]:port", ":port" or
// "unix:/abs/path".

export type Address =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "unix"; path: string };

export function parseAddress(text: string): Address {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (!path.startsWith("/")) throw new Error(`address ${JSON.stringify(text)}: unix socket path must be absolute`);
    return { kind: "unix", path };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`address ${JSON.stringify(text)}: expected host:port or unix:/path`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`address ${JSON.stringify(text)}: port out of range`);
  const host = m[1] ?? m[2] ?? "";
  return { kind: "tcp", host: host === "" ? "0.0.0.0" : host, port };
}

export function formatAddress(addr: Address): string {
  if (addr.kind === "unix") return `unix:${addr.path}`;
  return `${formatHost(addr.host)}:${addr.port}`;
}

export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}
