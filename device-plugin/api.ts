// The kubelet's device-plugin API, v1beta1, from its own .proto (module
// k8s.io/kubelet, pkg/apis/deviceplugin/v1beta1/api.proto), which
// tools/fetch-kubelet-protos.sh fetches into build/proto.  Loaded with the
// field names as the .proto writes them (keepCase: `ID`, `resource_name`,
// `devices_ids`), so that these types read like the upstream API.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { protoDirs } from '../src/proto/load.js';

/** the API version this plugin speaks (RegisterRequest.version) */
export const API_VERSION = 'v1beta1';
/** where the kubelet looks for device plugins' sockets, and serves its own */
export const DEVICE_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';
export const KUBELET_SOCKET = 'kubelet.sock';
export const HEALTHY = 'Healthy';
export const UNHEALTHY = 'Unhealthy';
export const API_PROTO = 'k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1/api.proto';

export interface DevicePluginOptions {
  pre_start_required: boolean;
  get_preferred_allocation_available: boolean;
}

export interface RegisterRequest {
  version: string;
  /** the plugin's socket, a file name in the kubelet's device-plugin folder */
  endpoint: string;
  resource_name: string;
  options: DevicePluginOptions | null;
}

export interface Device {
  ID: string;
  health: string;
}

export interface ContainerAllocateResponse {
  envs: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ContainerPreferredAllocationRequest {
  available_deviceIDs: string[];
  must_include_deviceIDs: string[];
  allocation_size: number;
}

export interface DeviceApi {
  Registration: grpc.ServiceClientConstructor;
  DevicePlugin: grpc.ServiceClientConstructor;
}

let cached: DeviceApi | null = null;

/** The .proto's path: the first of protoDirs() (XEN_CRI_PROTO_DIR, build/proto, proto/) that holds it. */
export function apiProtoPath(): string {
  for (const d of protoDirs()) {
    const p = path.join(d, API_PROTO);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${API_PROTO} not found in ${protoDirs().join(', ')} (run npm run build, which fetches it: tools/fetch-kubelet-protos.sh)`);
}

export function deviceApi(): DeviceApi {
  if (cached) return cached;
  const def = loader.loadSync(apiProtoPath(), { keepCase: true, longs: Number, enums: String, defaults: true });
  const pkg = (grpc.loadPackageDefinition(def) as any).v1beta1;
  cached = { Registration: pkg.Registration, DevicePlugin: pkg.DevicePlugin };
  return cached;
}
