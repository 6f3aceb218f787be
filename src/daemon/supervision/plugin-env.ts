// The environment a plugin process gets: a minimal allowlist from the daemon's own
// environment (never its secrets), the user's --env entries, and go-plugin's protocol
// variables, which nothing else may override.

/** Variables a program needs to run normally; everything else of the daemon's stays home. */
const PASSTHROUGH = ["PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER", "LOGNAME"];
const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

export interface PluginEnvOptions {
  daemonEnv: NodeJS.ProcessEnv;
  userEnv: Readonly<Record<string, string>>;
  magicCookieKey: string;
  magicCookieValue: string;
  protocolVersions: readonly number[];
  minPort: number;
  maxPort: number;
  unixSocketDir: string;
  /** PLUGPROM_METRICS_ADDR: unix:/abs/path or 127.0.0.1:PORT; undefined with --no-metrics. */
  metricsAddr: string | undefined;
  instanceName: string;
  /** PLUGPROM_DAEMON_STATE_DIR: with PLUGPROM_INSTANCE, how a daemon finds this plugin's processes. */
  stateDir: string;
  /** PEM of the host's AutoMTLS client certificate. */
  clientCertPem?: string;
  /** --inherit-env: the daemon's whole environment instead of the allowlist. */
  inheritEnv?: boolean;
}

export function pluginEnvironment(o: PluginEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.daemonEnv)) {
    if (v !== undefined && (o.inheritEnv || PASSTHROUGH.includes(k) || k.startsWith("LC_"))) env[k] = v;
  }
  env.PATH ??= DEFAULT_PATH;
  Object.assign(env, o.userEnv);
  env[o.magicCookieKey] = o.magicCookieValue;
  env.PLUGIN_PROTOCOL_VERSIONS = o.protocolVersions.join(",");
  env.PLUGIN_MIN_PORT = String(o.minPort);
  env.PLUGIN_MAX_PORT = String(o.maxPort);
  env.PLUGIN_UNIX_SOCKET_DIR = o.unixSocketDir;
  if (o.metricsAddr !== undefined) env.PLUGPROM_METRICS_ADDR = o.metricsAddr;
  else delete env.PLUGPROM_METRICS_ADDR;
  env.PLUGPROM_INSTANCE = o.instanceName;
  env.PLUGPROM_DAEMON_STATE_DIR = o.stateDir;
  if (o.clientCertPem) env.PLUGIN_CLIENT_CERT = o.clientCertPem;
  else delete env.PLUGIN_CLIENT_CERT;
  return env;
}

/** The environment entries every process of instance `name` carries (see orphans.ts). */
export function pluginMarks(stateDir: string, name: string): string[] {
  return [`PLUGPROM_INSTANCE=${name}`, `PLUGPROM_DAEMON_STATE_DIR=${stateDir}`];
}
