// The monitoring mixin, checked without a server: promtool validates and unit-tests the
// rules, and the files keep the promises the README makes about them (every alert tested
// both ways, every selector renamed by the documented sed line, a well-formed dashboard).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { repoRoot } from "../helpers/paths.js";
import { promtool } from "../helpers/prometheus.js";
import { alertsFile, dashboardQueries, loadAlertRuleTests, loadDashboard, loadRules, rulesTestFile, seriesSelectors } from "../helpers/mixin.js";

const JOBS = ['job="plugprom"', 'job="plugprom-federate"'];

test("promtool check rules accepts mixin/alerts.yaml", () => {
  const r = promtool(["check", "rules", alertsFile]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, new RegExp(`SUCCESS: ${loadRules().length} rules found`));
});

test("promtool test rules passes mixin/tests.yaml", () => {
  const r = promtool(["test", "rules", rulesTestFile]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

test("every alert is made to fire by a unit test and shown silent by another; per-plugin alerts fire with their plugin label", () => {
  const alerts = loadRules().filter((r) => r.alert);
  const cases = loadAlertRuleTests();
  for (const { alert } of alerts) {
    const mine = cases.filter((c) => c.alertname === alert);
    const firing = mine.filter((c) => (c.exp_alerts ?? []).length > 0);
    assert.ok(firing.length > 0, `${alert} never fires in mixin/tests.yaml`);
    assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} is never shown silent in mixin/tests.yaml`);
    if (alert !== "PlugpromDaemonDown") {
      for (const c of firing) for (const e of c.exp_alerts!) assert.ok(e.exp_labels?.plugin, `${alert} in "${c.group}" fires without a plugin label`);
    }
  }
  const unknown = cases.filter((c) => !alerts.some((a) => a.alert === c.alertname));
  assert.deepEqual(unknown.map((c) => c.alertname), [], "tests name alerts that do not exist");
});

test("every alert has a severity, a for: duration, a summary and a description, naming the plugin when it is about one", () => {
  for (const r of loadRules().filter((x) => x.alert)) {
    assert.ok(["critical", "warning"].includes(r.labels?.severity ?? ""), `${r.alert}: severity ${r.labels?.severity}`);
    assert.match(r.for ?? "", /^\d+[smh]$/, `${r.alert}: for:`);
    assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert}: summary and description`);
    if (r.alert !== "PlugpromDaemonDown") {
      for (const a of ["summary", "description"]) assert.match(r.annotations[a], /\{\{ \$labels\.plugin \}\}/, `${r.alert}: ${a} names the plugin`);
    }
  }
});

test("every selector of a raw series in the rules names a job, so the README's sed line renames them all", () => {
  for (const r of loadRules()) {
    for (const s of seriesSelectors(r.expr)) {
      assert.ok(JOBS.some((j) => s.matchers.includes(j)), `${r.alert ?? r.record}: ${s.name}${s.matchers} has no job matcher`);
    }
  }
});

test("the README's sed line renames the jobs everywhere and the result still passes promtool", async (t) => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const line = readme.split("\n").find((l) => l.startsWith("sed ") && l.includes("mixin/alerts.yaml"));
  assert.ok(line, "README has a sed line over mixin/alerts.yaml");
  const dir = mkdtempSync(join(tmpdir(), "pp-mixin-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "mixin"));
  copyFileSync(alertsFile, join(dir, "mixin", "alerts.yaml"));
  const r = spawnSync("sh", ["-c", line], { cwd: dir, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = /> *(\S+)\s*$/.exec(line)![1];
  const renamed = readFileSync(join(dir, out), "utf8");
  for (const j of JOBS) assert.ok(!renamed.includes(j), `${j} is left in the renamed rules`);
  const original = readFileSync(alertsFile, "utf8");
  const count = (s: string) => (s.match(/job="[^"]*"/g) ?? []).length;
  assert.equal(count(renamed), count(original), "every job matcher is still there, renamed");
  const check = promtool(["check", "rules", join(dir, out)]);
  assert.equal(check.code, 0, check.output);
});

test("the dashboard has job and plugin variables, and every panel reads the data source variable", () => {
  const d = loadDashboard();
  const vars = d.templating.list.map((v) => v.name);
  for (const v of ["datasource", "job", "plugin"]) assert.ok(vars.includes(v), `variable ${v}`);
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  for (const p of d.panels.filter((x) => x.type !== "row")) {
    assert.equal(p.datasource?.uid, "${datasource}", p.title);
    assert.ok((p.targets ?? []).length > 0, `${p.title} has a query`);
    for (const q of p.targets!) {
      for (const s of seriesSelectors(q.expr)) assert.match(s.matchers, /job=~"\$job"/, `${p.title}: ${s.name}${s.matchers} ignores $job`);
    }
  }
});

test("the dashboard's panels lie on Grafana's 24-column grid without overlapping", () => {
  const cells = new Map<string, string>();
  for (const p of loadDashboard().panels) {
    const { x, y, w, h } = p.gridPos;
    assert.ok(x >= 0 && w > 0 && x + w <= 24, `${p.title} fits the grid`);
    for (let i = x; i < x + w; i++) {
      for (let j = y; j < y + h; j++) {
        const key = `${i},${j}`;
        assert.ok(!cells.has(key), `${p.title} overlaps ${cells.get(key)}`);
        cells.set(key, p.title);
      }
    }
  }
});

test("every dashboard query parses as PromQL once its variables are put in (promtool, as recording rules)", async (t) => {
  const queries = dashboardQueries({ datasource: "prometheus", job: "plugprom", plugin: ".+", __rate_interval: "1m" });
  const dir = mkdtempSync(join(tmpdir(), "pp-dash-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "queries.yaml");
  writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules: queries.map((q, i) => ({ record: `dashboard_query_${i}`, expr: q.expr })) }] }));
  const r = promtool(["check", "rules", file]);
  assert.equal(r.code, 0, r.output);
});
