// Reads a V8 .cpuprofile (node --cpu-prof) and turns it into what a person reads: the
// functions with the most self time, the most inclusive time, folded stacks (the input
// format of flame graph tools) and a self-contained SVG flame graph.
//
//   node dist/bench/cpuprofile.js <file.cpuprofile> [--top 25] [--svg out.svg] [--folded out.txt]
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { pathToFileURL } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Row {
  frame: string;
  selfMs: number;
  totalMs: number;
}

/** "name file:line", with node_modules and dist paths shortened to what identifies them. */
export function frameName(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const fn = functionName || "(anonymous)";
  if (!url) return fn;
  const short = url.replace(/^file:\/\//, "").replace(/^.*\/node_modules\//, "").replace(/^.*\/dist\//, "");
  return `${fn} ${short}:${lineNumber + 1}`;
}

/** Time per sampled node: each sample is charged the delta that follows it. */
function sampleTimes(p: CpuProfile): Map<number, number> {
  const out = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    out.set(p.samples[i], (out.get(p.samples[i]) ?? 0) + dt);
  }
  return out;
}

function stacks(p: CpuProfile): Map<number, ProfileNode[]> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map<number, ProfileNode[]>();
  for (const n of p.nodes) {
    const stack: ProfileNode[] = [];
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) stack.unshift(byId.get(id)!);
    out.set(n.id, stack.slice(1)); // without (root)
  }
  return out;
}

export function summarize(p: CpuProfile): { totalMs: number; rows: Row[] } {
  const times = sampleTimes(p);
  const all = stacks(p);
  const rows = new Map<string, Row>();
  const row = (f: string) => rows.get(f) ?? rows.set(f, { frame: f, selfMs: 0, totalMs: 0 }).get(f)!;
  let totalMs = 0;
  for (const [id, ms] of times) {
    totalMs += ms;
    const stack = all.get(id)!;
    if (stack.length === 0) continue;
    row(frameName(stack[stack.length - 1])).selfMs += ms;
    for (const f of new Set(stack.map(frameName))) row(f).totalMs += ms;
  }
  return { totalMs, rows: [...rows.values()] };
}

/** One line per distinct stack, root first, frames separated by ';', then the time in µs. */
export function folded(p: CpuProfile): string {
  const times = sampleTimes(p);
  const all = stacks(p);
  const lines = new Map<string, number>();
  for (const [id, ms] of times) {
    const stack = all.get(id)!.map(frameName).map((f) => f.replace(/;/g, ","));
    if (stack.length === 0) continue;
    const key = stack.join(";");
    lines.set(key, (lines.get(key) ?? 0) + ms * 1000);
  }
  return [...lines].map(([k, us]) => `${k} ${Math.round(us)}`).join("\n") + "\n";
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

export function table(p: CpuProfile, top: number): string {
  const { totalMs, rows } = summarize(p);
  const pct = (ms: number) => `${((100 * ms) / totalMs).toFixed(1)}%`;
  const lines = [`sampled ${totalMs.toFixed(0)} ms`, "", "| self | total | function |", "| ---: | ---: | --- |"];
  for (const r of rows.sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) lines.push(`| ${pct(r.selfMs)} | ${pct(r.totalMs)} | \`${r.frame}\` |`);
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) {
    console.error("usage: cpuprofile <file.cpuprofile> [--top N] [--svg out.svg] [--folded out.txt]");
    process.exit(2);
  }
  const opt = (name: string) => {
    const i = rest.indexOf(name);
    return i === -1 ? undefined : rest[i + 1];
  };
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  console.log(table(profile, Number(opt("--top") ?? 25)));
  const f = folded(profile);
  if (opt("--folded")) writeFileSync(opt("--folded")!, f);
  if (opt("--svg")) writeFileSync(opt("--svg")!, flameSvg(f, basename(file)));
}
