// Fixtures for apply and diff: a plugins file on disk, and the results a daemon answers.
import { mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApplyAction } from "../../../src/shared/gen/plugprom/v1/control_pb.js";

/** A plugins file in a temporary directory of its own. */
export function pluginsFile(t: { after(fn: () => Promise<void>): void }, text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "pp-apply-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "plugins.yaml"), text);
  return { dir, file: join(dir, "plugins.yaml") };
}

/** One result per action, as the daemon answers (in name order). */
export const results = [
  { name: "abc", action: ApplyAction.UNCHANGED, changes: [], error: "" },
  { name: "g2", action: ApplyAction.UPDATED, changes: ["env.MODE fast -> slow", "restart on-failure -> always"], error: "" },
  { name: "new", action: ApplyAction.CREATED, changes: [], error: "" },
  { name: "old", action: ApplyAction.DELETED, changes: [], error: "" },
];

