// Builds the Go programs under test/compat/go with Debian's Go toolchain and go-plugin in
// GOPATH mode, once per source version: binaries are cached under the temp dir by a hash of
// their sources (and of the installed go-plugin), and concurrent test files building the same
// program do not clash (each builds to its own temporary name, then renames).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./paths.js";

const run = promisify(execFile);
const GOPATH = "/usr/share/gocode";
const GO_PLUGIN = join(GOPATH, "src", "github.com", "hashicorp", "go-plugin");
const INSTALL_HINT = "`node scripts/ensure-packages.js test` installs Debian's Go and go-plugin packages (as root) or names the apt-get command";

/** Where a program's sources live: test/compat/go/<name>. */
export function goProgramDir(name: string): string {
  return join(repoRoot, "test", "compat", "go", name);
}

const inFlight = new Map<string, Promise<string>>();

/** Builds test/compat/go/<name> (or reuses a cached build) and returns the binary's path. */
export function buildGoProgram(name: string): Promise<string> {
  let p = inFlight.get(name);
  if (!p) {
    p = build(name);
    inFlight.set(name, p);
    p.catch(() => inFlight.delete(name));
  }
  return p;
}

async function build(name: string): Promise<string> {
  const srcDir = goProgramDir(name);
  const files = (await readdir(srcDir)).filter((f) => f.endsWith(".go")).sort();
  if (files.length === 0) throw new Error(`no Go sources in ${srcDir}`);
  if (!existsSync(GO_PLUGIN)) throw new Error(`go-plugin sources not found in ${GO_PLUGIN}: ${INSTALL_HINT}`);

  const hash = createHash("sha256");
  for (const f of files) hash.update(f).update("\0").update(await readFile(join(srcDir, f))).update("\0");
  hash.update(String((await stat(join(GO_PLUGIN, "client.go"))).mtimeMs));
  const cacheDir = join(tmpdir(), "plugprom-go-build");
  const binary = join(cacheDir, `${name}-${hash.digest("hex").slice(0, 16)}`);
  if (existsSync(binary)) return binary;

  await mkdir(cacheDir, { recursive: true });
  const tmp = `${binary}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await run("go", ["build", "-o", tmp, "."], {
      cwd: srcDir,
      env: { ...process.env, GO111MODULE: "off", GOPATH, GOCACHE: join(cacheDir, "gocache"), GOFLAGS: "" },
      maxBuffer: 4 * 1024 * 1024,
    });
  } catch (err) {
    await rm(tmp, { force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new Error(`go not found on PATH: install golang-go (${INSTALL_HINT})`);
    throw new Error(`go build ${name} failed:\n${e.stderr ?? e.message}`);
  }
  // rename is atomic: a concurrent build of the same sources just replaces an identical file.
  await rename(tmp, binary);
  return binary;
}
