// Validation of everything a user names: instances, labels, env entries. Pure functions;
// both the CLI (early, friendly errors) and the daemon (the authority) call them.

/** Instance names double as URL path segments and file names, so they are strict. */
export const INSTANCE_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const LIMITS = {
  labels: 64,
  labelNameLength: 128,
  labelValueLength: 1024,
  envEntries: 128,
  envValueLength: 32 * 1024,
  args: 256,
  argLength: 32 * 1024,
  /** A plugins file travels in one control message (at most 1 MiB); half of that is plenty. */
  pluginsFileBytes: 512 * 1024,
} as const;

/** Returns a one-line problem description, or undefined when the name is valid. */
export function checkInstanceName(name: string): string | undefined {
  if (name === "") return "instance name is empty";
  if (!INSTANCE_NAME_PATTERN.test(name) || name.includes("..")) {
    return `invalid instance name ${JSON.stringify(truncate(name, 80))}: use 1-63 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit`;
  }
  return undefined;
}

export function checkLabels(labels: Record<string, string>): string | undefined {
  const names = Object.keys(labels);
  if (names.length > LIMITS.labels) return `too many labels: ${names.length} (at most ${LIMITS.labels})`;
  for (const name of names) {
    if (name.length > LIMITS.labelNameLength || !LABEL_NAME_PATTERN.test(name)) {
      return `invalid label name ${JSON.stringify(truncate(name, 80))}: must match [a-zA-Z_][a-zA-Z0-9_]*`;
    }
    if (name.startsWith("__")) {
      return `invalid label name ${JSON.stringify(name)}: names starting with "__" are reserved by Prometheus`;
    }
    const value = labels[name];
    if (value.length > LIMITS.labelValueLength) {
      return `label ${name}: value longer than ${LIMITS.labelValueLength} characters`;
    }
    if (!isWellFormed(value)) return `label ${name}: value is not valid UTF-8`;
  }
  return undefined;
}

export function checkEnv(env: Record<string, string>): string | undefined {
  const names = Object.keys(env);
  if (names.length > LIMITS.envEntries) return `too many env entries: ${names.length} (at most ${LIMITS.envEntries})`;
  for (const name of names) {
    if (!ENV_NAME_PATTERN.test(name) || name.length > 256) {
      return `invalid env name ${JSON.stringify(truncate(name, 80))}: must match [A-Za-z_][A-Za-z0-9_]*`;
    }
    const value = env[name];
    if (value.length > LIMITS.envValueLength) return `env ${name}: value longer than ${LIMITS.envValueLength} characters`;
    if (value.includes("\0")) return `env ${name}: value contains a NUL byte`;
  }
  return undefined;
}

export function checkArgs(args: readonly string[]): string | undefined {
  if (args.length > LIMITS.args) return `too many arguments: ${args.length} (at most ${LIMITS.args})`;
  for (const [i, arg] of args.entries()) {
    if (arg.length > LIMITS.argLength) return `argument ${i}: longer than ${LIMITS.argLength} characters`;
    if (arg.includes("\0")) return `argument ${i}: contains a NUL byte`;
  }
  return undefined;
}

/**
 * Parses repeated KEY=VALUE flags into a record. The first '=' splits; an empty key or a
 * missing '=' is an error naming the flag.
 */
export function parseKeyValues(flag: string, items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`${flag} ${JSON.stringify(item)}: expected KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function isWellFormed(s: string): boolean {
  // Lone surrogates cannot be encoded as UTF-8.
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
