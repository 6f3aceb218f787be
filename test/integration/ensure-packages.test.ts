// The Debian package check in front of `npm test` and `npm run bench` (scripts/ensure-packages.js),
// run for real against a made-up machine: a PATH of stub commands, a directory standing for /,
// a uid, and a stub apt-get that records its calls. Nothing is installed or uninstalled.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { requireBinary } from "../helpers/prometheus.js";

interface Package {
  package: string;
  for: string[];
  commands?: string[];
  files?: string[];
}
const PACKAGES = (JSON.parse(readFileSync(join(repoRoot, "scripts", "packages.json"), "utf8")) as { packages: Package[] }).packages;
const SCRIPT = join(repoRoot, "scripts", "ensure-packages.js");

interface World {
  dir: string;
  bin: string;
  root: string;
  /** apt-get's calls, one line each: "$DEBIAN_FRONTEND $*"; empty when it never ran. */
  aptCalls(): string[];
}

/**
 * A machine with every command and file of packages.json except `without` (command names or
 * file paths). apt-get: "installs" puts back what is missing, "does nothing" exits 0 without
 * installing, "fails" exits 100, "absent" is not on PATH.
 */
function makeWorld(t: { after(fn: () => void): void }, without: string[], apt: "installs" | "does nothing" | "fails" | "absent" = "installs"): World {
  const dir = mkdtempSync(join(tmpdir(), "pp-deps-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  const root = join(dir, "root");
  mkdirSync(bin);
  const stub = (name: string) => {
    writeFileSync(join(bin, name), "#!/bin/sh\nexit 0\n");
    chmodSync(join(bin, name), 0o755);
  };
  const restore: string[] = [];
  for (const command of new Set(PACKAGES.flatMap((p) => p.commands ?? []))) {
    if (without.includes(command)) restore.push(`printf '#!/bin/sh\\nexit 0\\n' > '${join(bin, command)}' && chmod 755 '${join(bin, command)}'`);
    else stub(command);
  }
  for (const file of PACKAGES.flatMap((p) => p.files ?? [])) {
    if (without.includes(file)) restore.push(`mkdir -p '${join(root, file)}'`);
    else mkdirSync(join(root, file), { recursive: true });
  }
  // What `npm test` itself needs to run on this PATH.
  symlinkSync(process.execPath, join(bin, "node"));
  symlinkSync(requireBinary("npm", "npm"), join(bin, "npm"));
  symlinkSync("/bin/sh", join(bin, "sh"));
  const log = join(dir, "apt-calls");
  if (apt !== "absent") {
    const onInstall = apt === "installs" && restore.length ? restore.join("\n") : ":";
    writeFileSync(
      join(bin, "apt-get"),
      `#!/bin/sh\nPATH=/usr/bin:/bin\necho "$DEBIAN_FRONTEND $*" >> '${log}'\n${apt === "fails" ? "exit 100\n" : ""}if [ "$1" = install ]; then\n${onInstall}\nfi\nexit 0\n`,
    );
    chmodSync(join(bin, "apt-get"), 0o755);
  }
  return { dir, bin, root, aptCalls: () => (existsSync(log) ? readFileSync(log, "utf8").trimEnd().split("\n") : []) };
}

/** Only the seams: nothing from the test's own environment (its PATH, npm's variables) leaks in. */
function envOf(w: World, uid: number): NodeJS.ProcessEnv {
  return { PATH: w.bin, HOME: w.dir, PLUGPROM_DEPS_ROOT: w.root, PLUGPROM_DEPS_UID: String(uid), npm_config_update_notifier: "false" };
}

function check(w: World, uid: number, suite = "test") {
  const r = spawnSync(process.execPath, [SCRIPT, suite], { env: envOf(w, uid), encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, lines: r.stderr.split("\n").filter((l) => l !== "") };
}

const USER = 1000;

for (const [argv, missing, pkg] of [
  [["test"], "prometheus", "prometheus"],
  [["test", "--", "unit/"], "prometheus", "prometheus"],
  [["run", "bench"], "wrk", "wrk"],
] as const) {
  test(`as a user, npm ${argv.join(" ")} with a PATH without ${missing} stops before building or testing, with one line naming the sudo apt-get command (exit 3)`, (t) => {
    const w = makeWorld(t, [missing]);
    // A copy of the project without node_modules or dist: if the check let it through, the
    // build would fail here instead of rewriting this tree's dist/.
    const project = join(w.dir, "project");
    mkdirSync(project);
    cpSync(join(repoRoot, "package.json"), join(project, "package.json"));
    cpSync(join(repoRoot, "scripts"), join(project, "scripts"), { recursive: true });
    const r = spawnSync(join(w.bin, "npm"), [...argv], { cwd: project, env: envOf(w, USER), encoding: "utf8", timeout: 60_000 });
    const label = argv[0] === "test" ? "npm test" : "npm run bench";
    assert.equal(r.status, 3, r.stderr);
    assert.deepEqual(
      r.stderr.split("\n").filter((l) => l !== ""),
      [`${label} needs Debian packages that are missing: ${pkg} (no ${missing} on PATH); install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${pkg}`],
    );
    assert.match(r.stdout, /> plugprom@[\d.]+ pre(test|bench)/, "the check ran as npm's pre-script");
    assert.doesNotMatch(r.stdout, /> plugprom@[\d.]+ (test|bench|build)\b/, "npm stopped before the build and the tests");
    assert.deepEqual(w.aptCalls(), []);
  });
}

test("as a user, every missing package of the test suite is named, with its reason, in the one install line", (t) => {
  const w = makeWorld(t, ["promtool", "tmux", "/usr/lib/python3/dist-packages/prometheus_client"]);
  const r = check(w, USER);
  assert.equal(r.code, 3);
  assert.deepEqual(r.lines, [
    "npm test needs Debian packages that are missing: prometheus (no promtool on PATH), python3-prometheus-client (no /usr/lib/python3/dist-packages/prometheus_client), tmux (no tmux on PATH); install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus python3-prometheus-client tmux",
  ]);
});

test("the bench's check ignores what only the tests need, and the tests' check what only the bench needs", (t) => {
  const w = makeWorld(t, ["chromium", "hyperfine"]);
  assert.match(check(w, USER, "bench").lines.join("\n"), /missing: hyperfine \(no hyperfine on PATH\);/);
  assert.match(check(w, USER, "test").lines.join("\n"), /missing: chromium \(no chromium on PATH\);/);
});

test("with everything present the check is silent, exits 0 and never calls apt-get, even as root", (t) => {
  const w = makeWorld(t, []);
  for (const suite of ["test", "bench"]) {
    const r = check(w, 0, suite);
    assert.deepEqual([r.code, r.stdout, r.lines], [0, "", []]);
  }
  assert.deepEqual(w.aptCalls(), []);
});

test("as root, apt-get update runs once, then one non-interactive install of exactly the missing packages, and the check passes", (t) => {
  const w = makeWorld(t, ["prometheus", "promtool", "/usr/lib/python3/dist-packages/prometheus_client"]);
  const r = check(w, 0);
  assert.equal(r.code, 0, r.lines.join("\n"));
  assert.deepEqual(w.aptCalls(), ["noninteractive update -qq", "noninteractive install -y -qq --no-install-recommends prometheus python3-prometheus-client"]);
  assert.deepEqual(r.lines, ["npm test: installing missing Debian packages: prometheus python3-prometheus-client"]);
  assert.deepEqual(check(w, 0).lines, [], "a second run finds everything");
  assert.equal(w.aptCalls().length, 2, "and calls apt-get no more");
});

test("as root, a package still missing after apt-get install is named and the check exits 1", (t) => {
  const w = makeWorld(t, ["go"], "does nothing");
  const r = check(w, 0);
  assert.equal(r.code, 1);
  assert.equal(r.lines.at(-1), "npm test: still missing after apt-get install: golang-go (no go on PATH)");
  assert.equal(w.aptCalls().length, 2);
});

test("as root, a failing apt-get update stops the check with exit 1 before any install", (t) => {
  const w = makeWorld(t, ["tmux"], "fails");
  const r = check(w, 0);
  assert.equal(r.code, 1);
  assert.equal(r.lines.at(-1), "apt-get update failed (exit 100); the lines above say why");
  assert.deepEqual(w.aptCalls(), ["noninteractive update -qq"]);
});

test("as root without apt-get on PATH, one line names what is missing and exits 1", (t) => {
  const w = makeWorld(t, ["tmux"], "absent");
  const r = check(w, 0);
  assert.equal(r.code, 1);
  assert.deepEqual(r.lines, ["npm test needs Debian packages that are missing: tmux (no tmux on PATH); there is no apt-get on PATH to install them (tmux): is this Debian?"]);
});

test("an unknown suite or a uid that is not a number is a usage error (exit 2, one line)", (t) => {
  const w = makeWorld(t, []);
  assert.deepEqual(check(w, USER, "demo").code, 2);
  assert.deepEqual(check(w, USER, "demo").lines, ["usage: node scripts/ensure-packages.js test|bench"]);
  const r = spawnSync(process.execPath, [SCRIPT, "test"], { env: { ...envOf(w, USER), PLUGPROM_DEPS_UID: "root" }, encoding: "utf8" });
  assert.deepEqual([r.status, r.stderr], [2, 'PLUGPROM_DEPS_UID must be a user id, not "root"\n']);
});

test(".ci/run is npm ci followed by exactly the README's test command, nothing more", () => {
  const commands = readFileSync(join(repoRoot, ".ci", "run"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
  assert.deepEqual(commands, ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "npm ci --no-audit --no-fund", "npm test"]);
  const fresh = /## On a fresh machine\n\n```sh\n([\s\S]*?)```/.exec(readFileSync(join(repoRoot, "README.md"), "utf8"))?.[1] ?? "";
  assert.match(fresh, /^npm test\b/m);
});
