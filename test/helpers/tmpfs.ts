// A small filesystem of its own for a test (tmpfs, which needs root): a full disk that fills
// in milliseconds and harms nothing else. Unmounted (lazily, so that a process still holding
// a file in it cannot block the cleanup) and removed when the test ends.
import { execFileSync } from "node:child_process";
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Mounts a tmpfs of `size` (e.g. "16m"); undefined when this machine does not let us. */
export function smallFilesystem(t: { after(fn: () => void | Promise<void>): void }, size: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), "pp-fs-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir], { stdio: "ignore" });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  t.after(() => {
    try {
      execFileSync("umount", ["-l", dir], { stdio: "ignore" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return dir;
}

/** Fills the filesystem holding `dir` until a write fails with ENOSPC; returns the filler. */
export function fillFilesystem(dir: string): string {
  const filler = join(dir, "filler");
  const fd = openSync(filler, "a");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) {
      try {
        writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
        break;
      }
    }
    // The last partial pages: smaller writes until not even one byte fits.
    for (let n = 4096; n >= 1; n = Math.floor(n / 2)) {
      try {
        while (true) writeSync(fd, chunk.subarray(0, n));
      } catch {
        // next size down
      }
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}
