// Operator conveniences with a real daemon: file SD export, process metrics for every
// plugin, shell completion of instance names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { daemon, getPlugin, httpGet, PLUGPROM, runCli, testEnv, waitFor } from "../helpers/daemon.js";
import { promtool } from "../helpers/prometheus.js";

test("--file-sd keeps a Prometheus file_sd file equal to /sd_config, through starts and stops", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pp-filesd-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "plugprom.json");
  const d = await daemon(t, ["--file-sd", file]);
  const same = async () => readFileSync(file, "utf8") === (await httpGet(`${d.httpBase}/sd_config`)).body;
  assert.equal((await d.cli(["start", "abc", "--label", "team=core"])).code, 0);
  await waitFor("the file to list abc", async () => (await same()) && readFileSync(file, "utf8").includes('"plugin":"abc"'));
  // Prometheus itself accepts it as file_sd.
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, `scrape_configs:\n  - job_name: plugprom\n    file_sd_configs:\n      - files: [${JSON.stringify(file)}]\n`);
  const check = promtool(["check", "config", config]);
  assert.equal(check.code, 0, check.output);
  assert.equal((await d.cli(["stop", "abc"])).code, 0);
  await waitFor("the file to drop abc", async () => (await same()) && !readFileSync(file, "utf8").includes('"plugin":"abc"'));
});

test("every plugin's process is measured from /proc: plugprom_plugin_process_*", async (t) => {
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "abc"])).code, 0);
  const { pid } = await getPlugin(d, "abc");
  const body = (await httpGet(`${d.httpBase}/metrics`)).body;
  const value = (name: string) => Number(new RegExp(`^${name}\\{plugin="abc"\\} (\\S+)$`, "m").exec(body)?.[1]);
  assert.ok(value("plugprom_plugin_process_resident_memory_bytes") > 1024 * 1024);
  assert.ok(value("plugprom_plugin_process_virtual_memory_bytes") >= value("plugprom_plugin_process_resident_memory_bytes"));
  assert.ok(value("plugprom_plugin_process_cpu_seconds_total") > 0);
  assert.ok(value("plugprom_plugin_process_threads") >= 1);
  assert.ok(value("plugprom_plugin_process_open_fds") >= 3);
  const start = value("plugprom_plugin_process_start_time_seconds");
  assert.ok(Math.abs(start - Date.now() / 1000) < 120, `start time ${start}`);
  const threads = Number(/^Threads:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  assert.ok(Math.abs(value("plugprom_plugin_process_threads") - threads) <= 2);
  const lint = promtool(["check", "metrics"], body);
  assert.equal(lint.output.trim(), "", lint.output);
});

test("shell completion completes commands, and instance names from the running daemon", async (t) => {
  const d = await daemon(t);
  for (const n of ["alpha", "beta"]) assert.equal((await d.cli(["start", n])).code, 0);
  const bash = (words: string[]) =>
    spawnSync("bash", ["-c", `eval "$(${PLUGPROM} completion bash)"; COMP_WORDS=(${words.map((w) => `"${w}"`).join(" ")}); COMP_CWORD=${words.length - 1}; _plugprom; printf '%s\\n' "\${COMPREPLY[@]}"`], {
      encoding: "utf8",
      env: { ...testEnv({ PLUGPROM_ADDR: d.grpcAddr }), PATH: `${join(PLUGPROM, "..")}:${process.env.PATH}` },
    }).stdout.trim().split("\n");
  assert.deepEqual(bash(["plugprom", "sto"]), ["stop"]);
  assert.deepEqual(bash(["plugprom", "stop", ""]).sort(), ["alpha", "beta"]);
  assert.deepEqual(bash(["plugprom", "logs", "b"]), ["beta"]);
  for (const shell of ["zsh", "fish"]) {
    const r = await runCli(["completion", shell]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /__complete-names/);
  }
  assert.equal((await runCli(["completion", "powershell"])).code, 2);
  const away = await runCli(["--addr", "127.0.0.1:1", "__complete-names"]);
  assert.deepEqual([away.code, away.stdout, away.stderr], [0, "", ""], "silent when the daemon is away");
});

test("a plugin started with --no-metrics gets no endpoint, and its target serves its process_* metrics", async (t) => {
  const { buildGoProgram } = await import("../helpers/go-build.js");
  const go = await buildGoProgram("goplugin-greeter");
  const d = await daemon(t);
  const r = await d.cli(["start", "bare", "--no-metrics", "--json", "--", go]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { metricsEndpoint: string; pid: number };
  assert.equal(info.metricsEndpoint, "");
  assert.doesNotMatch(readFileSync(`/proc/${info.pid}/environ`, "utf8"), /PLUGPROM_METRICS_ADDR=/);
  const scrape = await httpGet(`${d.httpBase}/plugins/bare/metrics`);
  assert.equal(scrape.status, 200);
  assert.match(scrape.body, /^process_resident_memory_bytes \d+$/m);
  assert.match(scrape.body, /^process_cpu_seconds_total [\d.]+$/m);
  assert.match(scrape.body, /^process_open_fds \d+$/m);
  const lint = promtool(["check", "metrics"], scrape.body);
  assert.equal(lint.code, 0, lint.output);
  assert.equal((await d.cli(["start", "bad", "--no-metrics", "--", go, "-port", "{{metrics_port}}"])).code, 2, "placeholders need an endpoint");
});
