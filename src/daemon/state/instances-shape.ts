// Checks that a parsed instances.json has the shape this plugprom writes, naming the first field
// that does not, so that a hand-edited or foreign file is refused before anything acts on it.
// Fields this version does not know are allowed: a field added later is optional by rule.
import { checkInstanceName, checkLabels } from "../../shared/names.js";
import { RESTART_POLICIES } from "../spec.js";

type Check = (value: unknown) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const string: Check = (v) => (typeof v === "string" ? undefined : "must be a string");
const nonEmptyString: Check = (v) => (typeof v === "string" && v !== "" ? undefined : "must be a non-empty string");
const boolean: Check = (v) => (typeof v === "boolean" ? undefined : "must be true or false");
const count: Check = (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : "must be an integer >= 0");
const positiveNumber: Check = (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? undefined : "must be a number > 0");
const oneOf =
  (...allowed: string[]): Check =>
  (v) =>
    typeof v === "string" && allowed.includes(v) ? undefined : `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`;
const stringArray: Check = (v) => (Array.isArray(v) && v.every((e) => typeof e === "string") ? undefined : "must be an array of strings");
const countArray: Check = (v) => (Array.isArray(v) && v.every((e) => count(e) === undefined) ? undefined : "must be an array of integers");
const stringMap: Check = (v) => (isObject(v) && Object.values(v).every((e) => typeof e === "string") ? undefined : "must be an object of strings");
/** The rules a start enforces: a name is also a file name under logs/ and sockets/. */
const instanceName: Check = (v) => nonEmptyString(v) ?? (checkInstanceName(v as string) ? "must be a valid instance name (a-z, 0-9, '_', '.', '-')" : undefined);
const labelMap: Check = (v) => stringMap(v) ?? (checkLabels(v as Record<string, string>) ? `must be valid labels (${checkLabels(v as Record<string, string>)})` : undefined);

/** Field checks of an object; a `?` after the name makes the field optional. */
type Shape = Record<string, Check>;

const SPEC: Shape = {
  name: instanceName,
  source: string,
  command: nonEmptyString,
  args: stringArray,
  env: stringMap,
  labels: labelMap,
  magicCookieKey: string,
  magicCookieValue: string,
  protocolVersions: countArray,
  metricsTransport: oneOf("unix", "tcp"),
  workingDir: string,
  startTimeoutMs: positiveNumber,
  autoMtls: boolean,
  greetAfterStart: boolean,
  sha256: string,
  "scrapeIntervalMs?": positiveNumber,
  "scrapeTimeoutMs?": positiveNumber,
  restartPolicy: oneOf(...RESTART_POLICIES),
  "inheritEnv?": boolean,
  "noMetrics?": boolean,
  // The per-instance supervision settings of issue 14 (liveness, memory): unset is the
  // daemon's default, 0 is off.
  "livenessFailures?": count,
  "healthIntervalMs?": positiveNumber,
  "maxMemoryBytes?": count,
  "maxPids?": count,
};

const PROCESS: Shape = { pid: count, startTicks: string };

const REATTACH: Shape = {
  ...PROCESS,
  startedAt: string,
  appVersion: count,
  network: oneOf("tcp", "unix"),
  address: nonEmptyString,
  protocol: oneOf("grpc", "netrpc"),
  "serverCert?": string,
  "clientCertPem?": string,
  "clientKeyPem?": string,
  metricsEndpoint: string,
  args: stringArray,
  stdoutLog: string,
  stderrLog: string,
};

const object =
  (shape: Shape): Check =>
  (v) =>
    isObject(v) ? problemIn(v, shape) : "must be an object";

const INSTANCE: Shape = {
  spec: object(SPEC),
  restarts: count,
  "origin?": string,
  "process?": object(PROCESS),
  "reattach?": object(REATTACH),
};

/** The first field of `value` that breaks `shape`, as "field must be …" (nested with dots). */
function problemIn(value: Record<string, unknown>, shape: Shape): string | undefined {
  for (const [key, check] of Object.entries(shape)) {
    const optional = key.endsWith("?");
    const field = optional ? key.slice(0, -1) : key;
    const v = value[field];
    if (v === undefined) {
      if (optional) continue;
      return `${field} is missing`;
    }
    const problem = check(v);
    // A nested object's problem names its own field: "spec" + "args must …" is "spec.args must …".
    if (problem) return problem.startsWith("must ") ? `${field} ${problem}` : `${field}.${problem}`;
  }
  return undefined;
}

/**
 * The first reason `instances` (the parsed file's "instances") is not a list of saved
 * instances, e.g. `instances[2] ("web").spec.args must be an array of strings`; undefined
 * when it is one.
 */
export function instancesProblem(instances: unknown): string | undefined {
  if (!Array.isArray(instances)) return '"instances" must be an array';
  const names = new Set<string>();
  for (const [i, inst] of instances.entries()) {
    const name = isObject(inst) && isObject(inst.spec) && typeof inst.spec.name === "string" ? ` (${JSON.stringify(inst.spec.name.slice(0, 80))})` : "";
    const where = `instances[${i}]${name}`;
    if (!isObject(inst)) return `${where} must be an object`;
    const problem = problemIn(inst, INSTANCE);
    if (problem) return `${where}.${problem}`;
    const { name: specName } = inst.spec as { name: string };
    if (names.has(specName)) return `${where}: a second instance named ${JSON.stringify(specName)}`;
    names.add(specName);
  }
  return undefined;
}
