// Sizes as users write them (flags, catalog and plugins-file fields): "64MiB", "512KiB",
// "1GB" or a bare number of bytes; and sizes as messages show them ("150 MiB").

const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** Bytes in `text`; throws with a one-line reason when it is not a size. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim());
  const n = m ? Number(m[1]) * SIZE_UNITS[(m[2] ?? "b").toLowerCase()] : NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`invalid size ${JSON.stringify(text)}: use a number with a unit, e.g. 64MiB, 512KiB, 1GB`);
  return n;
}

/** "150 MiB", "1.5 GiB", "512 KiB", "100 B": binary units, at most one decimal. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= size) {
      const n = bytes / size;
      return `${n >= 10 || Number.isInteger(n) ? Math.round(n) : n.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} B`;
}
