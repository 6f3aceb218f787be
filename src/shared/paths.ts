// Where the installed package lives, found from any module (a tsc build under dist/src, or
// the esbuild bundle under dist/bundle): the directory holding plugprom's package.json.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "plugprom") return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("plugprom's package.json not found above its code");
    dir = up;
  }
}

export const packageRoot = findPackageRoot();

/** The bundled example plugin, always from the tsc build (it is spawned, not imported). */
export const bundledGreeterScript = join(packageRoot, "dist", "src", "plugin", "examples", "greeter.js");
