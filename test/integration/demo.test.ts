// The README's first command for a fresh machine: `npm run demo` (here with --once, which
// stops the daemon after the walkthrough instead of waiting for Ctrl-C).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { processesStartedBy } from "../helpers/procs.js";
import { testEnv } from "../helpers/daemon.js";

test("the demo starts a daemon and abc, shows list, targets and a scrape, and stops cleanly", async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), "pp-demo-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const demo = spawn(process.execPath, [join(repoRoot, "scripts", "demo.js"), "--once"], {
    env: testEnv({ PLUGPROM_STATE_DIR: stateDir, PLUGPROM_GRPC_ADDR: "127.0.0.1:0", PLUGPROM_HTTP_ADDR: "127.0.0.1:0" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => void demo.kill("SIGKILL"));
  let out = "";
  demo.stdout!.on("data", (c: Buffer) => (out += c));
  demo.stderr!.on("data", (c: Buffer) => (out += c));
  const [code] = (await once(demo, "exit")) as [number];
  assert.equal(code, 0, out);
  assert.match(out, /\$ plugprom start abc/);
  assert.match(out, /^abc\s+RUNNING/m, "list shows abc running");
  assert.match(out, /"__meta_plugprom_plugin":"abc"/, "targets shows abc");
  assert.match(out, /^plugin_greet_count 1$/m, "the scrape shows the greeting");
  assert.match(out, /http_sd_configs:\n\s+- url: http:\/\/127\.0\.0\.1:\d+\/sd_config/);
  assert.match(out, /plugprom daemon stopped/);
  assert.deepEqual(processesStartedBy(stateDir), []);
});
