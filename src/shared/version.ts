// The package version, read once from plugprom's package.json.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./paths.js";

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version?: string }).version ?? "0.0.0-unknown";
  } catch {
    return "0.0.0-unknown";
  }
}

export const VERSION = readVersion();
