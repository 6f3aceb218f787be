// `plugprom apply -f FILE`: converges the daemon to a plugins file. The file is read and
// validated here first (every problem, exit 2, before the daemon is asked), then sent whole
// to the daemon's Apply RPC, which converges under its per-name serialization.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { ExitCode } from "../../shared/errors.js";
import { ApplyAction, type ApplyResult } from "../../shared/gen/plugprom/v1/control_pb.js";
import { LIMITS } from "../../shared/names.js";
import type { ControlClient } from "../client.js";
import { CliError, usageError } from "../errors.js";
import { toJson, type IO } from "../output.js";

export interface ApplyOptions {
  /** As the user wrote it (for messages). */
  file: string;
  /** Absolute. */
  path: string;
  prune: boolean;
  dryRun: boolean;
  json: boolean;
}

/** Per-call options; no timeoutMs means no deadline (--timeout 0). */
type CallOptions = { timeoutMs?: number };

/** The flags of `apply` (and, with `withDryRun: false`, of `diff`). */
export function applyFlags(cmd: Command, o: { withDryRun: boolean }): Command {
  cmd.requiredOption("-f, --file <file>", "plugins file (YAML or JSON)").option("--prune", "also stop the instances the file does not name", false);
  if (o.withDryRun) cmd.option("--dry-run", "print what would be done, and do nothing", false);
  return cmd;
}

export function applyOptions(cmd: Command, cwd: string, json: boolean): ApplyOptions {
  const o = cmd.opts();
  return { file: o.file as string, path: resolve(cwd, o.file as string), prune: o.prune as boolean, dryRun: (o.dryRun as boolean | undefined) ?? false, json };
}

export async function runApply(o: ApplyOptions, client: ControlClient, io: IO, call: CallOptions): Promise<void> {
  const results = await sendPluginsFile(o, client, call);
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
export async function sendPluginsFile(o: ApplyOptions, client: ControlClient, call: CallOptions): Promise<ApplyResult[]> {
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
