// Everything decided before a plugin process is spawned: which executable (looked up the way
// spawn would, but with a clear error), whether it is the one the checksum names, its private
// metrics endpoint, its arguments with placeholders filled in, its AutoMTLS certificate and
// its environment. Also where an instance's files live.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { access, constants as fsConstants, stat, unlink } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, isAbsolute, join } from "node:path";
import type { Address } from "../../shared/address.js";
import { formatAddress } from "../../shared/address.js";
import { errorMessage } from "../../shared/errors.js";
import { invalid, startFailed } from "../errors.js";
import { generateCertificate, type Certificate } from "../../goplugin/mtls.js";
import type { InstanceSpec } from "../spec.js";
import type { Cgroups } from "./cgroups.js";
import { pluginEnvironment } from "./plugin-env.js";
import type { OutputStream } from "./plugin-output.js";
import { placeholdersIn, substituteArgs } from "./template.js";

/** Unix socket paths are limited to 107 bytes by the kernel's sockaddr_un. */
const MAX_UNIX_PATH = 107;

/** What the daemon gives every plugin it runs. */
export interface SpawnEnvironment {
  /** The daemon's state directory, named in every plugin's environment (PLUGPROM_DAEMON_STATE_DIR). */
  stateDir: string;
  /** Private 0700 directory for metrics sockets and PLUGIN_UNIX_SOCKET_DIR. */
  socketDir: string;
  /** Where plugin stdout/stderr files live. */
  logDir: string;
  daemonEnv: NodeJS.ProcessEnv;
  portRange: { min: number; max: number };
  /** Output bytes the daemon did not read (a plugin writing faster than it is followed). */
  onOutputSkipped?: (name: string, stream: OutputStream, bytes: number) => void;
  /** Writable cgroup hierarchies, when there are any (cgroups.ts). */
  cgroups?: Cgroups;
}

export interface PreparedSpawn {
  /** The executable, resolved to a path. */
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  metricsEndpoint: Address | undefined;
  cert: Certificate | undefined;
}

export async function prepareSpawn(spec: InstanceSpec, where: SpawnEnvironment): Promise<PreparedSpawn> {
  const command = await resolveExecutable(spec.command, spec.workingDir, spec.env.PATH ?? where.daemonEnv.PATH);
  if (spec.sha256) {
    const actual = await sha256File(command);
    if (actual !== spec.sha256) {
      throw startFailed(`refusing to run ${command}: its SHA-256 is ${actual}, expected ${spec.sha256} (the binary changed, or the checksum is wrong)`);
    }
  }
  const metricsEndpoint = spec.noMetrics ? undefined : await allocateMetricsEndpoint(spec, where.socketDir);
  let args: string[];
  try {
    if (spec.noMetrics && placeholdersIn(spec.args).size > 0) throw new Error("{{metrics_*}} placeholders need a metrics endpoint, and --no-metrics gives none");
    args = metricsEndpoint ? substituteArgs(spec.args, metricsEndpoint) : [...spec.args];
  } catch (err) {
    throw invalid(errorMessage(err), err);
  }
  const cert = spec.autoMtls ? await generateCertificate() : undefined;
  const env = pluginEnvironment({
    daemonEnv: where.daemonEnv,
    userEnv: spec.env,
    magicCookieKey: spec.magicCookieKey,
    magicCookieValue: spec.magicCookieValue,
    protocolVersions: spec.protocolVersions,
    minPort: where.portRange.min,
    maxPort: where.portRange.max,
    unixSocketDir: where.socketDir,
    metricsAddr: metricsEndpoint ? formatAddress(metricsEndpoint) : undefined,
    instanceName: spec.name,
    stateDir: where.stateDir,
    clientCertPem: cert?.certPem,
    inheritEnv: spec.inheritEnv,
  });
  return { command, args, env, cwd: spec.workingDir, metricsEndpoint, cert };
}

/** The file an instance's stdout or stderr goes to. */
export function outputPath(logDir: string, name: string, stream: OutputStream): string {
  return join(logDir, `${name}.${stream}.log`);
}

/** The Unix socket an instance serves its metrics on (with --metrics-transport unix). */
export function metricsSocketPath(socketDir: string, name: string): string {
  return join(socketDir, `${name}.metrics.sock`);
}

/** Checks up front what spawn would only report as a bare ENOENT/EACCES. */
async function resolveExecutable(command: string, cwd: string, pathVar: string | undefined): Promise<string> {
  const candidates = command.includes("/")
    ? [isAbsolute(command) ? command : join(cwd, command)]
    : (pathVar ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      const st = await stat(candidate);
      if (!st.isFile()) continue;
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  if (command.includes("/")) {
    const exists = await stat(candidates[0]).then(() => true, () => false);
    throw invalid(exists ? `plugin command ${candidates[0]} is not an executable file` : `plugin command ${candidates[0]} does not exist`);
  }
  throw invalid(`plugin command ${JSON.stringify(command)} not found in PATH`);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function allocateMetricsEndpoint(spec: InstanceSpec, socketDir: string): Promise<Address> {
  if (spec.metricsTransport === "tcp") {
    return { kind: "tcp", host: "127.0.0.1", port: await kernelAssignedPort() };
  }
  const path = metricsSocketPath(socketDir, spec.name);
  if (Buffer.byteLength(path) > MAX_UNIX_PATH) {
    throw invalid(
      `metrics socket path ${path} is longer than the ${MAX_UNIX_PATH} bytes Unix sockets allow; ` +
        "use a shorter --state-dir or --metrics-transport tcp",
    );
  }
  await unlink(path).catch(() => undefined);
  return { kind: "unix", path };
}

function kernelAssignedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      server.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}
