import { test } from "node:test";
import assert from "node:assert/strict";
import { formatHandshake, HandshakeError, parseHandshake } from "../../src/goplugin/handshake.js";

test("a grpc handshake over a unix socket parses", () => {
  const h = parseHandshake("1|1|unix|/tmp/plugin123|grpc\n", [1]);
  assert.deepEqual(h, { coreVersion: 1, appVersion: 1, network: "unix", address: "/tmp/plugin123", protocol: "grpc", mux: false });
});

test("the negotiated app version must be one the host offered", () => {
  assert.equal(parseHandshake("1|3|tcp|127.0.0.1:1234|grpc", [2, 3]).appVersion, 3);
  assert.throws(() => parseHandshake("1|4|tcp|127.0.0.1:1234|grpc", [2, 3]), (e: unknown) => e instanceof HandshakeError && e.reason === "app-version");
});

test("a missing protocol field means net/rpc, as in go-plugin", () => {
  assert.equal(parseHandshake("1|1|tcp|127.0.0.1:1234", [1]).protocol, "netrpc");
});

const bad: Array<[string, string, HandshakeError["reason"]]> = [
  ["plain log output", "hello world", "malformed"],
  ["core version 2", "2|1|unix|/tmp/x|grpc", "core-version"],
  ["non-numeric app version", "1|x|unix|/tmp/x|grpc", "app-version"],
  ["unknown network", "1|1|udp|/tmp/x|grpc", "network"],
  ["relative unix path", "1|1|unix|tmp/x|grpc", "network"],
  ["unknown protocol", "1|1|unix|/tmp/x|http", "protocol"],
  ["certificate that is not base64", `1|1|unix|/tmp/x|grpc|${"!".repeat(60)}`, "cert"],
];
for (const [what, line, reason] of bad) {
  test(`a handshake with ${what} is rejected as ${reason}`, () => {
    assert.throws(() => parseHandshake(line, [1]), (e: unknown) => e instanceof HandshakeError && e.reason === reason);
  });
}

test("formatHandshake round-trips through parseHandshake, certificate included", () => {
  const serverCert = Buffer.from("a".repeat(100));
  const line = formatHandshake({ appVersion: 2, network: "tcp", address: "127.0.0.1:40000", protocol: "grpc", serverCert });
  assert.ok(!line.includes("="), "go-plugin uses unpadded base64");
  assert.deepEqual(parseHandshake(line, [2]).serverCert, serverCert);
});
