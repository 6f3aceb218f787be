// No Docker engine runs here, so the quickstart files are checked statically: they parse,
// Prometheus accepts its config, and names, ports and addresses agree across the files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "../helpers/paths.js";
import { promtool } from "../helpers/prometheus.js";

const dockerDir = join(repoRoot, "docker");
interface Compose {
  services: Record<string, { build?: { context: string; dockerfile: string }; image?: string; command?: string[]; ports?: string[]; depends_on?: unknown; volumes?: string[] }>;
}

const compose = parse(readFileSync(join(dockerDir, "docker-compose.yaml"), "utf8")) as Compose;
const promText = readFileSync(join(dockerDir, "prometheus.yml"), "utf8");
const prom = parse(promText) as {
  rule_files?: string[];
  scrape_configs: Array<{ http_sd_configs?: Array<{ url: string }> }>;
};
const flag = (cmd: string[] | undefined, name: string) => cmd?.find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1);
const prometheusService = Object.values(compose.services).find((s) => s.image?.startsWith("prom/prometheus"))!;
/** The Prometheus container's bind mounts: container path → the file in this checkout. */
const mounts = new Map(
  (prometheusService.volumes ?? []).map((v) => {
    const [source, target] = v.split(":");
    return [target, resolve(dockerDir, source)] as const;
  }),
);

test("docker/prometheus.yml passes promtool check config with the compose mounts in place, rules included", (t) => {
  // The container paths it names are pointed at the files compose mounts there.
  let config = promText;
  for (const [target, source] of mounts) config = config.replaceAll(target, source);
  const dir = mkdtempSync(join(tmpdir(), "pp-docker-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "prometheus.yml"), config);
  const r = promtool(["check", "config", join(dir, "prometheus.yml")]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS: [1-9]\d* rules found/, "the mixin's rules are loaded");
});

test("the compose Prometheus loads the mixin's rules: every rule file it names is mounted from mixin/alerts.yaml", () => {
  assert.ok((prom.rule_files ?? []).length > 0, "docker/prometheus.yml has rule_files");
  for (const f of prom.rule_files!) assert.equal(mounts.get(f), join(repoRoot, "mixin", "alerts.yaml"), `${f} is mounted from the mixin`);
  assert.equal(mounts.get("/etc/prometheus/prometheus.yml"), join(dockerDir, "prometheus.yml"));
  assert.ok((prometheusService.volumes ?? []).every((v) => v.endsWith(":ro")), "mounted read-only");
});

test("Prometheus' SD URL names the daemon's service and HTTP port, and the daemon advertises that same name", () => {
  const sdUrls = prom.scrape_configs.flatMap((c) => (c.http_sd_configs ?? []).map((s) => new URL(s.url)));
  assert.equal(sdUrls.length, 1);
  const [url] = sdUrls;
  const daemon = compose.services[url.hostname];
  assert.ok(daemon, `no compose service named ${url.hostname}`);
  assert.equal(url.pathname, "/sd_config");
  const httpPort = flag(daemon.command, "--http-addr")!.split(":").pop();
  assert.equal(url.port, httpPort, "the SD URL uses the daemon's --http-addr port");
  assert.equal(flag(daemon.command, "--advertise-addr"), `${url.hostname}:${httpPort}`, "targets resolve inside the compose network");
  assert.ok(daemon.ports?.some((p) => p.endsWith(`:${httpPort}`)), "the HTTP port is published");
});

test("the one-shot start service reaches the daemon's control address and waits for it to be healthy", () => {
  const daemonName = Object.keys(compose.services).find((n) => compose.services[n].command?.[0] === "daemon")!;
  const daemon = compose.services[daemonName];
  const starter = Object.values(compose.services).find((s) => s.command?.includes("start"))!;
  const grpcPort = flag(daemon.command, "--grpc-addr")!.split(":").pop();
  assert.equal(flag(starter.command, "--addr"), `${daemonName}:${grpcPort}`);
  assert.deepEqual(starter.depends_on, { [daemonName]: { condition: "service_healthy" } });
  assert.equal(starter.image, daemon.image, "the same image runs the CLI");
});

test("the Dockerfile is multi-stage, runs as a non-root user, checks /healthz and runs the daemon", () => {
  const dockerfile = readFileSync(join(dockerDir, "Dockerfile"), "utf8");
  assert.equal((dockerfile.match(/^FROM node:20/gm) ?? []).length, 2);
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^HEALTHCHECK .*\n?.*\/healthz/m);
  assert.match(dockerfile, /^ENTRYPOINT \["plugprom"\]$/m);
  assert.match(dockerfile, /^CMD \["daemon"\]$/m);
  const build = Object.values(compose.services).find((s) => s.build)!.build!;
  assert.equal(build.dockerfile, "docker/Dockerfile");
  assert.equal(build.context, "..");
});
