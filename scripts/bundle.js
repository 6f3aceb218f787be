#!/usr/bin/env node
// Bundles the CLI into dist/bundle with esbuild, twice from the same source
// (src/cli/launch.ts picks one per run):
//  - plugprom.mjs: everything, the daemon as a lazily imported chunk. Runs `plugprom daemon`.
//  - plugprom-cli.cjs: the client commands only, as a classic script, so that the launcher can
//    compile it with a V8 code cache (Node 20 has none for ES modules). Its daemon import is
//    a stub that the launcher never reaches.
// One file to parse instead of hundreds of modules to resolve halves the CLI's start time;
// the code cache, leaving the daemon out and precomputed descriptors (scripts/
// fast-descriptors.ts) take off another third.
import { isAscii } from "node:buffer";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { fastDescriptors } from "../dist/scripts/fast-descriptors.js";

const root = fileURLToPath(new URL("..", import.meta.url));

// Chunk names carry content hashes: without a clean slate every build leaves its old chunks.
rmSync("dist/bundle", { recursive: true, force: true });

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
};

await build({
  ...common,
  entryPoints: { plugprom: "src/cli/main.ts" },
  outdir: "dist/bundle",
  splitting: true,
  format: "esm",
  outExtension: { ".js": ".mjs" },
  // Bundled CommonJS dependencies still call require() for Node built-ins.
  banner: { js: "import { createRequire as __plugpromRequire } from 'node:module'; const require = __plugpromRequire(import.meta.url);" },
});

/**
 * The client-only bundle has no daemon and no YAML parser: their imports (both dynamic)
 * become stubs that the launcher never reaches (it runs daemon, apply and diff from the full
 * bundle).
 */
const noDaemon = {
  name: "no-daemon",
  setup(b) {
    b.onResolve({ filter: /\/daemon\/main\.js$|\/shared\/plugins-file\.js$/ }, (args) => ({ path: args.path, namespace: "no-daemon" }));
    b.onLoad({ filter: /.*/, namespace: "no-daemon" }, (args) => ({
      contents: args.path.endsWith("plugins-file.js")
        ? 'export function parsePluginsFile() { throw new Error("internal: plugins files are not in the client bundle (see src/cli/launch.ts)"); }'
        : 'export async function runDaemon() { throw new Error("internal: the daemon is not in the client bundle (see src/cli/launch.ts)"); }',
      loader: "js",
    }));
  },
};

await build({
  ...common,
  entryPoints: ["src/cli/main.ts"],
  outfile: "dist/bundle/plugprom-cli.cjs",
  format: "cjs",
  // The launcher runs it as function (exports, require, module, __filename, __dirname).
  define: { "import.meta.url": "__plugpromModuleUrl" },
  banner: { js: 'const __plugpromModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [noDaemon, fastDescriptors(root, join(root, "src", "shared", "fast-desc.ts"))],
});

// esbuild escapes non-ASCII in code but keeps comments as written; an ASCII bundle is read
// into a one-byte string, several milliseconds quicker (src/cli/launch.ts).
const client = readFileSync("dist/bundle/plugprom-cli.cjs");
if (!isAscii(client)) console.warn("bundle.js: dist/bundle/plugprom-cli.cjs is not ASCII (a comment?): the CLI starts slower");
// The point of fast-descriptors: nothing in the client builds descriptor.proto's descriptor.
if (client.includes("google/protobuf/descriptor.proto")) console.warn("bundle.js: the client bundle still builds descriptor.proto's descriptor: the CLI starts slower");
