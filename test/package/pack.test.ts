// The package as users receive it: `npm pack` in a clean copy of this checkout (prepack
// builds), the tarball's contents and size, a global install into a fresh prefix that runs a
// daemon, a plugin and a scrape, and a plugin project written outside the repository (the
// README's, read from the README) that compiles against the package's types and is served by
// the installed daemon, with prom-client 15 and 14. Needs npm and the npm registry (or a
// warm npm cache); the slowest file of the suite, by design in one file.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { VERSION } from "../../src/shared/version.js";
import { daemon, httpGet } from "../helpers/daemon.js";
import { repoRoot } from "../helpers/paths.js";

const work = mkdtempSync(join(tmpdir(), "pp-pack-"));
after(() => rmSync(work, { recursive: true, force: true }));

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const readme = readFileSync(join(repoRoot, "README.md"), "utf8");

/** npm with none of the npm_* variables of the `npm test` that runs this file (they would point it at this checkout). */
function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };
  for (const k of Object.keys(env)) if (k.startsWith("npm_") && !k.startsWith("npm_config_")) delete env[k];
  for (const k of ["npm_config_prefix", "npm_config_global_prefix", "npm_config_local_prefix"]) delete env[k];
  return spawnSync("npm", args, { cwd, env, encoding: "utf8", timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
}

function assertRan(r: SpawnSyncReturns<string>, what: string): void {
  assert.equal(r.status, 0, `${what} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

let packed: PackResult;
let tarball: string;
const prefix = join(work, "prefix");
const installed = join(prefix, "lib", "node_modules", "plugprom");
const installedBin = join(prefix, "bin", "plugprom");

before(() => {
  // A clean copy of the checkout as a clone would have it (tracked and not-ignored files: no
  // dist/), sharing this checkout's node_modules for the build tools.
  const checkout = join(work, "checkout");
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" }).split("\0");
  for (const f of files) {
    if (f === "" || !existsSync(join(repoRoot, f))) continue;
    mkdirSync(dirname(join(checkout, f)), { recursive: true });
    cpSync(join(repoRoot, f), join(checkout, f));
  }
  symlinkSync(join(repoRoot, "node_modules"), join(checkout, "node_modules"));
  const r = npm(["pack", "--json", "--pack-destination", work], checkout);
  assertRan(r, "npm pack");
  // Lifecycle output may precede the JSON document.
  packed = (JSON.parse(r.stdout.slice(r.stdout.indexOf("[\n"))) as PackResult[])[0];
  tarball = join(work, packed.filename);
});

test("npm pack builds a fresh checkout and packs only what runs, at the size the README states", () => {
  const paths = packed.files.map((f) => f.path);
  for (const needed of [
    "package.json",
    "README.md",
    "LICENSE",
    "bin/plugprom",
    "bin/plugprom-greeter",
    "dist/src/cli/launch.js",
    "dist/bundle/plugprom.mjs",
    "dist/bundle/plugprom-cli.cjs",
    "dist/src/plugin/index.js",
    "dist/src/plugin/index.d.ts",
    "dist/src/plugin/examples/greeter.js",
    "proto/plugprom/v1/control.proto",
  ]) {
    assert.ok(paths.includes(needed), `${needed} is in the tarball`);
  }
  for (const p of paths) {
    assert.doesNotMatch(p, /^(test|bench|scripts|src|docs|docker)\/|^dist\/(test|bench|scripts)\/|\.map$|\.ts$(?<!\.d\.ts$)/, `${p} does not belong in the tarball`);
  }
  assert.match(readFileSync(join(repoRoot, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0, January 2004/);
  const stated = /The tarball is about (\d+) kB \(([\d.]+) MB unpacked\)/.exec(readme);
  assert.ok(stated, "the README states the tarball's size");
  const kB = packed.size / 1000;
  assert.ok(Math.abs(kB - Number(stated[1])) / kB < 0.25, `the README says ${stated[1]} kB, the tarball is ${kB.toFixed(0)} kB`);
  assert.ok(Math.abs(packed.unpackedSize / 1e6 - Number(stated[2])) / (packed.unpackedSize / 1e6) < 0.25, `unpacked ${(packed.unpackedSize / 1e6).toFixed(1)} MB`);
  assert.ok(readme.includes(`npm install -g ${packed.filename}`), `the README's install section names ${packed.filename}`);
});

test("installed globally from the tarball into a fresh prefix: --version, a daemon, start abc and a scrape work", async (t) => {
  assertRan(npm(["install", "-g", "--prefix", prefix, "--prefer-offline", tarball], work), "npm install -g --prefix");
  const version = spawnSync(installedBin, ["--version"], { encoding: "utf8" });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
  // (@types/* may come with a dependency: protobufjs depends on @types/node.)
  for (const dev of Object.keys(pkg.devDependencies).filter((d) => !d.startsWith("@types/"))) {
    assert.ok(!existsSync(join(installed, "node_modules", dev)), `devDependency ${dev} is not installed`);
  }

  const d = await daemon(t, [], { bin: installedBin });
  assert.match(d.log(), new RegExp(`version=${VERSION.replaceAll(".", "\\.")}|"version":"${VERSION}"`));
  const start = await d.cli(["start", "abc"]);
  assert.equal(start.code, 0, start.stderr);
  const scrape = await httpGet(`${d.httpBase}/plugins/abc/metrics`);
  assert.equal(scrape.status, 200);
  assert.match(scrape.body, /^plugin_greet_count \d+$/m);
  assert.match(scrape.body, /^process_cpu_user_seconds_total \S+$/m);
  const cli = await d.cli(["scrape", "abc"]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^plugin_greet_count \d+$/m);
});

/** Bare module specifiers a built file loads at run time: import/export statements, import(), require(). */
function runtimeImports(source: string): string[] {
  const spec = /["']((?:node:)?(?:@[\w-][\w.-]*\/)?[\w-][\w.-]*(?:\/[\w.-]+)*)["']/.source;
  const statement = new RegExp(`^(?:(?:import|export)\\b.*\\bfrom|\\}\\s*from|import)\\s*${spec}`);
  const call = new RegExp(`(?:\\bimport|require)\\s*\\(\\s*${spec}\\s*\\)`, "g");
  const found: string[] = [];
  for (const line of source.split("\n")) {
    const code = line.trim();
    if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) continue;
    const m = statement.exec(code);
    if (m) found.push(m[1]);
    for (const c of code.matchAll(call)) found.push(c[1]);
  }
  return found;
}

test("nothing the package runs imports a devDependency or an undeclared package", () => {
  const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
  const packageOf = (spec: string) => (spec.startsWith("node:") ? spec.slice(5).split("/")[0] : spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]);
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : /\.(m|c)?js$/.test(e.name) ? [join(dir, e.name)] : []));
  const files = [...walk(join(installed, "dist")), join(installed, "bin", "plugprom"), join(installed, "bin", "plugprom-greeter")];
  assert.ok(files.length > 50, `${files.length} files`);
  const seen = new Set<string>();
  for (const file of files) {
    for (const spec of runtimeImports(readFileSync(file, "utf8"))) {
      seen.add(packageOf(spec));
      assert.ok(allowed.has(packageOf(spec)), `${relative(installed, file)} imports ${spec}, not a dependency`);
    }
  }
  for (const dep of ["prom-client", "@grpc/grpc-js", "@connectrpc/connect", "http2"]) assert.ok(seen.has(dep), `the scan sees imports of ${dep}`);
});

/** The code block that follows "`label`:" in the README's SDK section. */
function readmeFile(label: string): string {
  const m = new RegExp(`^\`${label.replace(".", "\\.")}\`:\\n\\n\`\`\`\\w+\\n([\\s\\S]*?)^\`\`\`$`, "m").exec(readme);
  assert.ok(m, `the README shows ${label}`);
  return m[1];
}

test("a TypeScript plugin written outside the repository, as the README shows it, compiles against the package and is served", async (t) => {
  assert.ok(existsSync(installedBin), "needs the installed package of the previous test");
  const project = join(work, "myplugin");
  mkdirSync(join(project, "src"), { recursive: true });
  const manifest = readmeFile("package.json");
  assert.ok(manifest.includes(`"plugprom": "file:../${packed.filename}"`), `the README's package.json installs ../${packed.filename}`);
  writeFileSync(join(project, "package.json"), manifest);
  writeFileSync(join(project, "tsconfig.json"), readmeFile("tsconfig.json"));
  writeFileSync(join(project, "src", "plugin.ts"), readmeFile("src/plugin.ts"));
  // Were the package's declarations missing, or `any`, these directives would be unused: tsc fails.
  writeFileSync(
    join(project, "src", "types-check.ts"),
    [
      'import { servePlugin, type ServePluginOptions } from "plugprom/plugin";',
      "export async function neverCalled(opts: ServePluginOptions): Promise<void> {",
      "  // @ts-expect-error the cookie key is a string",
      '  await servePlugin({ ...opts, magicCookieKey: 1 });',
      "  const served = await servePlugin(opts);",
      "  // @ts-expect-error the negotiated version is a number",
      "  const version: string = served.version;",
      "  void version;",
      "}",
      "",
    ].join("\n"),
  );
  assertRan(npm(["install", "--prefer-offline"], project), "npm install in the plugin project");
  assert.ok(lstatSync(join(project, "node_modules", "plugprom", "dist", "src", "plugin", "index.d.ts")).isFile());

  const d = await daemon(t, [], { bin: installedBin });
  for (const promClient of ["15", "14"]) {
    if (promClient !== "15") assertRan(npm(["install", "--prefer-offline", `prom-client@${promClient}`], project), `npm install prom-client@${promClient}`);
    const installedVersion = (JSON.parse(readFileSync(join(project, "node_modules", "prom-client", "package.json"), "utf8")) as { version: string }).version;
    assert.ok(installedVersion.startsWith(`${promClient}.`), `prom-client ${installedVersion}`);
    const tsc = spawnSync(process.execPath, [join(project, "node_modules", "typescript", "bin", "tsc"), "-p", project], { encoding: "utf8" });
    assert.equal(tsc.status, 0, `tsc with prom-client ${installedVersion}:\n${tsc.stdout}${tsc.stderr}`);

    const started = await d.cli(promClient === "15" ? ["start", "ext", "--", process.execPath, join(project, "dist", "plugin.js")] : ["restart", "ext"]);
    assert.equal(started.code, 0, started.stderr);
    const text = async () => (await httpGet(`${d.httpBase}/plugins/ext/metrics`, { accept: "text/plain;version=0.0.4" })).body;
    assert.match(await text(), /^# TYPE myplugin_jobs_total counter\nmyplugin_jobs_total \d+$/m, `prom-client ${installedVersion}`);
    const om = await httpGet(`${d.httpBase}/plugins/ext/metrics`, { accept: "application/openmetrics-text;version=1.0.0" });
    assert.match(om.body, /^# TYPE myplugin_jobs counter\nmyplugin_jobs_total \d+\n# EOF\n$/m);
    assert.match(await text(), /^myplugin_jobs_total \d+$/m, "still _total after an OpenMetrics scrape");
  }
});
