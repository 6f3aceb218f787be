// Prometheus' own linter on what plugprom exposes: the daemon's /metrics and a greeter
// scrape through the proxy, in both text and OpenMetrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { generateCertificate } from "../../src/goplugin/mtls.js";
import { join } from "node:path";
import { httpGet, startDaemon } from "../helpers/daemon.js";
import { repoRoot } from "../helpers/paths.js";
import { promtool } from "../helpers/prometheus.js";

test("promtool check metrics is clean on the daemon's /metrics and on a proxied greeter scrape", async (t) => {
  const d = await startDaemon();
  t.after(() => d.close());
  assert.equal((await d.cli(["start", "abc"])).code, 0);
  for (const [what, url, accept] of [
    ["daemon /metrics", `${d.httpBase}/metrics`, "text/plain"],
    ["greeter text", `${d.httpBase}/plugins/abc/metrics`, "text/plain;version=0.0.4"],
  ] as const) {
    const r = await httpGet(url, { accept });
    assert.equal(r.status, 200, what);
    const check = promtool(["check", "metrics"], r.body);
    assert.equal(check.code, 0, `${what}:\n${check.output}`);
    assert.equal(check.output.trim(), "", `${what} has lint findings:\n${check.output}`);
  }
  // promtool lints the text format only; OpenMetrics is parsed by Prometheus itself in the
  // end-to-end test (Prometheus asks for it first), so here only its framing is checked.
  const om = await httpGet(`${d.httpBase}/plugins/abc/metrics`, { accept: "application/openmetrics-text;version=1.0.0" });
  assert.match(String(om.headers["content-type"]), /^application\/openmetrics-text; version=1\.0\.0/);
  assert.match(om.body, /# EOF\n$/);
});

test("promtool check config passes on every prometheus.yml the project ships", async (t) => {
  // The configs name files under /etc/prometheus (a token, a CA, rules); promtool wants them to
  // exist, so they are made in a temp dir and the paths pointed there.
  const etc = mkdtempSync(join(tmpdir(), "pp-etc-"));
  t.after(() => rm(etc, { recursive: true, force: true }));
  writeFileSync(join(etc, "plugprom-scrape.token"), "token\n");
  writeFileSync(join(etc, "plugprom-ca.pem"), (await generateCertificate()).certPem);
  mkdirSync(join(etc, "rules"));
  copyFileSync(join(repoRoot, "mixin", "alerts.yaml"), join(etc, "rules", "plugprom.yaml")); // as docker-compose.yaml mounts it
  const files = readdirSync(join(repoRoot, "docker")).filter((f) => f.startsWith("prometheus") && /\.ya?ml$/.test(f));
  assert.ok(files.length >= 2);
  for (const f of files) {
    const config = join(etc, f);
    writeFileSync(config, readFileSync(join(repoRoot, "docker", f), "utf8").replaceAll("/etc/prometheus/", `${etc}/`));
    const check = promtool(["check", "config", config]);
    assert.equal(check.code, 0, `${f}:\n${check.output}`);
  }
});
