// `plugprom version`: the CLI's own version; never asks the daemon (`status` has its version).
import { Command } from "@commander-js/extra-typings";
import { VERSION } from "../../shared/version.js";
import type { Factory } from "../factory.js";
import type { IO } from "../output.js";

export interface VersionOptions {
  json: boolean;
}

export function newVersionCommand(f: Factory, runF: (o: VersionOptions, io: IO) => Promise<void> = runVersion) {
  return new Command("version").description("print the CLI version").action(() => runF({ json: f.globals().json }, f.io()));
}

export async function runVersion(o: VersionOptions, io: IO): Promise<void> {
  await io.out(o.json ? `${JSON.stringify({ version: VERSION })}\n` : `plugprom ${VERSION}\n`);
}
