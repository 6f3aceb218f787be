// `plugprom targets`: the HTTP SD document byte for byte as /sd_config serves it (already
// JSON, so --json changes nothing).
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";

export type TargetsOptions = Record<string, never>;

export function newTargetsCommand(f: Factory, runF: Run<TargetsOptions> = runTargets) {
  return new Command("targets")
    .description("print the Prometheus HTTP SD document exactly as the daemon serves it")
    .action(() => runF({}, f.seams()));
}

/** The document ends with a newline, as Prometheus receives it. */
export async function runTargets(_o: TargetsOptions, { client, io, call }: Seams): Promise<void> {
  await io.out((await client.targets({}, call)).json);
}
