// plugprom apply -f FILE [--prune] [--dry-run]: flags -> options, and options -> the Apply
// call, one line per instance or the documented JSON, and the exit codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ApplyAction } from "../../../../src/shared/gen/plugprom/v1/control_pb.js";
import { newApplyCommand, runApply, type ApplyOptions } from "../../../../src/cli/commands/apply.js";
import { CliError } from "../../../../src/cli/errors.js";
import { parseCommand, runCli, testSeams } from "../fakes.js";
import { pluginsFile, results } from "../plugins-files.js";

const options = (file: string, o: Partial<ApplyOptions> = {}): ApplyOptions => ({ file, path: file, prune: false, dryRun: false, json: false, ...o });

test("apply takes -f (relative to the working directory), --prune and --dry-run; -f is required", async () => {
  const parsed = await parseCommand<ApplyOptions>(newApplyCommand, ["apply", "-f", "plugins.yaml", "--prune", "--dry-run", "--json"], { cwd: "/srv" });
  assert.deepEqual(parsed.options, { file: "plugins.yaml", path: "/srv/plugins.yaml", prune: true, dryRun: true, json: true });
  assert.deepEqual((await parseCommand<ApplyOptions>(newApplyCommand, ["apply", "--file", "/etc/p.yaml"])).options, options("/etc/p.yaml"));
  const missing = await parseCommand<ApplyOptions>(newApplyCommand, ["apply"]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, 'plugprom: apply needs -f <file>, the plugins file (see "plugprom apply --help")\n');
});

test("apply sends the file's text and absolute path with the flags, and prints one line per instance", async (t) => {
  const { file } = pluginsFile(t, "instances:\n  abc: {}\n");
  const { seams, rec } = testSeams({ apply: () => ({ results }) });
  await runApply(options(file, { prune: true }), seams);
  assert.deepEqual({ ...rec.calls[0][1] }, { content: "instances:\n  abc: {}\n", path: file, prune: true, dryRun: false });
  assert.equal(rec.stdout, "unchanged abc\nupdated g2\ncreated new\ndeleted old\n");
});

test("apply --json prints the sorted names per action; a failed instance exits 1 after the others", async (t) => {
  const { file } = pluginsFile(t, "instances:\n  abc: {}\n");
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
  assert.equal(r.stderr, "plugprom: 1 of 5 instances failed: zz; the others were applied\n");
});

test("apply --dry-run asks for a dry run and says that nothing changed", async (t) => {
  const { file } = pluginsFile(t, "instances: {}\n");
  const { seams, rec } = testSeams({ apply: () => ({ results }) });
  await runApply(options(file, { dryRun: true }), seams);
  assert.equal(rec.calls[0][1].dryRun, true);
  assert.match(rec.stdout, /\(dry run: nothing was changed\)\n$/);
});

test("an invalid file exits 2 with one line per problem, and the daemon is never asked", async (t) => {
  const { file } = pluginsFile(t, 'instances:\n  g2:\n    env: ["MODE=fast", "bad"]\n    restart: sometimes\n');
  const r = await runCli({}, ["apply", "-f", file]);
  assert.equal(r.code, 2);
  assert.equal(r.calls.length, 0);
  assert.equal(
    r.stderr,
    `plugprom: ${file}: instances.g2.env.1: must be a "KEY=VALUE" string\nplugprom: ${file}: instances.g2.restart: must be "always", "on-failure" or "never"\n`,
  );
  const { seams } = testSeams({});
  await assert.rejects(runApply(options(join(file, "..", "nope.yaml")), seams), (e: unknown) => e instanceof CliError && e.exitCode === 2 && /nope\.yaml: cannot read it: ENOENT/.test(e.message));
});
