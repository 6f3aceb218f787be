// The periodic health check's own HTTP/2 session (src/goplugin/health-check.ts) against real
// Go go-plugin programs: AutoMTLS with the pinned certificate, plaintext, a
// certificate other than the handshake's, and a plugin that is gone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { buildGoProgram } from "../helpers/go-build.js";
import { tempDir } from "../helpers/temp.js";
import type { Cleanup } from "../helpers/daemon.js";
import { generateCertificate, type Certificate } from "../../src/goplugin/mtls.js";
import { parseHandshake, type Handshake } from "../../src/goplugin/handshake.js";
import { HealthChecker } from "../../src/goplugin/health-check.js";

/** A Go plugin started as go-plugin's host would, its handshake read from stdout; reaped after the test. */
async function goPlugin(t: Cleanup, opts: { cert?: Certificate }): Promise<{ h: Handshake; child: ChildProcess }> {
  const go = await buildGoProgram("goplugin-greeter");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PLUGPROM_PLUGIN: "plugprom",
    PLUGIN_PROTOCOL_VERSIONS: "1",
    PLUGIN_MIN_PORT: "10000",
    PLUGIN_MAX_PORT: "25000",
    PLUGIN_UNIX_SOCKET_DIR: tempDir(t, "hc-"),
  };
  if (opts.cert) env.PLUGIN_CLIENT_CERT = opts.cert.certPem;
  const child = spawn(go, [], { env, stdio: ["ignore", "pipe", "ignore"] });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  });
  let out = "";
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    if (out.includes("\n")) break;
  }
  return { h: parseHandshake(out.split("\n")[0], [1]), child };
}

test("the health check gets SERVING over AutoMTLS with the handshake's certificate, and refuses any other", async (t) => {
  const cert = await generateCertificate();
  const { h } = await goPlugin(t, { cert });
  assert.ok(h.serverCert, "the plugin answered with a server certificate");
  const checker = new HealthChecker(h, { clientCertPem: cert.certPem, clientKeyPem: cert.keyPem, serverCertDer: h.serverCert });
  t.after(() => checker.close());
  for (let i = 0; i < 3; i++) assert.equal(await checker.check(5_000), "SERVING", `check ${i + 1} on one session`);

  const other = await generateCertificate();
  const impostor = new HealthChecker(h, { clientCertPem: cert.certPem, clientKeyPem: cert.keyPem, serverCertDer: other.certDer });
  t.after(() => impostor.close());
  await assert.rejects(impostor.check(5_000), "a server certificate other than the pinned one is not trusted");
});

test("the health check speaks plaintext HTTP/2 when the plugin has no AutoMTLS, fails once the plugin is gone, and not after close", async (t) => {
  const { h, child } = await goPlugin(t, {});
  assert.equal(h.serverCert, undefined);
  const checker = new HealthChecker(h);
  t.after(() => checker.close());
  assert.equal(await checker.check(5_000), "SERVING");
  child.kill("SIGKILL");
  await once(child, "exit");
  await assert.rejects(checker.check(5_000), "no plugin, no SERVING");
  checker.close();
  await assert.rejects(checker.check(5_000), /closed/);
});
