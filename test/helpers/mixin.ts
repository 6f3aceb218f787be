// The monitoring mixin (mixin/) as data for the tests: its rules, its unit tests, and the
// dashboard's queries with Grafana's template variables substituted.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "./paths.js";

export const mixinDir = join(repoRoot, "mixin");
export const alertsFile = join(mixinDir, "alerts.yaml");
export const rulesTestFile = join(mixinDir, "tests.yaml");
export const dashboardFile = join(mixinDir, "dashboard.json");

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function loadRules(text = readFileSync(alertsFile, "utf8")): Rule[] {
  const file = parse(text) as { groups: Array<{ name: string; rules: Rule[] }> };
  return file.groups.flatMap((g) => g.rules);
}

export interface AlertRuleTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: Array<{ exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }>;
}

/** Every alert_rule_test of mixin/tests.yaml, with the name of its test group. */
export function loadAlertRuleTests(): Array<AlertRuleTest & { group: string }> {
  const file = parse(readFileSync(rulesTestFile, "utf8")) as { tests: Array<{ name: string; alert_rule_test?: AlertRuleTest[] }> };
  return file.tests.flatMap((t) => (t.alert_rule_test ?? []).map((a) => ({ ...a, group: t.name })));
}

export interface DashboardTarget {
  refId: string;
  expr: string;
  instant?: boolean;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: DashboardTarget[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(dashboardFile, "utf8")) as Dashboard;
}

/** Every query of the dashboard, named after its panel, with `vars` put in for $name / ${name}. */
export function dashboardQueries(vars: Record<string, string>): Array<{ panel: string; expr: string }> {
  const substitute = (expr: string) =>
    expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare!;
      if (!(name in vars)) throw new Error(`no value for template variable ${whole} in ${expr}`);
      return vars[name];
    });
  return loadDashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: `${p.title} ${t.refId}`, expr: substitute(t.expr) })));
}

/**
 * The selectors of raw series in a PromQL expression: `up` and `plugprom_*`, `process_*`,
 * `nodejs_*`, `scrape_*` (not recorded series, whose names have colons), with their matchers.
 */
export function seriesSelectors(expr: string): Array<{ name: string; matchers: string }> {
  const re = /(?<![\w:])(up|(?:plugprom|process|nodejs|scrape)_[a-z_]+)(?![\w:])\s*(\{[^}]*\})?/g;
  return [...expr.matchAll(re)].map((m) => ({ name: m[1], matchers: m[2] ?? "" }));
}
