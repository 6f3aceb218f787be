// The status page (GET /) and its data (GET /status.json): every plugin with its state, pid,
// uptime, restarts and last scrape, the daemon's addresses and the SD document. Server-side
// rendered, readable without JavaScript; with JavaScript it refreshes itself. No asset
// comes from anywhere but this daemon.
import { PluginState } from "../../shared/gen/plugprom/v1/control_pb.js";
import { formatDuration } from "../../shared/duration.js";
import type { InstanceView } from "../instance.js";
import type { LastScrape } from "../metrics.js";

export interface StatusModel {
  version: string;
  grpcAddr: string;
  httpAddr: string;
  advertiseAddr: string;
  generatedAt: string;
  plugins: Array<{
    name: string;
    state: string;
    pid: number | null;
    uptime: string;
    restarts: number;
    healthy: boolean;
    lastScrape: { at: string; durationMs: number; bytes: number; code: number } | null;
    metricsPath: string;
  }>;
  sd: unknown;
}

export function statusModel(
  instances: readonly InstanceView[],
  daemon: { version: string; grpcAddr: string; httpAddr: string; advertiseAddr: string },
  lastScrape: (name: string) => LastScrape | undefined,
  sdDocument: string,
  now = new Date(),
): StatusModel {
  return {
    ...daemon,
    generatedAt: now.toISOString(),
    plugins: instances.map((i) => {
      const last = lastScrape(i.name);
      return {
        name: i.name,
        state: PluginState[i.state],
        pid: i.pid ?? null,
        uptime: i.state === PluginState.RUNNING && i.startedAt ? formatDuration(now.getTime() - i.startedAt.getTime()) : "-",
        restarts: i.restarts,
        healthy: i.healthy,
        lastScrape: last ? { at: last.at.toISOString(), durationMs: Math.round(last.seconds * 1e4) / 10, bytes: last.bytes, code: last.code } : null,
        metricsPath: `/plugins/${i.name}/metrics`,
      };
    }),
    sd: JSON.parse(sdDocument) as unknown,
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function row(p: StatusModel["plugins"][number]): string {
  const last = p.lastScrape ? `${p.lastScrape.durationMs} ms, ${formatBytes(p.lastScrape.bytes)} (${p.lastScrape.code})` : "-";
  return (
    `<tr data-plugin="${esc(p.name)}"><td>${esc(p.name)}</td><td class="state ${esc(p.state.toLowerCase())}">${esc(p.state)}</td>` +
    `<td>${p.pid ?? "-"}</td><td>${esc(p.uptime)}</td><td>${p.restarts}</td><td>${p.healthy ? "yes" : "no"}</td>` +
    `<td>${esc(last)}</td><td><a href="${esc(p.metricsPath)}">metrics</a></td></tr>`
  );
}

export function formatBytes(n: number): string {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

export function renderStatusPage(m: StatusModel): string {
  const rows = m.plugins.length > 0 ? m.plugins.map(row).join("\n") : `<tr><td colspan="8">no plugins</td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>plugprom</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em} .meta{color:#666;margin-bottom:1.5em}
table{border-collapse:collapse;min-width:60%} th,td{text-align:left;padding:.35em .8em;border-bottom:1px solid #ddd}
th{background:#f4f4f4} .running{color:#137333;font-weight:600} .crashed,.failed,.crashloop{color:#c5221f;font-weight:600}
.starting,.stopping,.backoff{color:#b06000;font-weight:600} pre{background:#f7f7f7;padding:1em;overflow:auto;max-height:24em}
</style></head>
<body>
<h1>plugprom</h1>
<div class="meta">version ${esc(m.version)} · control ${esc(m.grpcAddr)} · http ${esc(m.httpAddr)} · advertised ${esc(m.advertiseAddr)} · <span id="generated">${esc(m.generatedAt)}</span>
· <a href="/metrics">daemon metrics</a> · <a href="/federate">all plugins merged</a></div>
<table id="plugins"><thead><tr><th>name</th><th>state</th><th>pid</th><th>uptime</th><th>restarts</th><th>healthy</th><th>last scrape</th><th></th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>Service discovery (<a href="/sd_config">/sd_config</a>)</h2>
<pre id="sd">${esc(JSON.stringify(m.sd, null, 2))}</pre>
<script>
// Live refresh: the same data as JSON, every 2 s. Without JavaScript the page is complete as served.
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
const size = (n) => n >= 1048576 ? (n / 1048576).toFixed(1) + " MiB" : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : n + " B";
async function refresh() {
  try {
    const r = await fetch("/status.json", { cache: "no-store" });
    if (!r.ok) return;
    const m = await r.json();
    document.getElementById("generated").textContent = m.generatedAt;
    document.querySelector("#plugins tbody").innerHTML = m.plugins.length === 0 ? '<tr><td colspan="8">no plugins</td></tr>' : m.plugins.map((p) =>
      '<tr data-plugin="' + esc(p.name) + '"><td>' + esc(p.name) + '</td><td class="state ' + esc(p.state.toLowerCase()) + '">' + esc(p.state) +
      '</td><td>' + (p.pid ?? "-") + '</td><td>' + esc(p.uptime) + '</td><td>' + p.restarts + '</td><td>' + (p.healthy ? "yes" : "no") + '</td><td>' +
      esc(p.lastScrape ? p.lastScrape.durationMs + " ms, " + size(p.lastScrape.bytes) + " (" + p.lastScrape.code + ")" : "-") +
      '</td><td><a href="' + esc(p.metricsPath) + '">metrics</a></td></tr>').join("");
    document.getElementById("sd").textContent = JSON.stringify(m.sd, null, 2);
  } catch { /* the daemon is away; try again */ }
}
setInterval(refresh, 2000);
</script>
</body></html>
`;
}
