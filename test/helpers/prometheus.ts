// A real Prometheus server (Debian's `prometheus` package) for end-to-end tests: a generated
// config, a temporary TSDB, a loopback port, and a small client for its HTTP API.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpGet, waitFor } from "./daemon.js";

export interface PrometheusHandle {
  base: string;
  configFile: string;
  api<T>(path: string): Promise<T>;
  close(): Promise<void>;
}

export function requireBinary(name: string, pkg: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === "") {
    throw new Error(`${name} not found: install Debian's ${pkg} package (apt-get install ${pkg}); npm test installs it when run as root`);
  }
  return path;
}

/** Runs `promtool <args>` with optional stdin; returns its exit code and output. */
export function promtool(args: string[], input?: string): { code: number | null; output: string } {
  const bin = requireBinary("promtool", "prometheus");
  const r = spawnSync(bin, args, { input, encoding: "utf8" });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/**
 * The README's Prometheus config for a daemon (one HTTP SD job, "plugprom"), at test speed:
 * scrapes, SD refreshes and rule evaluations every second.
 */
export function sdJobConfig(daemonHttpAddr: string, ruleFiles: string[] = []): string {
  return `
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ${JSON.stringify(ruleFiles)}
scrape_configs:
  - job_name: plugprom
    http_sd_configs:
      - url: http://${daemonHttpAddr}/sd_config
        refresh_interval: 1s
`;
}

export async function startPrometheus(configYaml: string): Promise<PrometheusHandle> {
  const bin = requireBinary("prometheus", "prometheus");
  const dir = await mkdtemp(join(tmpdir(), "pp-prom-"));
  const configFile = join(dir, "prometheus.yml");
  await writeFile(configFile, configYaml);
  const check = promtool(["check", "config", configFile]);
  if (check.code !== 0) throw new Error(`promtool check config failed:\n${check.output}`);

  const port = await freePort();
  const proc: ChildProcess = spawn(
    bin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  proc.stderr!.on("data", (c: Buffer) => (log += c.toString("utf8")));
  const exited = once(proc, "exit");
  const base = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor("Prometheus to be ready", async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited (${proc.exitCode}):\n${log}`);
      return (await httpGet(`${base}/-/ready`).catch(() => ({ status: 0 }))).status === 200;
    }, 30_000);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    base,
    configFile,
    async api<T>(path: string): Promise<T> {
      const r = await httpGet(`${base}${path}`);
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body}`);
      return (JSON.parse(r.body) as { data: T }).data;
    },
    close,
  };
}
