// How bin/plugprom starts the CLI, kept to Node built-ins so that it costs nothing itself.
// `plugprom daemon` (any command line naming "daemon" before "--") imports the full ESM bundle.
// Every other command runs the client-only bundle as a classic script compiled with a V8 code
// cache: Node 20 caches no compiled code for ES modules, and compiling the bundle was a fifth
// of a `plugprom list`. The cache is a file per bundle content and Node version under
// $XDG_CACHE_HOME/plugprom (else <tmpdir>/plugprom-<uid>), written once after a command ran
// (so it holds the functions that command compiled), and only ever a speed-up: a missing,
// unreadable, foreign or stale cache means compiling as without one.
import { isAscii } from "node:buffer";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";

type Main = (argv: string[]) => Promise<number>;

const bundleDir = fileURLToPath(new URL("../../bundle/", import.meta.url));
export const FULL_BUNDLE = join(bundleDir, "plugprom.mjs");
export const CLIENT_BUNDLE = join(bundleDir, "plugprom-cli.cjs");

/**
 * Commands the client bundle leaves out: the daemon, and apply/diff, which parse YAML (the
 * parser would cost every other command about a tenth of its start time).
 */
const FULL_BUNDLE_COMMANDS = ["daemon", "apply", "diff"];

/** Whether a command line may need the full bundle; a false "yes" only costs speed. */
export function wantsFullBundle(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => FULL_BUNDLE_COMMANDS.includes(a));
}

export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return xdg && isAbsolute(xdg) ? join(xdg, "plugprom") : join(tmpdir(), `plugprom-${process.getuid?.() ?? "user"}`);
}

/**
 * A code cache is code to run, so it is only read from and written to a directory of this
 * user's that nobody else can write to.
 */
function trusted(dir: string): boolean {
  const st = statSync(dir);
  return st.isDirectory() && (process.getuid === undefined || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
}

export interface LaunchOptions {
  env?: NodeJS.ProcessEnv;
  clientBundle?: string;
}

export async function launch(argv: string[], opts: LaunchOptions = {}): Promise<number> {
  if (wantsFullBundle(argv.slice(2))) return ((await import(FULL_BUNDLE)) as { main: Main }).main(argv);
  const client = loadClientBundle(opts.clientBundle ?? CLIENT_BUNDLE, opts.env ?? process.env);
  const code = await client.main(argv);
  client.saveCodeCache();
  return code;
}

export function loadClientBundle(file: string, env: NodeJS.ProcessEnv): { main: Main; saveCodeCache(): void } {
  const bytes = readFileSync(file);
  // The bundle is ASCII (esbuild escapes the rest): a one-byte string is quicker to make.
  const source = isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
  const useCache = !env.PLUGPROM_NO_CODE_CACHE;
  const dir = codeCacheDir(env);
  const cacheFile = join(dir, `cli-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}-${process.version}-${process.arch}.v8cache`);
  let cachedData: Buffer | undefined;
  if (useCache) {
    try {
      if (trusted(dir)) cachedData = readFileSync(cacheFile);
    } catch {
      // No cache yet, or none to be had.
    }
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} as { main: Main } };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return {
    main: module.exports.main,
    saveCodeCache() {
      // V8 refuses a cache from another V8 or other flags (cachedDataRejected); write a new one.
      if (!useCache || (cachedData && !script.cachedDataRejected)) return;
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        if (!trusted(dir)) return;
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        renameSync(tmp, cacheFile);
        pruneStaleCaches(dir, cacheFile);
      } catch {
        // A cache that cannot be written is only a slower next start.
      }
    },
  };
}

/** A cache file unused for this long belongs to a version that is most likely gone. */
export const STALE_CACHE_MS = 30 * 24 * 3600 * 1000;

/**
 * Removes other bundles' caches (earlier versions, after an upgrade) written more than 30
 * days ago. By age, not by version: two installed versions then never delete each other's
 * cache more than once a month.
 */
function pruneStaleCaches(dir: string, keep: string): void {
  const cutoff = Date.now() - STALE_CACHE_MS;
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (file === keep || !/^cli-.*\.v8cache$/.test(name)) continue;
    try {
      if (statSync(file).mtimeMs < cutoff) unlinkSync(file);
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}
