import { test } from "node:test";
import assert from "node:assert/strict";
import { pluginEnvironment } from "../../../../src/daemon/supervision/plugin-env.js";

const base = {
  daemonEnv: {
    PATH: "/usr/bin:/bin",
    HOME: "/home/op",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TZ: "UTC",
    AWS_SECRET_ACCESS_KEY: "hunter2",
    PLUGPROM_TOKEN: "control-secret",
    NODE_OPTIONS: "--inspect",
  },
  userEnv: { GREETER_LEVEL: "debug" },
  magicCookieKey: "PLUGPROM_PLUGIN",
  magicCookieValue: "plugprom",
  protocolVersions: [2, 3],
  minPort: 12000,
  maxPort: 12100,
  unixSocketDir: "/state/sockets",
  metricsAddr: "unix:/state/sockets/abc.metrics.sock",
  instanceName: "abc",
  stateDir: "/state",
};

test("a plugin gets a minimal environment plus go-plugin's variables, never the daemon's secrets", () => {
  const env = pluginEnvironment(base);
  assert.deepEqual(env, {
    PATH: "/usr/bin:/bin",
    HOME: "/home/op",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    TZ: "UTC",
    GREETER_LEVEL: "debug",
    PLUGPROM_PLUGIN: "plugprom",
    PLUGIN_PROTOCOL_VERSIONS: "2,3",
    PLUGIN_MIN_PORT: "12000",
    PLUGIN_MAX_PORT: "12100",
    PLUGIN_UNIX_SOCKET_DIR: "/state/sockets",
    PLUGPROM_METRICS_ADDR: "unix:/state/sockets/abc.metrics.sock",
    PLUGPROM_INSTANCE: "abc",
    PLUGPROM_DAEMON_STATE_DIR: "/state",
  });
});

test("--env cannot override the protocol variables, and PLUGIN_CLIENT_CERT is only the daemon's", () => {
  const env = pluginEnvironment({
    ...base,
    userEnv: { PLUGIN_PROTOCOL_VERSIONS: "9", PLUGPROM_METRICS_ADDR: "10.0.0.1:80", PLUGIN_CLIENT_CERT: "forged" },
    clientCertPem: "-----BEGIN CERTIFICATE-----\n...",
  });
  assert.equal(env.PLUGIN_PROTOCOL_VERSIONS, "2,3");
  assert.equal(env.PLUGPROM_METRICS_ADDR, "unix:/state/sockets/abc.metrics.sock");
  assert.equal(env.PLUGIN_CLIENT_CERT, "-----BEGIN CERTIFICATE-----\n...");
  assert.equal(pluginEnvironment({ ...base, userEnv: { PLUGIN_CLIENT_CERT: "forged" } }).PLUGIN_CLIENT_CERT, undefined);
});

test("without PATH in the daemon's environment a plugin still gets a usable one", () => {
  assert.equal(pluginEnvironment({ ...base, daemonEnv: {} }).PATH, "/usr/local/bin:/usr/bin:/bin");
});
