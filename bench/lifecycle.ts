// The lifecycle part of `npm run bench`: time from Start to RUNNING (spawn, handshake,
// health) under plugprom, against go-plugin's own Go host launching the same plugin to its
// first Ping. TypeScript greeter and Go plugin, AutoMTLS on and off. Appends to latest.md.
import { execFileSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { createControlClient } from "../src/cli/client.js";
import { buildGoProgram } from "../test/helpers/go-build.js";
import { GREETER, startDaemon } from "../test/helpers/daemon.js";
import { repoRoot } from "../test/helpers/paths.js";

const RUNS = Number(process.env.BENCH_LIFECYCLE_RUNS || 10);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const goPlugin = await buildGoProgram("goplugin-greeter");
  const goHost = await buildGoProgram("goplugin-host");
  const d = await startDaemon({ args: ["--log-level", "info"] });
  const rows: string[] = [];
  try {
    const client = createControlClient(d.grpcAddr);
    for (const [label, command] of [["TypeScript greeter", GREETER], ["Go plugin (plugin.Serve)", goPlugin]] as const) {
      for (const mtls of [false, true]) {
        const plugprom: number[] = [];
        const goplugin: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const t0 = process.hrtime.bigint();
          await client.start({ name: "life", command: [command], workingDir: "/", autoMtls: mtls }, { timeoutMs: 60_000 });
          plugprom.push(Number(process.hrtime.bigint() - t0) / 1e6);
          await client.stop({ name: "life" });
          const out = execFileSync(goHost, ["-cmd", command, ...(mtls ? ["-auto-mtls"] : [])], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
          const ping = out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { step: string; msSinceLaunch?: number }).find((s) => s.step === "ping");
          goplugin.push(ping!.msSinceLaunch!);
        }
        const p = median(plugprom);
        const g = median(goplugin);
        rows.push(`| ${label} | ${mtls ? "on" : "off"} | ${p.toFixed(1)} ms | ${g.toFixed(1)} ms | ${(p / g).toFixed(2)}× |`);
      }
    }
  } finally {
    await d.close();
  }
  const md = `
## Lifecycle: Start → RUNNING (median of ${RUNS})

| plugin | AutoMTLS | plugprom Start | go-plugin host, launch → Ping | ratio (goal ≤ 2×) |
| --- | --- | --- | --- | --- |
${rows.join("\n")}
`;
  appendFileSync(join(repoRoot, "bench", "results", "latest.md"), md);
  console.log(md);
}

await main();
