// A prom-client Registry that renders the text format itself: the same bytes as
// Registry.metrics(), at a fraction of its CPU for the daemon's per-plugin series.
//
// prom-client's formatter takes a fresh `{}` for every sample without shared labels and
// caches its flattened form in a WeakMap keyed by that object: a WeakMap entry of garbage per
// sample, so with hundreds of plugins most of a render was that and the garbage collection it
// caused. The daemon sets no default labels and serves only text here (OpenMetrics falls back
// to prom-client's own rendering).
import { Registry } from "prom-client";

type Labels = Record<string, string | number>;
interface Sample {
  metricName?: string;
  labels?: Labels;
  sharedLabels?: Labels;
  value: number;
}
interface Rendered {
  name: string;
  help: string;
  type: string;
  values?: Sample[];
}
interface Collectable {
  get(): Promise<Rendered> | Rendered;
  getForPromString?(): Promise<Rendered> | Rendered;
}

const SPECIAL = /[\\\n"]/;

function escapeString(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(v: string | number): string | number {
  if (typeof v !== "string" || !SPECIAL.test(v)) return v;
  return escapeString(v).replace(/"/g, '\\"');
}

/** As prom-client writes a value: NaN as "Nan", infinities as "+Inf"/"-Inf". */
function valueString(v: number): string {
  if (Number.isNaN(v)) return "Nan";
  if (!Number.isFinite(v)) return v < 0 ? "-Inf" : "+Inf";
  return `${v}`;
}

/** `name="value",…` for the labels not in `exclude`. */
function formatLabels(labels: Labels, exclude?: Labels): string {
  let out = "";
  for (const k of Object.keys(labels)) {
    if (exclude !== undefined && Object.hasOwn(exclude, k)) continue;
    out += `${out === "" ? "" : ","}${k}="${escapeLabelValue(labels[k])}"`;
  }
  return out;
}

export class TextRegistry extends Registry {
  /** Shared label sets are long-lived objects (a histogram's per-series labels): format each once. */
  readonly #shared = new WeakMap<Labels, string>();

  override async metrics(): Promise<string> {
    if (this.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) return super.metrics();
    const parts = await Promise.all(this.getMetricsAsArray().map((m) => this.#render(m as unknown as Collectable)));
    return `${parts.join("\n\n")}\n`;
  }

  override setDefaultLabels(): void {
    throw new Error("TextRegistry renders no default labels");
  }

  async #render(metric: Collectable): Promise<string> {
    const m = typeof metric.getForPromString === "function" ? await metric.getForPromString() : await metric.get();
    const name = escapeString(m.name);
    let out = `# HELP ${name} ${escapeString(m.help)}\n# TYPE ${name} ${m.type}`;
    for (const v of m.values ?? []) {
      let labels = v.labels === undefined ? "" : formatLabels(v.labels, v.sharedLabels);
      if (v.sharedLabels !== undefined) {
        let shared = this.#shared.get(v.sharedLabels);
        if (shared === undefined) {
          shared = formatLabels(v.sharedLabels);
          this.#shared.set(v.sharedLabels, shared);
        }
        if (shared !== "") labels += labels === "" ? shared : `,${shared}`;
      }
      out += `\n${v.metricName ?? name}${labels === "" ? "" : `{${labels}}`} ${valueString(v.value)}`;
    }
    return out;
  }
}
