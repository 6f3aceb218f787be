// Builds the Go programs under test/compat/go with Debian's Go toolchain and go-plugin in
// GOPATH mode, once per source version: binaries are cached under the temp dir by a hash of
// their sources, and concurrent test files building the same program do not clash.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./paths.js";

const run = promisify(execFile);
const GOPATH = "/usr/share/gocode";

export async function buildGoProgram(name: string): Promise<string> {
  const srcDir = join(repoRoot, "test", "compat", "go", name);
  const files = (await readdir(srcDir)).filter((f) => f.endsWith(".go")).sort();
  const hash = createHash("sha256");
  for (const f of files) hash.update(f).update(await readFile(join(srcDir, f)));
  const cacheDir = join(tmpdir(), "plugprom-go-build");
  const binary = join(cacheDir, `${name}-${hash.digest("hex").slice(0, 16)}`);
  if (existsSync(binary)) return binary;

  if (!existsSync(join(GOPATH, "src", "github.com", "hashicorp", "go-plugin"))) {
    throw new Error("go-plugin sources not found: apt-get install golang-go golang-github-hashicorp-go-plugin-dev golang-google-grpc-dev golang-github-prometheus-client-golang-dev (.ci/run does this)");
  }
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  try {
    await run("go", ["build", "-o", tmp, "."], {
      cwd: srcDir,
      env: { ...process.env, GO111MODULE: "off", GOPATH, GOCACHE: join(cacheDir, "gocache"), GOFLAGS: "" },
      maxBuffer: 4 * 1024 * 1024,
    });
  } catch (err) {
    await rm(tmp, { force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new Error("go not found: apt-get install golang-go (.ci/run does this)");
    throw new Error(`go build ${name} failed:\n${e.stderr ?? e.message}`);
  }
  await rename(tmp, binary);
  return binary;
}
