// Durations as users write them on the command line: "500ms", "5s", "1m30s", "2h", as in
// Go and Prometheus (units ms, s, m, h; decimals allowed; parts in any order add up).
// A bare number is refused rather than guessed at (seconds? milliseconds?); only "0",
// which means the same in every unit, needs none.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;

export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "") throw new Error("empty duration");
  if (s === "0") return 0;
  let total = 0;
  PART.lastIndex = 0;
  let consumed = 0;
  for (let m = PART.exec(s); m; m = PART.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    consumed = PART.lastIndex;
  }
  if (consumed !== s.length) {
    throw new Error(`invalid duration ${JSON.stringify(text)}: use a number with a unit, e.g. 500ms, 5s, 1m30s`);
  }
  return Math.round(total);
}

/** Prometheus' duration syntax (model.Duration), exact to the millisecond: "1m30s", "500ms". */
export function formatPromDuration(ms: number): string {
  if (ms <= 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1_000], ["ms", 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  let s = Math.floor(ms / 1_000);
  const h = Math.floor(s / 3_600);
  s -= h * 3_600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${s}s` : `${s}s`;
}
