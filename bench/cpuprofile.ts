// Summarises a V8 .cpuprofile (from `node --cpu-prof`) without any tool: a top-N table of
// self time by function, the same by module, a folded-stacks file ("a;b;c <µs>" lines) for
// flamegraph tools (flamegraph.pl, speedscope, inferno), and a self-contained SVG flame graph.
//
//   node dist/bench/cpuprofile.js PROFILE.cpuprofile [--top N] [--folded OUT.folded] [--svg OUT.svg]
//
// Modules: a frame's file, its package for node_modules, "node:<id>" for Node's own
// JavaScript; inside an esbuild bundle the "// path/to/file.js" comments esbuild writes
// before each bundled module give the original module of a line.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Summary {
  totalUs: number;
  /** [label, self µs], largest first. */
  byFunction: Array<[string, number]>;
  byModule: Array<[string, number]>;
  /** Folded stacks, one "frame;frame;frame µs" line per distinct stack. */
  folded: string[];
}

/** Self time per node: each sample lasts until the next one (the last until endTime). */
function selfTimes(p: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  let t = p.startTime;
  const times = p.timeDeltas.map((d) => (t += d));
  for (let i = 0; i < p.samples.length; i++) {
    const dur = (i + 1 < times.length ? times[i + 1] : p.endTime) - times[i];
    if (dur > 0) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dur);
  }
  return self;
}

/** Line (0-based) → bundled module, from esbuild's "// path" comments; cached per file. */
const bundleSections = new Map<string, Array<[number, string]>>();
function sectionsOf(url: string): Array<[number, string]> {
  let s = bundleSections.get(url);
  if (s) return s;
  s = [];
  try {
    const lines = readFileSync(url.startsWith("file:") ? fileURLToPath(url) : url, "utf8").split("\n");
    lines.forEach((l, i) => {
      const m = /^\/\/ ((?:[\w@.-]+\/)+[\w@.-]+\.(?:[cm]?js|[cm]?ts|json))$/.exec(l);
      if (m) s!.push([i, m[1]]);
    });
  } catch {
    // Not a readable file (eval'd code, gone since): no sections.
  }
  bundleSections.set(url, s);
  return s;
}

export function moduleOf(f: CallFrame): string {
  const { url } = f;
  if (!url) return f.functionName.startsWith("(") ? f.functionName : "(native)";
  if (url.startsWith("node:")) return url;
  const sections = sectionsOf(url);
  let file = url.replace(/^file:\/\//, "");
  if (sections.length > 0) {
    let lo = -1;
    for (const [line, path] of sections) {
      if (line > f.lineNumber) break;
      lo = line;
      file = path;
    }
    if (lo < 0) file = `${file} (bundle prelude)`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  return nm ? nm[1] : file.replace(/^.*?\/(src|dist|bin|bench|test)\//, "$1/");
}

function frameLabel(f: CallFrame): string {
  const name = f.functionName || "(anonymous)";
  if (!f.url) return name;
  // The line is the script's own (a bundle's, for bundled modules).
  return `${name} ${moduleOf(f)} (${f.url.slice(f.url.lastIndexOf("/") + 1)}:${f.lineNumber + 1})`.replace(/;/g, ",");
}

export function summarise(p: CpuProfile): Summary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = selfTimes(p);
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  const folded = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const key = frameLabel(f);
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const mod = moduleOf(f);
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
    const stack: string[] = [];
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const cf = byId.get(n)!.callFrame;
      if (cf.functionName !== "(root)") stack.push(frameLabel(cf));
    }
    const line = stack.reverse().join(";");
    folded.set(line, (folded.get(line) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalUs: p.endTime - p.startTime,
    byFunction: sorted(byFunction),
    byModule: sorted(byModule),
    folded: [...folded].filter(([, us]) => us > 0).map(([s, us]) => `${s} ${Math.round(us)}`),
  };
}

export function table(title: string, rows: Array<[string, number]>, totalUs: number, top: number): string {
  const out = [`| ${title} | self ms | % |`, "| --- | --- | --- |"];
  for (const [label, us] of rows.slice(0, top)) out.push(`| ${label.replace(/\|/g, "\\|")} | ${(us / 1000).toFixed(2)} | ${((100 * us) / totalUs).toFixed(1)} |`);
  return out.join("\n");
}

interface Tree {
  name: string;
  value: number;
  children: Map<string, Tree>;
}

/** A flame graph of folded stacks as one SVG file (hover a frame for its name and time). */
export function flameSvg(foldedText: string, title: string): string {
  const root: Tree = { name: "all", value: 0, children: new Map() };
  for (const line of foldedText.split("\n")) {
    const i = line.lastIndexOf(" ");
    if (i <= 0) continue;
    const value = Number(line.slice(i + 1));
    let node = root;
    root.value += value;
    for (const name of line.slice(0, i).split(";")) {
      let child = node.children.get(name);
      if (!child) node.children.set(name, (child = { name, value: 0, children: new Map() }));
      child.value += value;
      node = child;
    }
  }
  const width = 1200;
  const rowH = 16;
  const rects: string[] = [];
  let depthMax = 0;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const draw = (node: Tree, x: number, depth: number) => {
    const w = (node.value / root.value) * width;
    if (w < 0.3) return;
    depthMax = Math.max(depthMax, depth);
    const hue = 10 + ((node.name.length * 7) % 40);
    const label = w > 40 ? esc(node.name.slice(0, Math.floor(w / 7))) : "";
    rects.push(
      `<g><title>${esc(node.name)} (${(node.value / 1000).toFixed(1)} ms, ${((100 * node.value) / root.value).toFixed(1)}%)</title><rect x="${x.toFixed(1)}" y="${depth}" width="${w.toFixed(1)}" height="${rowH - 1}" fill="hsl(${hue},80%,60%)"/><text x="${(x + 3).toFixed(1)}" y="${depth}" dy="12" font-size="11" font-family="monospace">${label}</text></g>`,
    );
    let cx = x;
    for (const child of [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      draw(child, cx, depth + 1);
      cx += (child.value / root.value) * width;
    }
  };
  draw(root, 0, 0);
  // Depth was counted in rows; flip so the root is at the bottom, as flame graphs are drawn.
  const height = (depthMax + 2) * rowH + 20;
  const body = rects.map((r) => r.replace(/ y="(\d+)"/g, (_m, d: string) => ` y="${height - (Number(d) + 1) * rowH - 4}"`)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><text x="4" y="14" font-size="13" font-family="sans-serif">${esc(title)}</text>\n${body}\n</svg>\n`;
}

function main(argv: string[]): void {
  const file = argv.find((a, i) => !a.startsWith("--") && !["--top", "--folded", "--svg"].includes(argv[i - 1]));
  if (!file) {
    console.error("usage: node dist/bench/cpuprofile.js PROFILE.cpuprofile [--top N] [--folded OUT.folded] [--svg OUT.svg]");
    process.exit(2);
  }
  const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const top = Number(opt("--top") ?? 25);
  const s = summarise(JSON.parse(readFileSync(file, "utf8")) as CpuProfile);
  console.log(`${file}: ${(s.totalUs / 1000).toFixed(1)} ms profiled\n`);
  console.log(`${table("module", s.byModule, s.totalUs, top)}\n`);
  console.log(table("function", s.byFunction, s.totalUs, top));
  const foldedOut = opt("--folded");
  if (foldedOut) {
    writeFileSync(foldedOut, `${s.folded.join("\n")}\n`);
    console.log(`\nfolded stacks: ${foldedOut}`);
  }
  const svgOut = opt("--svg");
  if (svgOut) {
    writeFileSync(svgOut, flameSvg(s.folded.join("\n"), file));
    console.log(`flame graph: ${svgOut}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
