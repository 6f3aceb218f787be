// plugprom scrape <name>: flags -> options (the Accept header), and options -> a streamed body.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newScrapeCommand, runScrape, type ScrapeOptions } from "../../../../src/cli/commands/scrape.js";
import { parseCommand, testSeams } from "../fakes.js";

test("scrape --openmetrics and --accept choose the Accept header; neither leaves it to the proxy", async () => {
  const accept = async (args: string[]) => (await parseCommand<ScrapeOptions>(newScrapeCommand, ["scrape", "abc", ...args])).options;
  assert.deepEqual(await accept([]), { name: "abc", accept: "" });
  assert.deepEqual(await accept(["--openmetrics"]), { name: "abc", accept: "application/openmetrics-text; version=1.0.0" });
  assert.deepEqual(await accept(["--accept", "text/plain"]), { name: "abc", accept: "text/plain" });
});

test("scrape writes each chunk as it arrives, never waiting for the whole body", async () => {
  let writes = 0;
  const { seams, rec } = testSeams(
    {
      scrape: async function* () {
        yield { contentType: "text/plain; version=0.0.4", chunk: Buffer.from("# HELP a A.\na 1\n") };
        // Resumed only when the CLI asks for the next chunk: by then the first must be out.
        if (writes !== 1) throw new Error(`next chunk requested after ${writes} writes`);
        yield { contentType: "", chunk: new Uint8Array() };
        yield { contentType: "", chunk: Buffer.from("b 2\n") };
      },
    },
    { onWrite: () => void writes++ },
  );
  await runScrape({ name: "abc", accept: "" }, seams);
  assert.deepEqual(rec.writes, ["# HELP a A.\na 1\n", "b 2\n"], "one write per non-empty chunk");
  assert.deepEqual(rec.calls[0].slice(0, 2), ["scrape", { name: "abc", accept: "" }]);
});
