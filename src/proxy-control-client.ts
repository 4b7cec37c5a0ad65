// A client of vgpu-proxy's control API (proto/vgpu_control.proto).
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { repoRoot } from './paths.js';

export interface PodRegistration {
  socketDir: string;
  socketPath: string;
}

/** The pod as Kubernetes names it (RegisterPod's optional fields): printable ASCII, at most 253 bytes each; '' when unknown. */
export interface PodNames {
  namespace: string;
  name: string;
  uid: string;
}

export interface PodInfo extends PodNames {
  podId: string;
  memQuotaBytes: number;
  socketPath: string;
  guests: number;
}

let ctor: grpc.ServiceClientConstructor | null = null;

export function controlProtoPath(): string {
  return path.join(process.env.XEN_CRI_PROTO_DIR ?? path.join(repoRoot(), 'proto'), 'vgpu_control.proto');
}

function clientCtor(): grpc.ServiceClientConstructor {
  if (ctor) return ctor;
  const def = loader.loadSync(controlProtoPath(), { longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  ctor = pkg.vgpu.control.v1.Control as grpc.ServiceClientConstructor;
  return ctor;
}

export class ControlClient {
  readonly #client: grpc.Client & Record<string, any>;

  constructor(readonly socket: string) {
    const C = clientCtor();
    this.#client = new C(`unix:${socket}`, grpc.credentials.createInsecure()) as any;
  }

  #call<T>(method: string, req: object, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#client[method](req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, rsp: T) => {
        if (err) reject(new Error(`vgpu-proxy control ${this.socket}: ${method}: ${err.details || err.message}`));
        else resolve(rsp);
      });
    });
  }

  /** names: the pod's Kubernetes names, for the proxy's metrics labels and status (a name left out is sent as ''). */
  registerPod(podId: string, memQuotaBytes: number, names: Partial<PodNames> = {}): Promise<PodRegistration> {
    return this.#call('RegisterPod', { podId, memQuotaBytes, namespace: names.namespace ?? '', name: names.name ?? '', uid: names.uid ?? '' });
  }

  /** Changes a registered pod's quota (for guests that connect from then on); returns the previous one. */
  async setPodQuota(podId: string, memQuotaBytes: number): Promise<number> {
    const r = await this.#call<{ previousMemQuotaBytes: number }>('SetPodQuota', { podId, memQuotaBytes });
    return r.previousMemQuotaBytes;
  }

  async unregisterPod(podId: string): Promise<boolean> {
    const r = await this.#call<{ wasRegistered: boolean }>('UnregisterPod', { podId });
    return r.wasRegistered;
  }

  async listPods(): Promise<PodInfo[]> {
    const r = await this.#call<{ pods: PodInfo[] }>('ListPods', {});
    return r.pods;
  }

  close(): void {
    this.#client.close();
  }
}
