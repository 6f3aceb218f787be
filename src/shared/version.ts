// The package version, read once from package.json at the repository root.
import { readFileSync } from "node:fs";

function readVersion(): string {
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "plugprom" && pkg.version) return pkg.version;
    } catch {
      // try the next candidate: the layout differs between dist/ and a bundle
    }
  }
  return "0.0.0-unknown";
}

export const VERSION = readVersion();
