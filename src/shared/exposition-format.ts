// Renders a prom-client registry's metrics as Prometheus text or OpenMetrics from a read-only
// snapshot (`getMetricsAsJSON()`). prom-client's own OpenMetrics rendering renames every
// registered counter in place (`foo_total` becomes `foo`, for good) and picks the format from
// a content type stored on the registry, so one registry cannot serve both formats to
// concurrent scrapers without corrupting the text format's series names. Rendering from the
// snapshot changes nothing in the registry, so every format and order of scrapes is safe.

export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

export type ExpositionFormat = "text" | "openmetrics";

/** One sample of a snapshot family, as prom-client's `get()` returns it. */
export interface SnapshotValue {
  value: number;
  labels: Partial<Record<string, string | number>>;
  /** Histograms and summaries: `x_bucket`, `x_sum`, `x_count`; absent means the family name. */
  metricName?: string;
  /** prom-client's Exemplar (counters and histogram buckets with exemplars enabled). */
  exemplar?: unknown;
}

/** One family of a snapshot. `type` is a string at run time, whatever prom-client's typings say. */
export interface SnapshotFamily {
  name: string;
  help: string;
  type: unknown;
  values?: readonly SnapshotValue[];
}

/**
 * What the SDK needs of a registry: prom-client's `Registry` (any version with
 * `getMetricsAsJSON`, so a plugin's own copy of prom-client works), or anything shaped like it.
 */
export interface MetricsSource {
  getMetricsAsJSON(): Promise<readonly SnapshotFamily[]>;
}

/** The format a scraper asked for in `Accept`: OpenMetrics when it names it, else text. */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept) ? "openmetrics" : "text";
}

export function contentTypeOf(format: ExpositionFormat): string {
  return format === "openmetrics" ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
}

/** Renders `source` once, in `format`; the registry is only read. */
export async function renderMetrics(source: MetricsSource, format: ExpositionFormat): Promise<string> {
  return renderFamilies(await source.getMetricsAsJSON(), format);
}

/**
 * Text: every family under the name it was registered with, its type as registered
 * (`untyped` for what the text format does not know). OpenMetrics: a counter's family name
 * without `_total` and its samples with it, `unknown` for untyped, `# EOF` at the end. A
 * counter whose OpenMetrics names another family was registered under (a gauge `x` beside a
 * counter `x_total`) would make two families of one name, which parsers refuse: it is
 * `unknown` there instead, under its registered name, so its samples keep the names the text
 * format gives them (what client_golang does for a counter without `_total`).
 */
export function renderFamilies(families: readonly SnapshotFamily[], format: ExpositionFormat): string {
  const om = format === "openmetrics";
  const clashing = om ? countersClashingInOpenMetrics(families) : new Set<SnapshotFamily>();
  const out: string[] = [];
  for (const family of families) {
    const type = !om ? textType(family.type) : clashing.has(family) ? "unknown" : openMetricsType(family.type);
    const name = om && type === "counter" ? family.name.replace(/_total$/, "") : family.name;
    out.push(`# HELP ${name} ${om ? escapeLabelValue(family.help) : escapeHelp(family.help)}\n# TYPE ${name} ${type}\n`);
    for (const v of family.values ?? []) {
      // A counter's sample is always `<family>_total` in OpenMetrics, however it was registered.
      const sampleName = om && type === "counter" ? `${name}_total` : (v.metricName ?? family.name);
      // OpenMetrics allows exemplars on counters and histogram buckets only (parsers refuse others).
      const exemplar = om && EXEMPLAR_TYPES.has(type) ? renderExemplar(v.exemplar) : "";
      out.push(`${sampleName}${renderLabels(v.labels)} ${formatValue(v.value)}${exemplar}\n`);
    }
  }
  if (om) out.push("# EOF\n");
  return out.join("");
}

/** Counters whose OpenMetrics family (`x`) or sample name (`x_total`) another family is registered as. */
function countersClashingInOpenMetrics(families: readonly SnapshotFamily[]): Set<SnapshotFamily> {
  const byName = new Map(families.map((f) => [f.name, f]));
  const clashing = new Set<SnapshotFamily>();
  for (const family of families) {
    if (openMetricsType(family.type) !== "counter") continue;
    const base = family.name.replace(/_total$/, "");
    for (const name of [base, `${base}_total`]) {
      const other = byName.get(name);
      if (other !== undefined && other !== family) clashing.add(family);
    }
  }
  return clashing;
}

const TEXT_TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const EXEMPLAR_TYPES = new Set(["counter", "histogram", "gaugehistogram"]);
const OPENMETRICS_TYPES = new Set(["counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"]);

function textType(type: unknown): string {
  return typeof type === "string" && TEXT_TYPES.has(type) ? type : "untyped";
}

function openMetricsType(type: unknown): string {
  return typeof type === "string" && OPENMETRICS_TYPES.has(type) ? type : "unknown";
}

function renderLabels(labels: Partial<Record<string, string | number>> | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) if (v !== undefined) parts.push(`${k}="${escapeLabelValue(String(v))}"`);
  return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

/** ` # {labels} value timestamp` for a prom-client Exemplar that has been set; "" otherwise. */
function renderExemplar(exemplar: unknown): string {
  if (typeof exemplar !== "object" || exemplar === null) return "";
  const { labelSet, value, timestamp } = exemplar as { labelSet?: Partial<Record<string, string | number>>; value?: unknown; timestamp?: unknown };
  if (typeof value !== "number" || typeof labelSet !== "object" || labelSet === null) return "";
  return ` # ${renderLabels(labelSet) || "{}"} ${formatValue(value)}${typeof timestamp === "number" ? ` ${timestamp}` : ""}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** HELP in the text format escapes backslash and newline only. */
function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Label values (both formats) and OpenMetrics HELP also escape the double quote. */
function escapeLabelValue(s: string): string {
  return escapeHelp(s).replace(/"/g, '\\"');
}
