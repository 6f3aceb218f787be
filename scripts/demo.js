#!/usr/bin/env node
// `npm run demo`: the README's first command. Starts a daemon, starts the bundled plugin
// `abc`, shows list, targets and a scrape, then leaves the daemon running for Prometheus
// until Ctrl-C (or stops at once with --once, which the tests use).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const plugprom = fileURLToPath(new URL("../bin/plugprom", import.meta.url));
const once = process.argv.includes("--once");
const stateDir =
  process.env.PLUGPROM_STATE_DIR ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "plugprom-demo");

// Its own process group: Ctrl-C reaches only this script, which stops the daemon once.
const daemon = spawn(plugprom, ["daemon", "--state-dir", stateDir], { stdio: ["ignore", "inherit", "pipe"], detached: true });
let daemonLog = "";
const ready = new Promise((resolve, reject) => {
  daemon.stderr.on("data", (chunk) => {
    process.stderr.write(chunk);
    daemonLog += chunk;
    if (daemonLog.includes("plugprom daemon ready")) resolve();
  });
  daemon.once("exit", (code) => reject(new Error(`the daemon exited (${code}) before it was ready`)));
});

function stopDaemon(code) {
  if (daemon.exitCode !== null) process.exit(code);
  daemon.once("exit", () => process.exit(code));
  daemon.kill("SIGTERM");
}
process.on("SIGINT", () => stopDaemon(0));
process.on("SIGTERM", () => stopDaemon(0));

try {
  await ready;
} catch (err) {
  console.error(`demo: ${err.message}`);
  process.exit(1);
}
const state = JSON.parse(readFileSync(join(stateDir, "daemon.json"), "utf8"));

function cli(...args) {
  console.log(`\n$ plugprom ${args.join(" ")}`);
  const r = spawnSync(plugprom, ["--addr", state.grpcAddr, ...args], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`demo: "plugprom ${args.join(" ")}" failed (exit ${r.status})`);
    stopDaemon(1);
    return false;
  }
  return true;
}

const ok = cli("start", "abc", "--label", "team=demo") && cli("list") && cli("targets") && cli("scrape", "abc");
if (ok) {
  console.log(`
${once ? "With --once the daemon stops now; without it, it keeps running." : "The daemon keeps running."} Point Prometheus at it with:

  scrape_configs:
    - job_name: plugprom
      http_sd_configs:
        - url: http://${state.advertiseAddr}/sd_config

${once ? "" : "Press Ctrl-C to stop the daemon and its plugins."}`);
  if (once) stopDaemon(0);
}
