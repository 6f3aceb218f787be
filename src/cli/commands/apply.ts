// `plugprom apply -f FILE`: converges the daemon to a plugins file. The file is read and
// validated here first (every problem, exit 2, before the daemon is asked), then sent whole
// to the daemon's Apply RPC, which converges under its per-name serialization.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Command, Option } from "@commander-js/extra-typings";
import { ExitCode } from "../../shared/errors.js";
import { ApplyAction, type ApplyResult } from "../../shared/gen/plugprom/v1/control_pb.js";
import { LIMITS } from "../../shared/names.js";
import { CliError, usageError } from "../errors.js";
import type { CallOptions, Factory, Run, Seams } from "../factory.js";
import { toJson } from "../output.js";

export interface ApplyOptions {
  /** As the user wrote it (for messages). */
  file: string;
  /** Absolute. */
  path: string;
  prune: boolean;
  dryRun: boolean;
  json: boolean;
}

/** `-f, --file` and `--prune`, which `diff` takes too. */
export function pluginsFileOptions() {
  return [
    new Option("-f, --file <file>", "plugins file (YAML or JSON); required"),
    new Option("--prune", "also stop the instances the file does not name").default(false),
  ] as const;
}

export function newApplyCommand(f: Factory, runF: Run<ApplyOptions> = runApply) {
  const [file, prune] = pluginsFileOptions();
  return new Command("apply")
    .description("converge the daemon to a plugins file")
    .addOption(file)
    .addOption(prune)
    .option("--dry-run", "print what would be done, and do nothing", false)
    .action((flags) => runF({ ...fileOf(f, "apply", flags.file), prune: flags.prune, dryRun: flags.dryRun, json: f.globals().json }, f.seams()));
}

/** -f as given and made absolute; checked here rather than by commander, so that an unknown flag is still the first thing reported. */
export function fileOf(f: Factory, verb: string, file: string | undefined): { file: string; path: string } {
  if (file === undefined) throw usageError(`${verb} needs -f <file>, the plugins file (see "plugprom ${verb} --help")`);
  return { file, path: resolve(f.cwd(), file) };
}

export async function runApply(o: ApplyOptions, { client, io, call }: Seams): Promise<void> {
  const results = await sendPluginsFile(o, { client, call });
  const names = (action: ApplyAction) => results.filter((r) => r.action === action).map((r) => r.name);
  const failed = results.filter((r) => r.action === ApplyAction.FAILED);
  if (o.json) {
    await io.out(
      toJson({
        created: names(ApplyAction.CREATED),
        updated: names(ApplyAction.UPDATED),
        unchanged: names(ApplyAction.UNCHANGED),
        deleted: names(ApplyAction.DELETED),
        failed: failed.map((r) => ({ name: r.name, error: r.error })),
      }),
    );
  } else {
    const lines = results.map((r) => (r.action === ApplyAction.FAILED ? `failed ${r.name}: ${r.error}` : `${actionName(r.action)} ${r.name}`));
    if (lines.length === 0) lines.push("the file names no instances");
    if (o.dryRun) lines.push("(dry run: nothing was changed)");
    await io.out(lines.map((l) => `${l}\n`).join(""));
  }
  if (failed.length > 0) {
    throw new CliError(`${failed.length} of ${results.length} instances failed: ${failed.map((r) => r.name).join(", ")}; the others were applied`, ExitCode.FAILED);
  }
}

/** Reads and validates the file, then asks the daemon to apply it; results in name order. */
export async function sendPluginsFile(o: ApplyOptions, { client, call }: Pick<Seams, "client" | "call">): Promise<ApplyResult[]> {
  let text: Buffer;
  try {
    text = await readFile(o.path);
  } catch (err) {
    throw usageError(`${o.file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (text.length > LIMITS.pluginsFileBytes) throw usageError(`${o.file}: larger than ${LIMITS.pluginsFileBytes / 1024} KiB`);
  const content = text.toString("utf8");
  // Loaded only here: the YAML parser is not in the client bundle (src/cli/launch.ts).
  const { parsePluginsFile, PluginsFileError } = await import("../../shared/plugins-file.js");
  try {
    // The daemon validates again, and also what only it knows (its --config catalog).
    parsePluginsFile(content, dirname(o.path), o.file);
  } catch (err) {
    if (err instanceof PluginsFileError) throw usageError(err.lines().join("\n"));
    throw err;
  }
  const res = await client.apply({ content, path: o.path, prune: o.prune, dryRun: o.dryRun }, call);
  return res.results;
}

export function actionName(action: ApplyAction): string {
  return (ApplyAction[action] ?? "UNSPECIFIED").toLowerCase();
}
