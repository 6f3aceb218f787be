#!/usr/bin/env node
// Bundles the CLI (and, as a lazily loaded chunk, the daemon) into dist/bundle with esbuild:
// one file to parse instead of hundreds of modules to resolve halves the CLI's start time.
import { rmSync } from "node:fs";
import { build } from "esbuild";

// Chunk names carry content hashes: without a clean slate every build leaves its old chunks.
rmSync("dist/bundle", { recursive: true, force: true });

await build({
  entryPoints: { plugprom: "src/cli/main.ts" },
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  outExtension: { ".js": ".mjs" },
  // Bundled CommonJS dependencies still call require() for Node built-ins.
  banner: { js: "import { createRequire as __plugpromRequire } from 'node:module'; const require = __plugpromRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: "warning",
});
