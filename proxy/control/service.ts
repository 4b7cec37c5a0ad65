// vgpu-proxy's control API (proto/vgpu_control.proto), gRPC over a unix
// socket: the runtime shim registers GPU pods here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { ControlError, PodRegistry } from './registry.js';
import type { StatusAnswer } from './status.js';

const CODES: Record<ControlError['code'], grpc.status> = {
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  already_exists: grpc.status.ALREADY_EXISTS,
  not_found: grpc.status.NOT_FOUND,
  internal: grpc.status.INTERNAL,
};

/** proto/vgpu_control.proto of the checkout or installed tree. */
export function controlProto(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = path.join(dir, 'proto', 'vgpu_control.proto');
    if (fs.existsSync(p)) return p;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('proto/vgpu_control.proto not found above the proxy');
    dir = up;
  }
}

type Handler = (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => void;

function unary(log: Logger, name: string, fn: (req: any) => Promise<object> | object): Handler {
  return (call, cb) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then((rsp) => cb(null, rsp))
      .catch((err: Error) => {
        const code = err instanceof ControlError ? CODES[err.code] : grpc.status.INTERNAL;
        log.warn({ method: name, err: err.message }, 'control call refused');
        cb({ code, details: err.message });
      });
  };
}

export class ControlService {
  readonly #server = new grpc.Server();

  /** status: GetStatus's answer (proxy/control/status.ts); without it GetStatus answers UNIMPLEMENTED */
  constructor(readonly registry: PodRegistry, readonly log: Logger, status: (() => StatusAnswer) | null = null) {
    const def = loader.loadSync(controlProto(), { longs: Number, defaults: true });
    const svc = (grpc.loadPackageDefinition(def) as any).vgpu.control.v1.Control.service as grpc.ServiceDefinition;
    this.#server.addService(svc, {
      RegisterPod: unary(log, 'RegisterPod', (r) => {
        const e = registry.register(r.podId, Number(r.memQuotaBytes), { namespace: r.namespace ?? '', name: r.name ?? '', uid: r.uid ?? '' });
        return { socketDir: e.socketDir, socketPath: e.socketPath };
      }),
      UnregisterPod: unary(log, 'UnregisterPod', async (r) => ({ wasRegistered: await registry.unregister(r.podId) })),
      ListPods: unary(log, 'ListPods', () => ({ pods: registry.list() })),
      SetPodQuota: unary(log, 'SetPodQuota', (r) => ({ previousMemQuotaBytes: registry.setQuota(r.podId, Number(r.memQuotaBytes)) })),
      GetStatus: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<StatusAnswer>) => {
        if (!status) {
          cb({ code: grpc.status.UNIMPLEMENTED, details: 'this proxy answers no status' });
          return;
        }
        try {
          cb(null, status());
        } catch (err) {
          log.error({ method: 'GetStatus', err: (err as Error).message }, 'control call failed');
          cb({ code: grpc.status.INTERNAL, details: (err as Error).message });
        }
      },
    });
  }

  /** Serves on a unix socket (mode 0600: root's runtime only). */
  async listen(socket: string): Promise<void> {
    fs.mkdirSync(path.dirname(socket), { recursive: true });
    fs.rmSync(socket, { force: true });
    await new Promise<void>((resolve, reject) =>
      this.#server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    fs.chmodSync(socket, 0o600);
    this.log.info({ socket }, 'control API ready');
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    this.#server.forceShutdown();
  }
}
