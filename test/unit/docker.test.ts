// No Docker engine runs here, so the quickstart files are checked statically: they parse,
// Prometheus accepts its config, and names, ports and addresses agree across the files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "../helpers/paths.js";
import { promtool } from "../helpers/prometheus.js";
import { parsePluginsFile } from "../../src/shared/plugins-file.js";

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

test("the daemon applies a plugins file it mounts, and that file is valid", () => {
  const daemon = Object.values(compose.services).find((s) => s.command?.[0] === "daemon")!;
  const target = flag(daemon.command, "--apply");
  assert.ok(target, "the daemon runs with --apply");
  const volume = (daemon.volumes ?? []).find((v) => v.split(":")[1] === target);
  assert.ok(volume !== undefined && volume.endsWith(":ro"), `${target} is mounted read-only`);
  const source = resolve(dockerDir, volume.split(":")[0]);
  const file = parsePluginsFile(readFileSync(source, "utf8"), dirname(target), source);
  assert.deepEqual(file.instances.get("abc"), { labels: { team: "demo" } });
  assert.ok(!Object.values(compose.services).some((s) => s.command?.includes("start")), "no one-shot start service any more");
});

interface Instruction {
  op: string;
  args: string;
}

/** The Dockerfile's instructions (continuation lines joined, comments dropped), per stage. */
function dockerStages(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of lines) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op.toUpperCase() === "FROM") stages.push([]);
    stages.at(-1)!.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

const dockerfile = readFileSync(join(dockerDir, "Dockerfile"), "utf8");
const [buildStage, runtimeStage] = dockerStages(dockerfile);
const runs = (stage: Instruction[]) => stage.filter((i) => i.op === "RUN").map((i) => i.args);

test("the Dockerfile is multi-stage, runs as a non-root user, checks /healthz and runs the daemon", () => {
  assert.equal((dockerfile.match(/^FROM node:20/gm) ?? []).length, 2);
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^HEALTHCHECK .*\n?.*\/healthz/m);
  assert.match(dockerfile, /^ENTRYPOINT \["plugprom"\]$/m);
  assert.match(dockerfile, /^CMD \["daemon"\]$/m);
  assert.equal(runtimeStage.filter((i) => i.op === "USER").at(-1)?.args, "node", "the last user is node");
  const build = Object.values(compose.services).find((s) => s.build)!.build!;
  assert.equal(build.dockerfile, "docker/Dockerfile");
  assert.equal(build.context, "..");
});

test("the image holds what the npm package holds: the build stage packs, the runtime stage installs that tarball and copies nothing else", () => {
  assert.ok(runs(buildStage).some((r) => /\bnpm pack\b/.test(r)), "the build stage runs npm pack");
  const fromBuild = runtimeStage.filter((i) => i.op === "COPY" || i.op === "ADD");
  assert.ok(fromBuild.length > 0);
  for (const copy of fromBuild) {
    assert.match(copy.args, /^--from=build \S+\.tgz \S+$/, `the runtime stage copies only the packed tarball (no dist/, node_modules or sources): ${copy.op} ${copy.args}`);
  }
  const tarball = fromBuild[0].args.split(/\s+/).at(-1)!;
  // An absolute path: npm would read "pkg/x.tgz" as a GitHub repository.
  assert.ok(tarball.startsWith("/"), tarball);
  assert.ok(
    runs(runtimeStage).some((r) => /\bnpm (install|i) (.* )?(--global|-g)\b/.test(r) && r.includes(tarball) && r.includes("--omit=dev")),
    "the runtime stage installs the tarball globally, without dev dependencies",
  );
});

test("the build stage copies every file the package carries besides dist/, and everything it copies exists", () => {
  const copied = buildStage.filter((i) => i.op === "COPY").flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  for (const source of copied) assert.ok(existsSync(join(repoRoot, source)), `COPY ${source}: not in the repository`);
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { files: string[] };
  const carried = pkg.files.filter((f) => !f.startsWith("!") && !f.startsWith("dist/")).map((f) => f.replace(/\/$/, ""));
  assert.ok(carried.length > 0);
  for (const f of carried) assert.ok(copied.includes(f), `package.json "files" has ${f}, which the build stage does not copy: npm pack would leave it out of the image`);
});
