// A parser for the Prometheus text exposition format (version 0.0.4), as client libraries
// write it and as Prometheus' own expfmt parser reads it: a character scanner, not regular
// expressions. It groups samples into families the way expfmt does (name_bucket, name_sum and
// name_count belong to a histogram `name`; name_sum and name_count to a summary) and keeps
// the samples' order, label order, value and timestamp text exactly, so that re-rendering is
// lossless. Anything expfmt would refuse is refused with the line number and the reason.
//
// (npm's parse-prometheus-text-format was evaluated first and rejected: it folds every
// labelled histogram or summary into one unlabelled series and misreads malformed lines.)

export type FamilyType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  /** The series name as written (e.g. h_bucket for a histogram h). */
  name: string;
  /** In the order written; values unescaped. */
  labels: Array<[string, string]>;
  /** As written (Go float syntax: 1, 1e3, +Inf, NaN). */
  value: string;
  timestamp?: string;
}

export interface Family {
  name: string;
  type: FamilyType;
  /** Unescaped; "" when the exposition has no HELP line for it. */
  help: string;
  samples: Sample[];
}

export class ExpositionSyntaxError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

const TYPES = new Set<string>(["counter", "gauge", "histogram", "summary", "untyped"]);

export function parseExposition(text: string): Family[] {
  const families = new Map<string, Family>();
  /** Families whose samples have started: a TYPE line may no longer change them. */
  const sampled = new Set<string>();
  const typed = new Set<string>();
  const helped = new Set<string>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: "untyped", help: "", samples: [] };
      families.set(name, f);
    }
    return f;
  };

  let lineNo = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    lineNo++;
    const s = new Scanner(text, start, end, lineNo);
    start = end + 1;
    s.skipBlank();
    if (s.done()) continue;
    if (s.peek() === "#") {
      s.next();
      s.skipBlank();
      const keyword = s.word();
      if (keyword !== "HELP" && keyword !== "TYPE") continue; // a comment
      if (!s.skipBlank()) s.fail(`expected a metric name after ${keyword}`);
      const name = s.metricName();
      if (keyword === "TYPE") {
        if (!s.skipBlank()) s.fail("expected a type after the metric name");
        const type = s.word().toLowerCase();
        if (!TYPES.has(type)) s.fail(`unknown metric type ${JSON.stringify(type)}`);
        s.skipBlank();
        if (!s.done()) s.fail("unexpected text after the type");
        if (typed.has(name)) s.fail(`second TYPE line for ${name}`);
        if (sampled.has(name)) s.fail(`TYPE line for ${name} after its samples`);
        typed.add(name);
        family(name).type = type as FamilyType;
      } else {
        if (helped.has(name)) s.fail(`second HELP line for ${name}`);
        helped.add(name);
        const hasText = s.skipBlank();
        family(name).help = hasText ? s.helpText() : "";
      }
      continue;
    }

    const name = s.metricName();
    const labels = s.peek() === "{" ? s.labels() : [];
    if (!s.skipBlank()) s.fail("expected a value after the series");
    const value = s.token();
    if (!isFloat(value)) s.fail(`invalid value ${JSON.stringify(value)}`);
    let timestamp: string | undefined;
    if (s.skipBlank() && !s.done()) {
      timestamp = s.token();
      if (!isTimestamp(timestamp)) s.fail(`invalid timestamp ${JSON.stringify(timestamp)}`);
      s.skipBlank();
      if (!s.done()) s.fail("unexpected text after the timestamp");
    }
    const fam = family(familyOf(name, families));
    const suffixError = checkSeries(fam, name, labels);
    if (suffixError) s.fail(suffixError);
    sampled.add(fam.name);
    fam.samples.push(timestamp === undefined ? { name, labels, value } : { name, labels, value, timestamp });
  }
  return [...families.values()];
}

/** expfmt's grouping: a typed histogram or summary owns its suffixed series. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!name.endsWith(suffix)) continue;
    const base = families.get(name.slice(0, -suffix.length));
    if (base?.type === "histogram" || (base?.type === "summary" && suffix !== "_bucket")) return base.name;
  }
  return name;
}

/** A sample that does not fit its family's type, or undefined. */
function checkSeries(fam: Family, name: string, labels: Array<[string, string]>): string | undefined {
  const has = (l: string) => labels.some(([k]) => k === l);
  if (fam.type === "histogram") {
    if (name === `${fam.name}_bucket`) return has("le") ? undefined : `histogram bucket ${name} without an le label`;
    if (name === fam.name) return `histogram ${name} has a sample without _bucket, _sum or _count`;
  }
  if (fam.type === "summary" && name === fam.name && !has("quantile")) return `summary ${name} has a sample without a quantile label`;
  return undefined;
}

/** Go's strconv.ParseFloat as expfmt accepts values, without hex floats and underscores. */
function isFloat(t: string): boolean {
  let i = t[0] === "+" || t[0] === "-" ? 1 : 0;
  const rest = t.slice(i).toLowerCase();
  if (rest === "inf" || rest === "infinity" || (i === 0 && rest === "nan")) return true;
  let digits = 0;
  while (i < t.length && isDigit(t.charCodeAt(i))) (i++, digits++);
  if (t[i] === ".") {
    i++;
    while (i < t.length && isDigit(t.charCodeAt(i))) (i++, digits++);
  }
  if (digits === 0) return false;
  if (t[i] === "e" || t[i] === "E") {
    i++;
    if (t[i] === "+" || t[i] === "-") i++;
    let exp = 0;
    while (i < t.length && isDigit(t.charCodeAt(i))) (i++, exp++);
    if (exp === 0) return false;
  }
  return i === t.length;
}

function isTimestamp(t: string): boolean {
  const i = t[0] === "-" ? 1 : 0;
  if (t.length === i || t.length - i > 19) return false;
  for (let j = i; j < t.length; j++) if (!isDigit(t.charCodeAt(j))) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isNameStart(c: number, colon: boolean): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || (colon && c === 58);
}

/** One line, scanned left to right. */
class Scanner {
  constructor(
    private readonly text: string,
    private pos: number,
    private readonly end: number,
    private readonly lineNo: number,
  ) {}

  fail(reason: string): never {
    throw new ExpositionSyntaxError(this.lineNo, reason);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  peek(): string {
    return this.done() ? "" : this.text[this.pos];
  }

  next(): string {
    return this.text[this.pos++];
  }

  /** Skips spaces and tabs; true if there were any. */
  skipBlank(): boolean {
    const from = this.pos;
    while (!this.done() && (this.text[this.pos] === " " || this.text[this.pos] === "\t")) this.pos++;
    return this.pos > from;
  }

  /** Up to the next blank or the end of the line. */
  token(): string {
    const from = this.pos;
    while (!this.done() && this.text[this.pos] !== " " && this.text[this.pos] !== "\t") this.pos++;
    return this.text.slice(from, this.pos);
  }

  word(): string {
    return this.token();
  }

  metricName(): string {
    return this.name(true, "metric name");
  }

  private name(colon: boolean, what: string): string {
    const from = this.pos;
    if (this.done() || !isNameStart(this.text.charCodeAt(this.pos), colon)) this.fail(`invalid ${what}`);
    this.pos++;
    while (!this.done()) {
      const c = this.text.charCodeAt(this.pos);
      if (!isNameStart(c, colon) && !isDigit(c)) break;
      this.pos++;
    }
    return this.text.slice(from, this.pos);
  }

  /** {name="value",...} with an optional trailing comma; values unescaped. */
  labels(): Array<[string, string]> {
    this.next(); // {
    const out: Array<[string, string]> = [];
    for (;;) {
      this.skipBlank();
      if (this.peek() === "}") break;
      const name = this.name(false, "label name");
      if (out.some(([k]) => k === name)) this.fail(`label ${name} appears twice`);
      this.skipBlank();
      if (this.next() !== "=") this.fail(`expected = after label ${name}`);
      this.skipBlank();
      if (this.next() !== '"') this.fail(`expected a quoted value for label ${name}`);
      out.push([name, this.quoted()]);
      this.skipBlank();
      const c = this.peek();
      if (c === ",") {
        this.next();
        continue;
      }
      if (c !== "}") this.fail("expected , or } in the label set");
    }
    this.next(); // }
    return out;
  }

  /** The rest of a quoted label value, after the opening quote. */
  private quoted(): string {
    let out = "";
    for (;;) {
      if (this.done()) this.fail("unterminated label value");
      const c = this.next();
      if (c === '"') return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      if (this.done()) this.fail("unterminated label value");
      const e = this.next();
      if (e === "\\" || e === '"') out += e;
      else if (e === "n") out += "\n";
      else this.fail(`invalid escape sequence \\${e} in a label value`);
    }
  }

  /** HELP text to the end of the line: \\ and \n are the only escapes. */
  helpText(): string {
    let out = "";
    while (!this.done()) {
      const c = this.next();
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = this.done() ? "" : this.next();
      if (e === "\\") out += "\\";
      else if (e === "n") out += "\n";
      else this.fail(`invalid escape sequence \\${e} in HELP`);
    }
    return out;
  }
}
