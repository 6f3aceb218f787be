// `plugprom apply` and `plugprom diff` through the real commander wiring with a fake control
// client: flags -> Apply request, results -> the documented lines, JSON and exit codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApplyAction, type ApplyRequest } from "../../src/shared/gen/plugprom/v1/control_pb.js";
import { runCli } from "./cli-fakes.js";

function fileIn(t: { after(fn: () => Promise<void>): void }, text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "pp-apply-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "plugins.yaml"), text);
  return { dir, file: join(dir, "plugins.yaml") };
}

const results = [
  { name: "abc", action: ApplyAction.UNCHANGED, changes: [], error: "" },
  { name: "g2", action: ApplyAction.UPDATED, changes: ["env.MODE fast -> slow", "restart on-failure -> always"], error: "" },
  { name: "new", action: ApplyAction.CREATED, changes: [], error: "" },
  { name: "old", action: ApplyAction.DELETED, changes: [], error: "" },
];

test("apply sends the file's text and absolute path with the flags, and prints one line per instance", async (t) => {
  const { dir } = fileIn(t, "instances:\n  abc: {}\n");
  const r = await runCli({ apply: () => ({ results }) }, ["apply", "-f", "plugins.yaml", "--prune"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const req = r.calls[0][1] as ApplyRequest;
  assert.deepEqual({ ...req }, { content: "instances:\n  abc: {}\n", path: join(dir, "plugins.yaml"), prune: true, dryRun: false });
  assert.equal(r.stdout, "unchanged abc\nupdated g2\ncreated new\ndeleted old\n");
});

test("apply --json prints the sorted names per action; a failed instance exits 1 after the others", async (t) => {
  const { file } = fileIn(t, "instances:\n  abc: {}\n");
  const failed = [...results, { name: "zz", action: ApplyAction.FAILED, attempted: ApplyAction.CREATED, changes: [], error: "plugin exited before its handshake (exit 1)" }];
  const r = await runCli({ apply: () => ({ results: failed }) }, ["apply", "-f", file, "--json"]);
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout), {
    created: ["new"],
    updated: ["g2"],
    unchanged: ["abc"],
    deleted: ["old"],
    failed: [{ name: "zz", error: "plugin exited before its handshake (exit 1)" }],
  });
  assert.match(r.stderr, /^plugprom: 1 of 5 instances failed: zz; the others were applied\n$/);
});

test("apply --dry-run asks for a dry run and says that nothing changed", async (t) => {
  const { file } = fileIn(t, "instances: {}\n");
  const r = await runCli({ apply: () => ({ results }) }, ["apply", "-f", file, "--dry-run"]);
  assert.equal(r.code, 0);
  assert.equal((r.calls[0][1] as ApplyRequest).dryRun, true);
  assert.match(r.stdout, /\(dry run: nothing was changed\)\n$/);
});

test("an invalid file exits 2 with one line per problem, and the daemon is never asked", async (t) => {
  const { file } = fileIn(t, "instances:\n  g2:\n    env: [\"MODE=fast\", \"bad\"]\n    restart: sometimes\n");
  const r = await runCli({}, ["apply", "-f", file]);
  assert.equal(r.code, 2);
  assert.equal(r.calls.length, 0);
  assert.equal(
    r.stderr,
    `plugprom: ${file}: instances.g2.env.1: must be a "KEY=VALUE" string\nplugprom: ${file}: instances.g2.restart: must be "always", "on-failure" or "never"\n`,
  );
  const missing = await runCli({}, ["diff", "-f", join(file, "..", "nope.yaml")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^plugprom: .*nope\.yaml: cannot read it: ENOENT\n$/);
  const noFlag = await runCli({}, ["apply"]);
  assert.equal(noFlag.code, 2);
  assert.match(noFlag.stderr, /required option '-f, --file <file>' not specified/);
});

test("diff prints each change of an update on its own line and exits 1; nothing to do exits 0", async (t) => {
  const { file } = fileIn(t, "instances: {}\n");
  const r = await runCli({ apply: () => ({ results }) }, ["diff", "-f", file, "--prune"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "", "a difference is an answer, not an error");
  assert.deepEqual({ dryRun: (r.calls[0][1] as ApplyRequest).dryRun, prune: (r.calls[0][1] as ApplyRequest).prune }, { dryRun: true, prune: true });
  assert.equal(r.stdout, "g2: env.MODE fast -> slow\ng2: restart on-failure -> always\nnew: create\nold: delete\n");
  const json = await runCli({ apply: () => ({ results }) }, ["diff", "-f", file, "--json"]);
  assert.deepEqual(JSON.parse(json.stdout), {
    created: ["new"],
    updated: [{ name: "g2", changes: ["env.MODE fast -> slow", "restart on-failure -> always"] }],
    unchanged: ["abc"],
    deleted: ["old"],
  });
  const same = await runCli({ apply: () => ({ results: [results[0]] }) }, ["diff", "-f", file]);
  assert.deepEqual([same.code, same.stdout], [0, "no changes\n"]);
});
