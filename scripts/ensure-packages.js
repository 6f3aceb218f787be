#!/usr/bin/env node
// Makes sure the Debian packages a suite needs (scripts/packages.json) are present before
// `npm test` (its `pretest`) or `npm run bench` (its `prebench`) builds or runs anything, so
// that both pass on a fresh Debian machine by themselves. Plain node, no dependencies: it runs
// before the TypeScript build, on a clone with nothing built.
//
//   node scripts/ensure-packages.js test|bench
//
// Everything present: exits 0 at once, without calling apt. As root: `apt-get update` once,
// then installs what is missing and checks again. Otherwise one line names the sudo command.
// Exit codes: 0 present (or just installed), 1 installing failed, 2 usage, 3 missing and not
// root. Its own tests steer it through PATH (where commands, apt-get included, are looked
// up), PLUGPROM_DEPS_ROOT (a directory standing for / when files are checked) and
// PLUGPROM_DEPS_UID (the user id to act as), so that nothing is uninstalled or installed.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";

const SUITES = { test: "npm test", bench: "npm run bench" };
const EXIT_INSTALL_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_NOT_ROOT = 3;
// A fresh machine downloads Chromium and Go; a held dpkg lock must not hang CI forever.
const APT_TIMEOUT_MS = { update: 10 * 60_000, install: 30 * 60_000 };

function fail(code, line) {
  process.stderr.write(`${line}\n`);
  process.exit(code);
}

/** The first executable file called `command` in the directories of `path`. */
function which(command, path) {
  for (const dir of path.split(delimiter)) {
    // An empty entry means the current directory; nothing apt installs lands there.
    if (dir === "") continue;
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}

/** Each package that lacks a command or a file, with what it lacks. */
function absentPackages(packages, path, root) {
  const absent = [];
  for (const p of packages) {
    const commands = (p.commands ?? []).filter((c) => !which(c, path));
    const files = (p.files ?? []).filter((f) => !existsSync(join(root, f)));
    const lacking = [...(commands.length ? [`no ${commands.join(", ")} on PATH`] : []), ...files.map((f) => `no ${f}`)];
    if (lacking.length) absent.push({ name: p.package, lacking });
  }
  return absent;
}

const describe = (absent) => absent.map((a) => `${a.name} (${a.lacking.join("; ")})`).join(", ");

function apt(aptGet, args, env) {
  const r = spawnSync(aptGet, args, { env, stdio: ["ignore", 2, 2], timeout: APT_TIMEOUT_MS[args[0]] });
  if (r.error?.code === "ETIMEDOUT") fail(EXIT_INSTALL_FAILED, `apt-get ${args[0]} did not finish within ${APT_TIMEOUT_MS[args[0]] / 60_000} minutes (is another apt holding the lock?)`);
  if (r.error) fail(EXIT_INSTALL_FAILED, `apt-get ${args[0]} could not run: ${r.error.message}`);
  if (r.status !== 0) fail(EXIT_INSTALL_FAILED, `apt-get ${args[0]} failed (${r.status === null ? r.signal : `exit ${r.status}`}); the lines above say why`);
}

function main(argv, env) {
  const suite = argv[0];
  if (argv.length !== 1 || !Object.hasOwn(SUITES, suite)) fail(EXIT_USAGE, `usage: node scripts/ensure-packages.js ${Object.keys(SUITES).join("|")}`);
  if (env.PLUGPROM_DEPS_UID !== undefined && !/^\d+$/.test(env.PLUGPROM_DEPS_UID)) fail(EXIT_USAGE, `PLUGPROM_DEPS_UID must be a user id, not "${env.PLUGPROM_DEPS_UID}"`);
  const uid = env.PLUGPROM_DEPS_UID !== undefined ? Number(env.PLUGPROM_DEPS_UID) : process.getuid();
  const root = env.PLUGPROM_DEPS_ROOT || "/";
  const path = env.PATH ?? "";
  const list = JSON.parse(readFileSync(new URL("packages.json", import.meta.url), "utf8"));
  const packages = list.packages.filter((p) => p.for.includes(suite));
  const label = SUITES[suite];

  const absent = absentPackages(packages, path, root);
  if (absent.length === 0) return;
  const names = absent.map((a) => a.name);
  if (uid !== 0) {
    fail(EXIT_NOT_ROOT, `${label} needs Debian packages that are missing: ${describe(absent)}; install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${names.join(" ")}`);
  }
  const aptGet = which("apt-get", path);
  if (!aptGet) fail(EXIT_INSTALL_FAILED, `${label} needs Debian packages that are missing: ${describe(absent)}; there is no apt-get on PATH to install them (${names.join(" ")}): is this Debian?`);

  process.stderr.write(`${label}: installing missing Debian packages: ${names.join(" ")}\n`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
  // A fresh machine (or container) has no package lists yet.
  apt(aptGet, ["update", "-qq"], aptEnv);
  apt(aptGet, ["install", "-y", "-qq", "--no-install-recommends", ...names], aptEnv);
  const still = absentPackages(packages, path, root);
  if (still.length) fail(EXIT_INSTALL_FAILED, `${label}: still missing after apt-get install: ${describe(still)}`);
}

main(process.argv.slice(2), process.env);
