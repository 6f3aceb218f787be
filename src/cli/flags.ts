// The flag value parsers every command shares: durations, sizes, counts, choices, KEY=VALUE
// pairs and addresses, and the <name> argument of an existing instance. Each parser takes the
// flag's name for its message and throws a usage error (exit 2), so a bad value reads the
// same whichever command it was given to.
import { durationFromMs, type Duration } from "@bufbuild/protobuf/wkt";
import { Argument, Option } from "@commander-js/extra-typings";
import { parseAddress } from "../shared/address.js";
import { parseDuration } from "../shared/duration.js";
import { errorMessage } from "../shared/errors.js";
import { parseKeyValues } from "../shared/names.js";
import { MIN_MEMORY_LIMIT_BYTES } from "../shared/plugin-entry.js";
import { formatSize, parseSize } from "../shared/size.js";
import { usageError } from "./errors.js";

/** Commander's accumulator for a repeatable flag (`--label a=1 --label b=2`). */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** "500ms", "5s", "1m30s" in milliseconds; "0" is 0. */
export function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw usageError(`${flag}: ${errorMessage(err)}`);
  }
}

/** A duration flag without a default: undefined when not given. */
export function optionalDuration(flag: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : duration(flag, text);
}

/** Milliseconds as a request's protobuf Duration; undefined stays unset (the daemon's default). */
export function requestDuration(ms: number | undefined): Duration | undefined {
  return ms === undefined ? undefined : durationFromMs(ms);
}

/** `--grace` of stop and restart. */
export function graceOption() {
  return new Option("--grace <duration>", "time between Shutdown, SIGTERM and SIGKILL (default: the daemon's)");
}

/** A duration that must not be 0 (a timeout or interval of nothing). */
export function positiveDuration(flag: string, text: string): number {
  const ms = duration(flag, text);
  if (ms <= 0) throw usageError(`${flag}: must be greater than 0`);
  return ms;
}

/** Repeated KEY=VALUE flags as one record; a later key wins. */
export function keyValues(flag: string, items: readonly string[]): Record<string, string> {
  try {
    return parseKeyValues(flag, items);
  } catch (err) {
    throw usageError(errorMessage(err));
  }
}

/** One of a fixed set of words, e.g. `--gzip auto|always|never`. */
export function oneOf<const T extends string>(flag: string, text: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === text);
  if (found === undefined) throw usageError(`${flag} ${JSON.stringify(text)}: expected ${alternatives(choices)}`);
  return found;
}

/** "a or b", "a, b or c". */
function alternatives(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join("") : `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
}

/** A positive integer written in digits (no sign, exponent or leading zero), at most `max`. */
export function positiveInt(flag: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^[1-9]\d*$/.test(text) || n > max) throw usageError(`${flag} ${JSON.stringify(text)}: expected a positive integer`);
  return n;
}

/** A count where 0 means "off", in digits (no sign, exponent or leading zero), at most `max`. */
export function nonNegativeInt(flag: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^(0|[1-9]\d*)$/.test(text) || n > max) throw usageError(`${flag} ${JSON.stringify(text)}: expected an integer from 0 to ${max}`);
  return n;
}

/** "64MiB", "512KiB", "1000000" (bytes); at least `min` bytes (1 KiB unless told). */
export function byteSize(flag: string, text: string, min = 1024): number {
  let n = NaN;
  try {
    n = parseSize(text);
  } catch {
    // the message below says what a size looks like
  }
  if (!(n >= min)) throw usageError(`${flag} ${JSON.stringify(text)}: expected a size of at least ${formatSize(min).replace(" ", "")}, e.g. 64MiB`);
  return n;
}

/** A per-instance limit: a size of at least 1 MiB, or "0" for none (not even the daemon's default). */
export function memoryLimit(flag: string, text: string): number {
  return text.trim() === "0" ? 0 : byteSize(flag, text, MIN_MEMORY_LIMIT_BYTES);
}

/** "host:port", "[v6]:port", ":port" or "unix:/abs/path", checked and returned as written. */
export function address(flag: string, text: string): string {
  try {
    parseAddress(text);
  } catch (err) {
    throw usageError(`${flag}: ${errorMessage(err)}`);
  }
  return text;
}

const existingInstances = new WeakSet<object>();

/** The `<name>` of an instance the daemon has; shell completion offers the daemon's names for it. */
export function instanceName() {
  const arg = new Argument("<name>", "instance name");
  existingInstances.add(arg);
  return arg;
}

export function namesAnInstance(arg: object | undefined): boolean {
  return arg !== undefined && existingInstances.has(arg);
}
