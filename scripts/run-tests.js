#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's built-in test runner. Node 20's
// runner takes no globs, so the files are listed here; an optional argument narrows the set
// to files whose path contains it (e.g. `npm test -- unit/`).
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const testRoot = join(root, "dist", "test");
const filter = process.argv[2];

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".test.js") ? [join(dir, e.name)] : [],
  );
}

// tsc never deletes output: a compiled test whose source was moved or removed must not run.
const hasSource = (f) => existsSync(join(root, "test", relative(testRoot, f)).replace(/\.js$/, ".ts"));

const files = walk(testRoot)
  .filter(hasSource)
  .filter((f) => !filter || relative(testRoot, f).includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${testRoot}${filter ? ` matching ${filter}` : ""}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
