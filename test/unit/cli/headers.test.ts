import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { installLiteHeaders, LiteHeaders } from "../../../src/cli/headers.js";

// LiteHeaders stands in for Node's Headers in CLI processes, so it must behave the same for
// any sequence of operations: compared here against Node's own on random ones.

const name = fc.constantFrom("Content-Type", "content-type", "grpc-timeout", "Authorization", "set-cookie", "Set-Cookie", "x-a", "X-B", "bad name", "", "ü");
const value = fc.oneof(fc.constantFrom("application/grpc", " padded\t", "a, b", "", "x\r\ny", "nul\0", "v1", "v2", "é", "€"), fc.string({ maxLength: 5, unit: "binary" }));
const op = fc.oneof(
  fc.tuple(fc.constant("append"), name, value),
  fc.tuple(fc.constant("set"), name, value),
  fc.tuple(fc.constant("delete"), name, fc.constant("")),
);
const init = fc.oneof(
  fc.constant(undefined),
  fc.array(fc.tuple(name, value), { maxLength: 4 }),
  fc.dictionary(name, value, { maxKeys: 4 }),
);

type AnyHeaders = {
  append(n: string, v: string): void;
  set(n: string, v: string): void;
  delete(n: string): void;
  get(n: string): string | null;
  has(n: string): boolean;
  getSetCookie(): string[];
  entries(): IterableIterator<[string, string]>;
};

function outcome(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (err) {
    return { threw: (err as Error).constructor.name };
  }
}

function observe(h: AnyHeaders): unknown {
  const names = ["content-type", "Set-Cookie", "x-a", "X-B", "grpc-timeout", "authorization"];
  return {
    entries: [...h.entries()],
    get: names.map((n) => h.get(n)),
    has: names.map((n) => h.has(n)),
    cookies: h.getSetCookie(),
  };
}

test("LiteHeaders behaves like Node's Headers for any init and operations", () => {
  fc.assert(
    fc.property(init, fc.array(op, { maxLength: 8 }), (i, ops) => {
      const made = [() => new Headers(i as HeadersInit), () => new LiteHeaders(i)].map(outcome) as Array<{ ok?: AnyHeaders; threw?: string }>;
      assert.deepEqual(made[0].threw, made[1].threw);
      if (!made[0].ok) return;
      const [real, lite] = [made[0].ok, made[1].ok!];
      for (const [kind, n, v] of ops) {
        const run = (h: AnyHeaders) => outcome(() => (kind === "delete" ? h.delete(n) : h[kind as "append" | "set"](n, v)));
        assert.deepEqual(run(lite), run(real), `${kind}(${JSON.stringify(n)}, ${JSON.stringify(v)})`);
      }
      assert.deepEqual(observe(lite), observe(real));
    }),
    { numRuns: 500 },
  );
});

test("LiteHeaders copies another Headers, and forEach/keys/values follow the sorted order", () => {
  const real = new Headers([["B", "2"], ["a", "1"], ["b", "3"]]);
  const lite = new LiteHeaders(real);
  assert.deepEqual([...lite], [...real]);
  assert.deepEqual([...lite.keys()], ["a", "b"]);
  assert.deepEqual([...lite.values()], ["1", "2, 3"]);
  const seen: string[] = [];
  lite.forEach((v, k) => seen.push(`${k}=${v}`));
  assert.deepEqual(seen, ["a=1", "b=2, 3"]);
  assert.equal(Object.prototype.toString.call(lite), "[object Headers]");
});

test("installLiteHeaders leaves a global Headers that is already in use alone", () => {
  // This test process has used Node's Headers above, so the global is no longer lazy.
  const before = globalThis.Headers;
  installLiteHeaders();
  assert.equal(globalThis.Headers, before);
});
