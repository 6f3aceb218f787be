// Runtime half of scripts/fast-descriptors.ts: builds a file descriptor from a
// FileDescriptorProto written out at build time, where protoc-gen-es's fileDesc() decodes
// one from base64 with the reflective descriptor of descriptor.proto itself, which costs
// ~10 ms to build at start-up before any of it is used. Only the client bundle uses this.
import { createFileRegistry, type DescFile } from "@bufbuild/protobuf";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/** Makes one message of the written-out proto: its own fields over its type's defaults. */
export type MakeMessage = (typeName: string, own: object) => object;

export function fileDescFromProto(build: (m: MakeMessage) => object, defaults: Record<string, object>, deps?: DescFile[]): DescFile {
  const protos = new Map<string, object>();
  const m: MakeMessage = (typeName, own) => {
    let proto = protos.get(typeName);
    if (!proto) protos.set(typeName, (proto = Object.assign({}, defaults[typeName])));
    return Object.assign(Object.create(proto) as object, own);
  };
  const root = build(m) as FileDescriptorProto;
  const file = createFileRegistry(root, (name) => deps?.find((f) => f.proto.name === name)).getFile(root.name);
  if (!file) throw new Error(`internal: no descriptor for ${root.name}`);
  return file;
}
