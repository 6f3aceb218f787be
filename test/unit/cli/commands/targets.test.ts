// plugprom targets: the daemon's SD document, byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newTargetsCommand, runTargets, type TargetsOptions } from "../../../../src/cli/commands/targets.js";
import { parseCommand, testSeams } from "../fakes.js";

test("targets has no options of its own; --json is accepted and changes nothing", async () => {
  for (const args of [["targets"], ["--json", "targets"]]) {
    const r = await parseCommand<TargetsOptions>(newTargetsCommand, args);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.options, {});
  }
});

test("targets writes the daemon's SD document byte for byte", async () => {
  const doc = '[{"targets":["h:2112"],"labels":{"__metrics_path__":"/plugins/abc/metrics","plugin":"abc"}}]\n';
  const { seams, rec } = testSeams({ targets: () => ({ json: doc }) });
  await runTargets({}, seams);
  assert.equal(rec.stdout, doc);
});
