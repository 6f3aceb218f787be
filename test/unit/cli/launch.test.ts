// bin/plugprom's launcher: which bundle runs, and the V8 code cache of the client bundle,
// which may only ever make a command faster, never break it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { codeCacheDir, wantsDaemon } from "../../../src/cli/launch.js";
import { VERSION } from "../../../src/shared/version.js";
import { PLUGPROM, testEnv } from "../../helpers/daemon.js";

const run = promisify(execFile);

/** Runs bin/plugprom with XDG_CACHE_HOME at `cacheHome`; resolves even when it fails. */
async function plugprom(cacheHome: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(PLUGPROM, args, { env: testEnv({ XDG_CACHE_HOME: cacheHome }) });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function withCacheHome(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "pp-cache-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("only a command line naming daemon before -- loads the daemon's bundle", () => {
  assert.equal(wantsDaemon(["daemon", "--grpc-addr", "x"]), true);
  assert.equal(wantsDaemon(["--json", "daemon"]), true);
  assert.equal(wantsDaemon(["help", "daemon"]), true);
  assert.equal(wantsDaemon(["list"]), false);
  assert.equal(wantsDaemon(["start", "x", "--", "daemon"]), false);
});

test("the cache lives under XDG_CACHE_HOME when it is absolute, else in the temp dir", () => {
  assert.equal(codeCacheDir({ XDG_CACHE_HOME: "/c" }), "/c/plugprom");
  assert.ok(codeCacheDir({ XDG_CACHE_HOME: "relative" }).startsWith(join(tmpdir(), "plugprom-")));
  assert.ok(codeCacheDir({}).startsWith(join(tmpdir(), "plugprom-")));
});

test("a client command writes a private code cache once, and later runs use it", async (t) => {
  const home = await withCacheHome(t);
  const first = await plugprom(home, ["version"]);
  assert.deepEqual(first, { code: 0, stdout: `plugprom ${VERSION}\n`, stderr: "" });
  const [file] = await readdir(join(home, "plugprom"));
  assert.match(file, /^cli-[0-9a-f]{16}-v\d+\.\d+\.\d+-\w+\.v8cache$/);
  const cache = await readFile(join(home, "plugprom", file));
  assert.ok(cache.length > 1000);
  assert.deepEqual(await plugprom(home, ["version"]), first);
  // A valid cache is not rewritten.
  assert.deepEqual(await readFile(join(home, "plugprom", file)), cache);
});

test("a corrupt cache changes nothing the user sees, and is replaced", async (t) => {
  const home = await withCacheHome(t);
  const expected = await plugprom(home, ["--json", "version"]);
  const [file] = await readdir(join(home, "plugprom"));
  await writeFile(join(home, "plugprom", file), "not a code cache");
  assert.deepEqual(await plugprom(home, ["--json", "version"]), expected);
  assert.notEqual((await readFile(join(home, "plugprom", file), "utf8")), "not a code cache");
  // Errors stay one line with their exit code.
  const usage = await plugprom(home, ["list", "--bogus"]);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr.split("\n").filter(Boolean).length, 1);
});

test("a cache directory that cannot be used, or that others can write to, is left alone", async (t) => {
  const home = await withCacheHome(t);
  // A file where the directory should be: nothing can be cached.
  await writeFile(join(home, "plugprom"), "");
  assert.deepEqual(await plugprom(home, ["version"]), { code: 0, stdout: `plugprom ${VERSION}\n`, stderr: "" });
  const shared = await withCacheHome(t);
  await mkdir(join(shared, "plugprom"));
  await chmod(join(shared, "plugprom"), 0o777);
  assert.equal((await plugprom(shared, ["version"])).code, 0);
  assert.deepEqual(await readdir(join(shared, "plugprom")), []);
});

test("PLUGPROM_NO_CODE_CACHE runs without reading or writing a cache", async (t) => {
  const home = await withCacheHome(t);
  const r = await run(PLUGPROM, ["version"], { env: testEnv({ XDG_CACHE_HOME: home, PLUGPROM_NO_CODE_CACHE: "1" }) });
  assert.equal(r.stdout, `plugprom ${VERSION}\n`);
  await assert.rejects(readdir(join(home, "plugprom")), { code: "ENOENT" });
});

test("writing a cache removes other versions' caches unused for 30 days, and nothing else", async (t) => {
  const home = await withCacheHome(t);
  const dir = join(home, "plugprom");
  await mkdir(dir, { mode: 0o700 });
  const old = join(dir, "cli-0123456789abcdef-v18.0.0-x64.v8cache");
  const recent = join(dir, "cli-fedcba9876543210-v20.0.0-x64.v8cache");
  const other = join(dir, "notes.txt");
  for (const f of [old, recent, other]) await writeFile(f, "x");
  const longAgo = new Date(Date.now() - 40 * 24 * 3600 * 1000);
  await utimes(old, longAgo, longAgo);
  await utimes(other, longAgo, longAgo);
  assert.equal((await plugprom(home, ["version"])).code, 0);
  const left = await readdir(dir);
  assert.ok(!left.includes("cli-0123456789abcdef-v18.0.0-x64.v8cache"), "the stale cache is gone");
  assert.ok(left.includes("cli-fedcba9876543210-v20.0.0-x64.v8cache"), "a recent one stays");
  assert.ok(left.includes("notes.txt"), "files that are not caches stay");
  assert.equal(left.filter((f) => f.endsWith(".v8cache")).length, 2, "the new cache was written");
});
