// Merges the text expositions of several plugins into one, as /federate serves it: every
// series gets plugin="<name>", each family appears once with one HELP and one TYPE, no series
// name is claimed by two families, and no series appears twice. Conflicts between plugins
// are resolved for the first plugin in name order; the output is text format 0.0.4.
import { ExpositionSyntaxError, parseExposition, type Family, type FamilyType } from "./exposition-parser.js";

export const FEDERATE_UP_METRIC = "plugprom_federate_plugin_up";
/** Families under this prefix are the daemon's; a plugin's family of such a name is dropped. */
const RESERVED_PREFIX = "plugprom_federate_";

/** A plugin's exposition that is not valid text format; nothing of it was merged. */
export class ExpositionError extends Error {}

interface MergedFamily {
  readonly type: FamilyType;
  readonly help: string;
  readonly lines: string[];
}

/** One plugin's families, rendered and checked, before they are committed to the merge. */
interface StagedFamily {
  name: string;
  type: FamilyType;
  help: string;
  /** Rendered sample lines. */
  series: string[];
}

export class ExpositionMerger {
  private readonly families = new Map<string, MergedFamily>();
  /** Series name (e.g. h_bucket) → the family that owns it. */
  private readonly owners = new Map<string, string>();
  private readonly up: Array<[string, 0 | 1]> = [];

  /**
   * Parses one plugin's exposition and merges it, every series labelled plugin="<plugin>".
   * Throws ExpositionError when the text is not a valid exposition (nothing is merged then).
   * Returns the names of the plugin's families left out because an earlier plugin's family
   * claims one of their series names with another type, or because the name is reserved.
   */
  add(plugin: string, text: string): string[] {
    return this.commit(stageExposition(plugin, text));
  }

  /** Merges what stageExposition prepared; see add. Cheap: the parsing is done. */
  commit(staged: StagedExposition): string[] {
    const dropped: string[] = [];
    for (const fam of staged.families) {
      const names = seriesNames(fam.name, fam.type);
      const existing = this.families.get(fam.name);
      const clash =
        fam.name.startsWith(RESERVED_PREFIX) ||
        (existing !== undefined && existing.type !== fam.type) ||
        names.some((n) => {
          const owner = this.owners.get(n);
          return owner !== undefined && owner !== fam.name;
        });
      if (clash) {
        dropped.push(fam.name);
        continue;
      }
      let merged = existing;
      if (!merged) {
        merged = { type: fam.type, help: fam.help, lines: [] };
        this.families.set(fam.name, merged);
        for (const n of names) this.owners.set(n, fam.name);
      }
      // Series of different plugins differ in their plugin label: none can repeat.
      for (const line of fam.series) merged.lines.push(line);
    }
    return dropped;
  }

  /** Records whether the plugin's metrics made it into the merge (plugprom_federate_plugin_up). */
  markUp(plugin: string, up: boolean): void {
    this.up.push([plugin, up ? 1 : 0]);
  }

  /** The merged exposition, one chunk per family, families in name order. */
  *render(): Generator<string> {
    const names = [...this.families.keys()].sort();
    for (const name of names) {
      const fam = this.families.get(name)!;
      if (fam.lines.length === 0) continue;
      const head = fam.help === "" ? "" : `# HELP ${name} ${escapeHelp(fam.help)}\n`;
      yield `${head}# TYPE ${name} ${fam.type}\n${fam.lines.join("\n")}\n`;
    }
    if (this.up.length > 0) {
      const lines = [...this.up].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([p, v]) => `${FEDERATE_UP_METRIC}{plugin="${escapeLabelValue(p)}"} ${v}`);
      yield `# HELP ${FEDERATE_UP_METRIC} 1 if the plugin's metrics are in this response, 0 if it could not be scraped or parsed.\n# TYPE ${FEDERATE_UP_METRIC} gauge\n${lines.join("\n")}\n`;
    }
  }
}

/** One plugin's exposition, parsed, checked and rendered, ready to be merged. */
export interface StagedExposition {
  readonly families: readonly StagedFamily[];
}

/**
 * The expensive half of add, on its own: /federate stages each plugin's body as it arrives
 * (spreading the parsing over the fan-out, and dropping the raw text early) and merges them
 * in name order at the end. Throws ExpositionError.
 */
export function stageExposition(plugin: string, text: string): StagedExposition {
  return { families: stage(plugin, text) };
}

function stage(plugin: string, text: string): StagedFamily[] {
  let parsed: Family[];
  try {
    parsed = parseExposition(text);
  } catch (err) {
    if (err instanceof ExpositionSyntaxError) throw new ExpositionError(err.message);
    throw err;
  }
  const staged: StagedFamily[] = [];
  for (const fam of parsed) {
    const out: StagedFamily = { name: fam.name, type: fam.type, help: fam.help, series: [] };
    const seenHere = new Set<string>();
    for (const sample of fam.samples) {
      const labels = relabel(sample.labels, plugin);
      const identity = `${sample.name}\u0000${[...labels].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}\u0001${v}`).join("\u0000")}`;
      if (seenHere.has(identity)) throw new ExpositionError(`${sample.name}: the same series twice`);
      seenHere.add(identity);
      const rendered = `${sample.name}{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}} ${sample.value}${sample.timestamp !== undefined ? ` ${sample.timestamp}` : ""}`;
      out.series.push(rendered);
    }
    if (out.series.length > 0) staged.push(out);
  }
  return staged;
}

/**
 * plugin="<name>" first; a plugin's own `plugin` label is kept as exported_plugin, as
 * Prometheus does with honor_labels: false.
 */
function relabel(labels: Array<[string, string]>, plugin: string): Array<[string, string]> {
  const taken = new Set(labels.map(([k]) => k));
  const out: Array<[string, string]> = [["plugin", plugin]];
  for (const [k, v] of labels) {
    if (k !== "plugin") {
      out.push([k, v]);
      continue;
    }
    let renamed = `exported_${k}`;
    while (taken.has(renamed)) renamed = `exported_${renamed}`;
    taken.add(renamed);
    out.push([renamed, v]);
  }
  return out;
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** The series names a family writes, so that two families never claim the same one. */
function seriesNames(name: string, type: FamilyType): string[] {
  if (type === "histogram") return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === "summary") return [name, `${name}_sum`, `${name}_count`];
  return [name];
}
