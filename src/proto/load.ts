// The protobuf messages the shim speaks, loaded at run time from
// containerd's own .proto files (fetched into build/proto by
// tools/fetch-containerd-protos.sh) and from the project's proto/ folder.
import * as path from 'node:path';
import * as fs from 'node:fs';
import protobuf from 'protobufjs';
import { repoRoot } from '../paths.js';

const API = 'github.com/containerd/containerd/api';
const FILES = [
  `${API}/runtime/task/v2/shim.proto`,
  `${API}/events/task.proto`,
  `${API}/services/ttrpc/events/v1/events.proto`,
  `${API}/types/runtimeoptions/v1/api.proto`,
  `${API}/types/runc/options/oci.proto`,
  'github.com/containerd/cgroups/v3/cgroup1/stats/metrics.proto',
  'ttrpc.proto',
];

let cached: protobuf.Root | null = null;

/** Folders searched for imports: XEN_CRI_PROTO_DIR (installed nodes), then build/proto and proto/ of the checkout. */
export function protoDirs(): string[] {
  const dirs = [path.join(repoRoot(), 'build', 'proto'), path.join(repoRoot(), 'proto')];
  if (process.env.XEN_CRI_PROTO_DIR) dirs.unshift(process.env.XEN_CRI_PROTO_DIR);
  return dirs;
}

export function protoRoot(): protobuf.Root {
  if (cached) return cached;
  const dirs = protoDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target) && fs.existsSync(target)) return target;
    for (const d of dirs) {
      const p = path.join(d, target);
      if (fs.existsSync(p)) return p;
    }
    // protobufjs knows google/protobuf/{any,empty,timestamp,...} itself.
    return target;
  };
  try {
    root.loadSync(FILES, { keepCase: false });
    root.resolveAll();
  } catch (err) {
    throw new Error(`load containerd .proto files from ${dirs.join(', ')}: ${(err as Error).message} (run npm run build, which fetches them)`);
  }
  cached = root;
  return root;
}

export function messageType(name: string): protobuf.Type {
  return protoRoot().lookupType(name);
}

/** Encodes a plain object as message `name`. */
export function encode(name: string, value: object): Buffer {
  const t = messageType(name);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
}

/** Decodes bytes as message `name` into a plain object (longs as numbers, defaults filled). */
export function decode<T = Record<string, unknown>>(name: string, bytes: Uint8Array): T {
  const t = messageType(name);
  return t.toObject(t.decode(bytes), { longs: Number, defaults: true, bytes: Buffer }) as T;
}

export interface Any {
  typeUrl: string;
  value: Buffer;
}

// protobufjs keeps google.protobuf.Any's field names as written (type_url):
// these two convert at that one place.
export function anyOf(typeUrl: string, value: Buffer): object {
  return { type_url: typeUrl, value };
}

export function readAny(o: unknown): Any | null {
  if (!o || typeof o !== 'object') return null;
  const r = o as { type_url?: string; typeUrl?: string; value?: Uint8Array };
  return { typeUrl: r.type_url ?? r.typeUrl ?? '', value: Buffer.from(r.value ?? []) };
}

export function timestamp(d: Date): { seconds: number; nanos: number } {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
