// The status page in a real browser (Debian's Chromium, driven by playwright-core): the
// server-rendered table, the live refresh, the page without JavaScript, and a screenshot
// kept as a test artifact (test-artifacts/status-page.png).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { daemon, httpGet } from "../helpers/daemon.js";
import { repoRoot } from "../helpers/paths.js";
import { requireBinary } from "../helpers/prometheus.js";

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

test("the status page lists every plugin, refreshes itself, works without JavaScript, and is screenshotted", async (t) => {
  const executablePath = requireBinary("chromium", "chromium");
  const d = await daemon(t);
  assert.equal((await d.cli(["start", "abc", "--label", "team=core"])).code, 0);
  assert.equal((await httpGet(`${d.httpBase}/plugins/abc/metrics`)).status, 200, "one scrape, so the page has one to show");

  const html = await httpGet(`${d.httpBase}/`);
  assert.equal(html.status, 200);
  assert.match(String(html.headers["content-type"]), /^text\/html/);
  assert.match(html.body, /<tr data-plugin="abc"><td>abc<\/td><td class="state running">RUNNING<\/td>/);
  assert.doesNotMatch(html.body, /https?:\/\/(?!127\.0\.0\.1)[^"]*\.(js|css)/, "no asset from the internet");

  // playwright gives each launch a fresh, temporary profile of its own.
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  t.after(() => browser.close());

  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  await page.goto(`${d.httpBase}/`);
  assert.equal(await page.textContent('#plugins tr[data-plugin="abc"] td.state'), "RUNNING");
  assert.match((await page.textContent('#plugins tr[data-plugin="abc"] td:nth-child(7)')) ?? "", /ms, .*KiB \(200\)/);
  assert.equal(await page.getAttribute('#plugins tr[data-plugin="abc"] a', "href"), "/plugins/abc/metrics");

  // The merged endpoint is one click away, and serves the plugin's series.
  const federate = await page.getAttribute('a[href="/federate"]', "href");
  assert.equal(federate, "/federate");
  assert.match((await httpGet(`${d.httpBase}${federate}`)).body, /^plugprom_federate_plugin_up\{plugin="abc"\} 1$/m);

  // Live refresh: a plugin started after the page loaded appears without a reload.
  assert.equal((await d.cli(["start", "def"])).code, 0);
  await page.waitForSelector('#plugins tr[data-plugin="def"] td.state.running', { timeout: 10_000 });
  assert.match((await page.textContent("#sd")) ?? "", /"plugin": "def"/);

  const artifacts = join(repoRoot, "test-artifacts");
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, "status-page.png"), await page.screenshot({ fullPage: true }));

  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noJs.newPage();
  await plain.goto(`${d.httpBase}/`);
  assert.equal(await plain.textContent('#plugins tr[data-plugin="def"] td.state'), "RUNNING", "readable with JavaScript off");
  await noJs.close();
});

test("with a scrape token the status page and its data need it too", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pp-status-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "token"), "t0k\n");
  const d = await daemon(t, ["--scrape-token-file", join(dir, "token")]);
  assert.equal((await httpGet(`${d.httpBase}/`)).status, 401);
  assert.equal((await httpGet(`${d.httpBase}/status.json`)).status, 401);
  const ok = await httpGet(`${d.httpBase}/status.json`, { authorization: "Bearer t0k" });
  assert.equal(ok.status, 200);
  assert.deepEqual((JSON.parse(ok.body) as { plugins: unknown[] }).plugins, []);
});
