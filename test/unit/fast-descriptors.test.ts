// The client bundle builds its protobuf descriptors from protos written out at build time
// (scripts/fast-descriptors.ts) instead of decoding them at start-up. They must be the very
// same descriptors: same proto, same wire bytes, same fields, kinds, defaults and methods.
import { test } from "node:test";
import assert from "node:assert/strict";
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { file_google_protobuf_duration, file_google_protobuf_timestamp, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { writeProto } from "../../scripts/fast-descriptors.js";
import { fileDescFromProto } from "../../src/shared/fast-desc.js";
import { file_greeter_v1_greeter } from "../../src/shared/gen/greeter/v1/greeter_pb.js";
import { file_grpc_health_v1_health } from "../../src/shared/gen/grpc/health/v1/health_pb.js";
import { file_plugin_grpc_broker } from "../../src/shared/gen/plugin/grpc_broker_pb.js";
import { file_plugprom_v1_control } from "../../src/shared/gen/plugprom/v1/control_pb.js";

function rebuild(file: DescFile): DescFile {
  const deps = file.dependencies;
  const make = new Function("fileDescFromProto", "deps", `return fileDescFromProto(${writeProto(file)}, deps);`) as (f: typeof fileDescFromProto, d: DescFile[]) => DescFile;
  return make(fileDescFromProto, deps);
}

/**
 * Walks two descriptor graphs side by side: same shape, same values, same prototypes' own
 * values, functions present in both. Each pair of objects is compared once (the graphs have
 * cycles); objects from outside the file (dependencies) are compared by type name.
 */
function assertSameGraph(a: unknown, b: unknown, path: string, seen = new Map<object, object>()): void {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    if (typeof a === "function") return assert.equal(typeof b, "function", path);
    return assert.deepEqual(a, b, path);
  }
  if (seen.get(a) === b) return;
  seen.set(a, b);
  if (a instanceof Uint8Array) return assert.deepEqual(a, b, path);
  assert.equal(Array.isArray(a), Array.isArray(b), path);
  const keys = (o: object) => Object.keys(o).sort();
  assert.deepEqual(keys(a), keys(b), path);
  const pa = Object.getPrototypeOf(a) as object | null;
  const pb = Object.getPrototypeOf(b) as object | null;
  if (pa && pa !== Object.prototype && pa !== Array.prototype) assertSameGraph({ ...pa }, { ...pb }, `${path}.<prototype>`, seen);
  for (const k of keys(a)) assertSameGraph((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, seen);
}

const files: DescFile[] = [
  file_plugprom_v1_control,
  file_google_protobuf_duration,
  file_google_protobuf_timestamp,
  file_greeter_v1_greeter,
  file_grpc_health_v1_health,
  file_plugin_grpc_broker,
];

for (const original of files) {
  test(`${original.proto.name}: the written-out proto gives the same descriptor`, () => {
    const fast = rebuild(original);
    assert.deepEqual(toBinary(FileDescriptorProtoSchema, fast.proto), toBinary(FileDescriptorProtoSchema, original.proto));
    assertSameGraph(fast, original, original.proto.name);
  });
}
