// bin/plugprom and bin/plugprom-greeter in a checkout that was never built: the real shims,
// copied into a directory laid out like a fresh clone, say in one line what to run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Cleanup } from "../helpers/daemon.js";
import { repoRoot } from "../helpers/paths.js";
import { tempDir } from "../helpers/temp.js";

function fakeCheckout(t: Cleanup, withNodeModules: boolean): string {
  const dir = tempDir(t, "pp-clone-");
  cpSync(join(repoRoot, "bin"), join(dir, "bin"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "plugprom", type: "module" }));
  if (withNodeModules) mkdirSync(join(dir, "node_modules"));
  return dir;
}

for (const command of ["plugprom", "plugprom-greeter"]) {
  test(`${command} in a fresh clone says to run npm ci, in one line, and exits 1`, (t) => {
    const dir = fakeCheckout(t, false);
    const r = spawnSync(join(dir, "bin", command), ["--help"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `${command}: this checkout is not built (no dist/): run \`npm ci\` in ${dir}/\n`);
  });

  test(`${command} with dependencies installed but not built says to run npm run build`, (t) => {
    const dir = fakeCheckout(t, true);
    const r = spawnSync(join(dir, "bin", command), ["version"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `${command}: this checkout is not built (no dist/): run \`npm run build\` in ${dir}/\n`);
  });
}
