// Temporary files and directories that a test removes when it ends.
import { mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cleanup } from "./daemon.js";

/** A fresh directory in the system's temp dir (short: Unix socket paths inside it must stay under 107 bytes). */
export function tempDir(t: Cleanup, prefix = "pp-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A path named `name` in a fresh temp directory; written with `content` when given. */
export function tempFile(t: Cleanup, name = "file", content?: string): string {
  const file = join(tempDir(t), name);
  if (content !== undefined) writeFileSync(file, content);
  return file;
}
