// The import graph of src/ keeps the shape the README's Development section describes: no
// cycles, and every import in an allowed direction. A change that breaks either fails here,
// naming the import, rather than slowly eroding the layout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { repoRoot } from "../helpers/paths.js";

interface Import {
  from: string; // module path relative to src/, e.g. "daemon/http/proxy.ts"
  to: string;
  typeOnly: boolean;
  dynamic: boolean;
}

const srcRoot = join(repoRoot, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === "gen" ? [] : sourceFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** Relative imports of one file (static, re-exports and dynamic), with whether only types cross. */
export function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  const add = (spec: string, typeOnly: boolean, dynamic: boolean) => {
    if (!spec.startsWith(".")) return;
    const target = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
    found.push({ from: relative(srcRoot, file), to: relative(srcRoot, target), typeOnly, dynamic });
  };
  const statement = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+["']([^"']+)["']/g;
  for (const m of text.matchAll(statement)) {
    const clause = m[3]!;
    const named = /^\{([^}]*)\}$/.exec(clause.trim());
    const allTypes =
      named !== null && named[1]!.split(",").map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith("type "));
    add(m[4]!, m[2] !== undefined || allTypes, false);
  }
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+["']([^"']+)["']/g)) add(m[1]!, false, false);
  for (const m of text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) add(m[1]!, false, true);
  return found;
}

function graph(): Import[] {
  return sourceFiles(srcRoot).flatMap((f) => importsOf(f, readFileSync(f, "utf8")));
}

/**
 * The part of src/ a module belongs to. Leaves at the daemon's top level (configuration
 * types, the logger, the instance view and spec, /proc reading, the daemon's own metrics)
 * are one part that every daemon folder may use; main.ts composes everything.
 */
function partOf(module: string): string {
  const parts = module.split("/");
  if (parts[0] !== "daemon") return parts[0]!;
  if (parts.length === 2) return parts[1] === "main.ts" ? "daemon/main" : "daemon/leaf";
  return `daemon/${parts[1]}`;
}

/** Which parts each part may import (besides itself). Data flows one way. */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  goplugin: ["shared"],
  plugin: ["shared", "goplugin"],
  "daemon/leaf": ["shared"],
  "daemon/state": ["shared", "daemon/leaf"],
  "daemon/scrape": ["shared", "daemon/leaf"],
  "daemon/supervision": ["shared", "goplugin", "daemon/leaf", "daemon/state", "daemon/scrape"],
  // The HTTP side sees instances only through the directory interface (daemon/instance.ts).
  "daemon/http": ["shared", "daemon/leaf", "daemon/scrape"],
  "daemon/control": ["shared", "daemon/leaf", "daemon/supervision", "daemon/scrape", "daemon/http"],
  "daemon/main": [
    "shared",
    "daemon/leaf",
    "daemon/state",
    "daemon/scrape",
    "daemon/supervision",
    "daemon/http",
    "daemon/control",
  ],
  cli: ["shared"],
};

/** The only ways the CLI reaches into the daemon: its option types, and starting it. */
function cliMayImport(i: Import): boolean {
  if (partOf(i.to).startsWith("daemon/") && i.typeOnly) return true;
  return i.to === "daemon/main.ts" && i.dynamic;
}

test("every src/ module belongs to a part with declared directions", () => {
  const unknown = [...new Set(graph().flatMap((i) => [i.from, i.to]).map(partOf))].filter((p) => !(p in ALLOWED));
  assert.deepEqual(unknown, []);
});

test("imports between parts of src/ go only in the allowed directions", () => {
  const wrong = graph()
    .filter((i) => {
      const from = partOf(i.from);
      const to = partOf(i.to);
      if (from === to) return false;
      if (from === "cli" && cliMayImport(i)) return false;
      return !(ALLOWED[from] ?? []).includes(to);
    })
    .map((i) => `${i.from} -> ${i.to}${i.typeOnly ? " (types)" : ""}`);
  assert.deepEqual(wrong, [], "imports against the allowed direction");
});

test("the go-plugin protocol code imports no plugin's own API (the example greeter's is the SDK side's)", () => {
  const wrong = graph()
    .filter((i) => partOf(i.from) === "goplugin" && i.to.startsWith("shared/gen/") && !/^shared\/gen\/(plugin|grpc)\//.test(i.to))
    .map((i) => `${i.from} -> ${i.to}`);
  assert.deepEqual(wrong, []);
});

test("src/ has no import cycle", () => {
  const edges = new Map<string, string[]>();
  for (const i of graph()) edges.set(i.from, [...(edges.get(i.from) ?? []), i.to]);
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (m: string, path: string[]) => {
    if (state.get(m) === "done") return;
    if (state.get(m) === "visiting") {
      cycles.push([...path.slice(path.indexOf(m)), m].join(" -> "));
      return;
    }
    state.set(m, "visiting");
    for (const next of edges.get(m) ?? []) visit(next, [...path, m]);
    state.set(m, "done");
  };
  for (const m of [...edges.keys()].sort()) visit(m, []);
  assert.deepEqual(cycles, []);
});

test("the import scanner sees type-only, re-exported and dynamic imports", () => {
  const f = join(srcRoot, "daemon", "x.ts");
  const text = [
    'import type { A } from "./a.js";',
    'import { type B, type C } from "./b.js";',
    'import { D, type E } from "./d.js";',
    'export { F } from "./f.js";',
    'const m = await import("./main.js");',
    'import "./side-effect.js";',
    'import { readFile } from "node:fs";',
  ].join("\n");
  assert.deepEqual(
    importsOf(f, text).map((i) => [i.to, i.typeOnly, i.dynamic]),
    [
      ["daemon/a.ts", true, false],
      ["daemon/b.ts", true, false],
      ["daemon/d.ts", false, false],
      ["daemon/f.ts", false, false],
      ["daemon/side-effect.ts", false, false],
      ["daemon/main.ts", false, true],
    ],
  );
});
