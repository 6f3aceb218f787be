// The coalescing writer behind instances.json and --file-sd: atomic, coalesced, and silent
// when nothing changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { CoalescingFileWriter } from "../../../../src/daemon/state/atomic-file.js";
import { tempFile } from "../../../helpers/temp.js";


test("a burst of saves costs at most two writes, and the newest content wins", async (t) => {
  const file = tempFile(t, "state.json");
  let renders = 0;
  const w = new CoalescingFileWriter(file, (err) => assert.fail(String(err)));
  for (let i = 0; i < 50; i++) w.save(() => (renders++, `v${i}\n`));
  await w.flush();
  assert.equal(readFileSync(file, "utf8"), "v49\n");
  assert.ok(renders <= 2, `${renders} renders`);
});

test("content equal to the last write is not written again, and flush still settles", { timeout: 10_000 }, async (t) => {
  const file = tempFile(t, "state.json");
  const w = new CoalescingFileWriter(file, (err) => assert.fail(String(err)));
  w.save(() => "same\n");
  await w.flush();
  const inode = statSync(file).ino; // every write renames a new file into place
  w.save(() => "same\n");
  await w.flush();
  assert.equal(statSync(file).ino, inode, "not rewritten");
  w.save(() => "changed\n");
  await w.flush();
  assert.notEqual(statSync(file).ino, inode);
  assert.equal(readFileSync(file, "utf8"), "changed\n");
});
