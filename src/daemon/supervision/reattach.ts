// Adopting a plugin across daemon restarts: what is saved about a live process (go-plugin's
// ReattachConfig plus its start time and AutoMTLS material) and how the connection to it is
// rebuilt from that.
import type { Address } from "../../shared/address.js";
import { formatAddress, parseAddress } from "../../shared/address.js";
import type { Handshake } from "../../goplugin/handshake.js";
import type { HostTls } from "../../goplugin/host.js";
import type { Certificate } from "../../goplugin/mtls.js";
import type { ReattachInfo } from "../state/instances-file.js";
import type { OutputStream } from "./plugin-output.js";

/** What is known about a live process once its handshake is read. */
export interface LiveProcess {
  pid: number;
  startTicks: string;
  startedAt: Date;
  handshake: Handshake;
  cert: Pick<Certificate, "certPem" | "keyPem"> | undefined;
  metricsEndpoint: Address | undefined;
  args: readonly string[];
  files: Readonly<Record<OutputStream, string>>;
}

export function reattachInfo(p: LiveProcess): ReattachInfo {
  const h = p.handshake;
  return {
    pid: p.pid,
    startTicks: p.startTicks,
    startedAt: p.startedAt.toISOString(),
    appVersion: h.appVersion,
    network: h.network,
    address: h.address,
    protocol: h.protocol,
    serverCert: h.serverCert?.toString("base64"),
    clientCertPem: h.serverCert ? p.cert?.certPem : undefined,
    clientKeyPem: h.serverCert ? p.cert?.keyPem : undefined,
    metricsEndpoint: p.metricsEndpoint ? formatAddress(p.metricsEndpoint) : "",
    args: [...p.args],
    stdoutLog: p.files.stdout,
    stderrLog: p.files.stderr,
  };
}

/** The saved process as if its handshake had just been read. */
export function savedProcess(info: ReattachInfo, files: Readonly<Record<OutputStream, string>>): LiveProcess {
  return {
    pid: info.pid,
    startTicks: info.startTicks,
    startedAt: new Date(info.startedAt),
    handshake: {
      coreVersion: 1,
      appVersion: info.appVersion,
      network: info.network,
      address: info.address,
      protocol: info.protocol,
      serverCert: info.serverCert ? Buffer.from(info.serverCert, "base64") : undefined,
      mux: false,
    },
    cert: info.clientCertPem && info.clientKeyPem ? { certPem: info.clientCertPem, keyPem: info.clientKeyPem } : undefined,
    metricsEndpoint: info.metricsEndpoint ? parseAddress(info.metricsEndpoint) : undefined,
    args: info.args,
    files,
  };
}

/** AutoMTLS for the gRPC client: our certificate, pinned to the one the plugin sent. */
export function hostTls(cert: Pick<Certificate, "certPem" | "keyPem"> | undefined, serverCert: Buffer | undefined): HostTls | undefined {
  return cert && serverCert ? { clientCertPem: cert.certPem, clientKeyPem: cert.keyPem, serverCertDer: serverCert } : undefined;
}
