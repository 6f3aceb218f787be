// The coalescing writer behind instances.json and --file-sd: atomic, coalesced, and silent
// when nothing changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
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

test("flush rejects with the write's error while the newest content is not on disk, and settles again once it is", async (t) => {
  const file = tempFile(t, "state.json");
  const errors: unknown[] = [];
  const w = new CoalescingFileWriter(file, (err) => errors.push(err));
  w.save(() => "v1\n");
  await w.flush();
  // A directory where the temp file should go makes every write fail, as a full disk would.
  const blocker = `${file}.${process.pid}.tmp`;
  mkdirSync(blocker);
  w.save(() => "v2\n");
  await assert.rejects(w.flush(), (err: NodeJS.ErrnoException) => err.code === "EISDIR");
  assert.equal(errors.length, 1);
  assert.equal(readFileSync(file, "utf8"), "v1\n", "the old content stays whole");
  await assert.rejects(w.flush(), "still not saved");
  rmdirSync(blocker);
  w.save(() => "v3\n");
  await w.flush();
  assert.equal(readFileSync(file, "utf8"), "v3\n");
});
