import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bearerMatches, readTokenFile } from "../../src/shared/token.js";

test("only the exact bearer token matches, whatever the case of the scheme name", () => {
  for (const h of ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR s3cret", "Bearer  s3cret"]) assert.ok(bearerMatches(h, "s3cret"), h);
  for (const h of [undefined, null, "", "Bearer", "Bearer ", "bearer", "Bearers3cret", "Basic s3cret", "Bearer s3cret ", "Bearer s3cre", "Bearer s3crett", "Bearer S3CRET", "Bearer\ts3cret", "xBearer s3cret"]) {
    assert.equal(bearerMatches(h, "s3cret"), false, String(h));
  }
});

test("a token file gives its first line, trimmed; an empty one is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "pp-token-"));
  writeFileSync(join(dir, "ok"), "  abc.DEF-123  \nignored\n");
  assert.equal(readTokenFile(join(dir, "ok"), "--control-token-file"), "abc.DEF-123");
  writeFileSync(join(dir, "empty"), "\n");
  assert.throws(() => readTokenFile(join(dir, "empty"), "--control-token-file"), /--control-token-file .*empty/);
  assert.throws(() => readTokenFile(join(dir, "missing"), "--scrape-token-file"), /cannot read it \(ENOENT\)/);
});
