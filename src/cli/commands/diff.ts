// `plugprom diff -f FILE`: what `apply` would do, field by field for updates. Exit 0 when
// nothing would change, 1 when something would (as diff(1) and kubectl diff do).
import { Command } from "@commander-js/extra-typings";
import { ExitCode } from "../../shared/errors.js";
import { ApplyAction } from "../../shared/gen/plugprom/v1/control_pb.js";
import { QuietExit } from "../errors.js";
import type { Factory, Run, Seams } from "../factory.js";
import { toJson } from "../output.js";
import { fileOf, pluginsFileOptions, sendPluginsFile, type ApplyOptions } from "./apply.js";

export type DiffOptions = Omit<ApplyOptions, "dryRun">;

export function newDiffCommand(f: Factory, runF: Run<DiffOptions> = runDiff) {
  const [file, prune] = pluginsFileOptions();
  return new Command("diff")
    .description("show what apply would change; exit 1 when something would")
    .addOption(file)
    .addOption(prune)
    .action((flags) => runF({ ...fileOf(f, "diff", flags.file), prune: flags.prune, json: f.globals().json }, f.seams()));
}

export async function runDiff(o: DiffOptions, { client, io, call }: Seams): Promise<void> {
  const results = await sendPluginsFile({ ...o, dryRun: true }, { client, call });
  const of = (action: ApplyAction) => results.filter((r) => r.action === action);
  const names = (action: ApplyAction) => of(action).map((r) => r.name);
  const changed = results.filter((r) => r.action !== ApplyAction.UNCHANGED);
  if (o.json) {
    await io.out(
      toJson({
        created: names(ApplyAction.CREATED),
        updated: of(ApplyAction.UPDATED).map((r) => ({ name: r.name, changes: r.changes })),
        unchanged: names(ApplyAction.UNCHANGED),
        deleted: names(ApplyAction.DELETED),
      }),
    );
  } else {
    const lines = changed.flatMap((r) => {
      if (r.action === ApplyAction.CREATED) return [`${r.name}: create`];
      if (r.action === ApplyAction.DELETED) return [`${r.name}: delete`];
      return r.changes.map((c) => `${r.name}: ${c}`);
    });
    await io.out(lines.length > 0 ? lines.map((l) => `${l}\n`).join("") : "no changes\n");
  }
  if (changed.length > 0) throw new QuietExit(ExitCode.FAILED);
}
