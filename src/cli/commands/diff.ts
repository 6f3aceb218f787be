// `plugprom diff -f FILE`: what `apply` would do, field by field for updates. Exit 0 when
// nothing would change, 1 when something would (as diff(1) and kubectl diff do).
import type { Command } from "commander";
import { ExitCode } from "../../shared/errors.js";
import { ApplyAction } from "../../shared/gen/plugprom/v1/control_pb.js";
import type { ControlClient } from "../client.js";
import { QuietExit } from "../errors.js";
import { toJson, type IO } from "../output.js";
import { applyFlags, applyOptions, sendPluginsFile, type ApplyOptions } from "./apply.js";

export type DiffOptions = Omit<ApplyOptions, "dryRun">;

export function diffFlags(cmd: Command): Command {
  return applyFlags(cmd, { withDryRun: false });
}

export function diffOptions(cmd: Command, cwd: string, json: boolean): DiffOptions {
  const { dryRun: _, ...o } = applyOptions(cmd, cwd, json);
  return o;
}

export async function runDiff(o: DiffOptions, client: ControlClient, io: IO, call: { timeoutMs?: number }): Promise<void> {
  const results = await sendPluginsFile({ ...o, dryRun: true }, client, call);
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
