import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTargetGroups, renderSdDocument } from "../../../../src/daemon/http/discovery.js";
import { PluginState } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { instance } from "../../../helpers/fake-directory.js";

const inst = (name: string, state: PluginState, labels: Record<string, string> = {}) => instance(name, state, { labels });
const daemonGroup = { targets: ["host:2112"], labels: { __metrics_path__: "/metrics", __meta_plugprom_role: "daemon" } };

test("with no plugins the document holds only the daemon's own target", () => {
  assert.deepEqual(buildTargetGroups([], "host:2112"), [daemonGroup]);
  assert.equal(renderSdDocument(buildTargetGroups([], "host:2112")), `${JSON.stringify([daemonGroup])}\n`);
});

test("one group per running plugin, sorted by name, with its labels", () => {
  const groups = buildTargetGroups([inst("zeta", PluginState.RUNNING), inst("abc", PluginState.RUNNING, { team: "core" })], "host:2112");
  assert.deepEqual(groups.slice(1), [
    {
      targets: ["host:2112"],
      labels: {
        team: "core",
        __metrics_path__: "/plugins/abc/metrics",
        __meta_plugprom_plugin: "abc",
        __meta_plugprom_role: "plugin",
        __meta_plugprom_state: "running",
        plugin: "abc",
      },
    },
    {
      targets: ["host:2112"],
      labels: {
        __metrics_path__: "/plugins/zeta/metrics",
        __meta_plugprom_plugin: "zeta",
        __meta_plugprom_role: "plugin",
        __meta_plugprom_state: "running",
        plugin: "zeta",
      },
    },
  ]);
});

test("only instances the supervisor marks as advertised are listed, with their state", () => {
  const groups = buildTargetGroups(
    [
      { ...inst("up", PluginState.RUNNING), advertised: true },
      { ...inst("waiting", PluginState.BACKOFF), advertised: true },
      { ...inst("new", PluginState.STARTING), advertised: false },
      { ...inst("going", PluginState.STOPPING), advertised: false },
    ],
    "h:1",
  );
  assert.deepEqual(
    groups.slice(1).map((g) => [g.labels.plugin, g.labels.__meta_plugprom_state]),
    [["up", "running"], ["waiting", "backoff"]],
  );
});

test("per-plugin scrape settings become __scrape_interval__ and __scrape_timeout__ in Prometheus syntax", () => {
  const [, g] = buildTargetGroups([{ ...inst("p", PluginState.RUNNING), scrapeIntervalMs: 90_000, scrapeTimeoutMs: 2_500 }], "h:1");
  assert.equal(g.labels.__scrape_interval__, "1m30s");
  assert.equal(g.labels.__scrape_timeout__, "2s500ms");
  const [, plain] = buildTargetGroups([inst("p", PluginState.RUNNING)], "h:1");
  assert.equal(plain.labels.__scrape_interval__, undefined, "without settings the job's apply");
});

test("served over TLS, every target carries __scheme__: https", () => {
  const groups = buildTargetGroups([inst("p", PluginState.RUNNING)], "h:1", { scheme: "https" });
  assert.deepEqual(groups.map((g) => g.labels.__scheme__), ["https", "https"]);
  assert.equal(buildTargetGroups([], "h:1")[0].labels.__scheme__, undefined);
});

test("user labels cannot override the reserved ones", () => {
  const [, g] = buildTargetGroups([inst("p", PluginState.RUNNING, { __metrics_path__: "/evil", plugin: "other" })], "h:1");
  assert.equal(g.labels.__metrics_path__, "/plugins/p/metrics");
  assert.equal(g.labels.plugin, "p");
});

const stateLabels: Array<[PluginState, string]> = [
  [PluginState.RUNNING, "running"],
  [PluginState.CRASHED, "crashed"],
  [PluginState.BACKOFF, "backoff"],
  [PluginState.CRASHLOOP, "crashloop"],
];
for (const [state, label] of stateLabels) {
  test(`an advertised ${PluginState[state]} instance carries __meta_plugprom_state="${label}"`, () => {
    const [, g] = buildTargetGroups([{ ...inst("p", state), advertised: true }], "h:1");
    assert.equal(g.labels.__meta_plugprom_state, label);
  });
}

test("the rendered document is compact JSON ending in one newline", () => {
  const doc = renderSdDocument(buildTargetGroups([inst("a", PluginState.RUNNING)], "h:1"));
  assert.ok(doc.endsWith("]\n") && !doc.slice(0, -1).includes("\n"));
  assert.deepEqual(JSON.parse(doc), buildTargetGroups([inst("a", PluginState.RUNNING)], "h:1"));
});
