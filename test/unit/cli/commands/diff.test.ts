// plugprom diff -f FILE [--prune]: flags -> options, and options -> a dry-run Apply printed
// change by change; exit 1 when something would change, 0 when nothing would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newDiffCommand, runDiff, type DiffOptions } from "../../../../src/cli/commands/diff.js";
import { QuietExit } from "../../../../src/cli/errors.js";
import { parseCommand, runCli, testSeams } from "../fakes.js";
import { pluginsFile, results } from "../plugins-files.js";

test("diff takes -f and --prune, and no --dry-run (it is one)", async () => {
  assert.deepEqual((await parseCommand<DiffOptions>(newDiffCommand, ["diff", "-f", "p.yaml", "--prune"], { cwd: "/srv" })).options, {
    file: "p.yaml",
    path: "/srv/p.yaml",
    prune: true,
    json: false,
  });
  assert.equal((await parseCommand<DiffOptions>(newDiffCommand, ["diff", "-f", "p.yaml", "--dry-run"])).code, 2);
});

test("diff prints each change of an update on its own line and exits 1, quietly", async (t) => {
  const { file } = pluginsFile(t, "instances: {}\n");
  const r = await runCli({ apply: () => ({ results }) }, ["diff", "-f", file, "--prune"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "", "a difference is an answer, not an error");
  assert.deepEqual({ dryRun: r.calls[0][1].dryRun, prune: r.calls[0][1].prune }, { dryRun: true, prune: true });
  assert.equal(r.stdout, "g2: env.MODE fast -> slow\ng2: restart on-failure -> always\nnew: create\nold: delete\n");
});

test("diff --json gives each update's changes; nothing to do prints no changes and returns", async (t) => {
  const { file } = pluginsFile(t, "instances: {}\n");
  const o: DiffOptions = { file, path: file, prune: false, json: true };
  const changed = testSeams({ apply: () => ({ results }) });
  await assert.rejects(runDiff(o, changed.seams), (e: unknown) => e instanceof QuietExit && e.exitCode === 1);
  assert.deepEqual(JSON.parse(changed.rec.stdout), {
    created: ["new"],
    updated: [{ name: "g2", changes: ["env.MODE fast -> slow", "restart on-failure -> always"] }],
    unchanged: ["abc"],
    deleted: ["old"],
  });
  const same = testSeams({ apply: () => ({ results: [results[0]] }) });
  await runDiff({ ...o, json: false }, same.seams);
  assert.equal(same.rec.stdout, "no changes\n");
});
