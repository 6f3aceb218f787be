// `plugprom scrape`: streams an instance's metrics to stdout chunk by chunk, as the proxy
// returns them, never holding the whole exposition.
import type { ControlClient } from "../client.js";
import type { IO } from "../output.js";

export const OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0";

export interface ScrapeOptions {
  name: string;
  accept?: string;
  openmetrics: boolean;
}

export async function runScrape(o: ScrapeOptions, client: ControlClient, io: IO, call: { timeoutMs?: number }): Promise<void> {
  const accept = o.openmetrics ? OPENMETRICS_ACCEPT : (o.accept ?? "");
  for await (const msg of client.scrape({ name: o.name, accept }, call)) {
    if (msg.chunk.length > 0) await io.out(msg.chunk);
  }
}
