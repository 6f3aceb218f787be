// `plugprom scrape <name>`: streams an instance's metrics to stdout chunk by chunk, as the
// proxy returns them, never holding the whole exposition.
import { Command } from "@commander-js/extra-typings";
import type { Factory, Run, Seams } from "../factory.js";
import { instanceName } from "../flags.js";

const OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0";

export interface ScrapeOptions {
  name: string;
  /** The Accept header sent to the plugin; "" lets the proxy choose. */
  accept: string;
}

export function newScrapeCommand(f: Factory, runF: Run<ScrapeOptions> = runScrape) {
  return new Command("scrape")
    .description("print an instance's metrics as the proxy returns them")
    .addArgument(instanceName())
    .option("--accept <media-type>", "Accept header sent to the plugin")
    .option("--openmetrics", "ask for OpenMetrics 1.0.0", false)
    .action((name, flags) => runF({ name, accept: flags.openmetrics ? OPENMETRICS_ACCEPT : (flags.accept ?? "") }, f.seams()));
}

export async function runScrape(o: ScrapeOptions, { client, io, call }: Seams): Promise<void> {
  for await (const msg of client.scrape({ name: o.name, accept: o.accept }, call)) {
    if (msg.chunk.length > 0) await io.out(msg.chunk);
  }
}
