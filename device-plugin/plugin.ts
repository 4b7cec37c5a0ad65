// vgpu-device-plugin: serves the kubelet's DevicePlugin service (api.ts) on a
// socket of its own in the kubelet's device-plugin folder and registers it
// with the kubelet (Registration.Register on kubelet.sock).  A kubelet that
// starts empties that folder and listens anew, so a new kubelet.sock (another
// inode), or this plugin's socket gone, means: serve again, register again.
// The folder is watched (inotify) and looked at every interval besides.
//
// Health: the units are Healthy while vgpu-proxy's control API answers (the
// shim needs it to start a GPU container), Unhealthy otherwise; ListAndWatch
// sends the new list on every change.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ControlClient } from '../src/proxy-control-client.js';
import { ANN_VGPU_MEMORY } from '../src/gpu-annotations.js';
import { API_VERSION, HEALTHY, KUBELET_SOCKET, UNHEALTHY, deviceApi, type ContainerPreferredAllocationRequest, type Device, type DevicePluginOptions } from './api.js';
import type { PluginConfig } from './config.js';
import { allocationAnnotations, deviceIds, isDeviceId, preferredAllocation } from './devices.js';

type State = 'new' | 'running' | 'stopping' | 'stopped';

const OPTIONS: DevicePluginOptions = { pre_start_required: false, get_preferred_allocation_available: true };
const REGISTER_TIMEOUT_MS = 5000;

function inode(p: string): number | null {
  try {
    const st = fs.statSync(p);
    return st.isSocket() ? st.ino : null;
  } catch {
    return null;
  }
}

class RpcError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

export class VgpuDevicePlugin {
  #state: State = 'new';
  readonly #ids: string[];
  #healthy: boolean;
  #server: grpc.Server | null = null;
  /** the inode of the socket this plugin serves, and of the kubelet.sock it registered with */
  #servedIno: number | null = null;
  #registeredIno: number | null = null;
  readonly #streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  #watcher: fs.FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** one reconcile at a time; a kick during one runs another after it */
  #reconciling: Promise<void> | null = null;
  #again = false;
  #checkingHealth = false;
  /** said once that kubelet.sock is missing */
  #waiting = false;
  /** how many times the kubelet accepted Register (a restarted kubelet makes it 2, ...) */
  registrations = 0;

  constructor(readonly config: PluginConfig, readonly log: Logger) {
    this.#ids = deviceIds(config);
    this.#healthy = config.controlSocket === '';
  }

  get socketPath(): string {
    return path.join(this.config.socketDir, this.config.endpoint);
  }

  get kubeletSocket(): string {
    return path.join(this.config.socketDir, KUBELET_SOCKET);
  }

  devices(): Device[] {
    const health = this.#healthy ? HEALTHY : UNHEALTHY;
    return this.#ids.map((ID) => ({ ID, health }));
  }

  #require(what: string, ...states: State[]): void {
    if (!states.includes(this.#state)) throw new Error(`device plugin: cannot ${what} in state ${this.#state} (only in ${states.join(', ')})`);
  }

  /** Serves the plugin's socket, then registers with the kubelet (now, or once its kubelet.sock appears). */
  async start(): Promise<void> {
    this.#require('start', 'new');
    fs.mkdirSync(this.config.socketDir, { recursive: true });
    await this.#checkHealth();
    await this.#serve();
    this.#state = 'running';
    this.log.info({ resource: this.config.resourceName, units: this.#ids.length, unit_mib: this.config.unitMiB, total_mib: this.config.totalMiB, reserve_mib: this.config.reserveMiB, socket: this.socketPath, healthy: this.#healthy }, 'device plugin serving');
    this.#watcher = fs.watch(this.config.socketDir, (_event, name) => {
      if (name === KUBELET_SOCKET || name === this.config.endpoint) this.#kick();
    });
    this.#watcher.on('error', (err) => this.log.warn({ err: err.message, dir: this.config.socketDir }, 'cannot watch the device-plugin folder: looking every interval only'));
    this.#timer = setInterval(() => {
      this.#kick();
      void this.#checkHealth();
    }, this.config.intervalMs);
    await this.#reconcile();
  }

  /** Ends ListAndWatch streams, stops serving and removes the plugin's socket. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#require('stop', 'new', 'running');
    this.#state = 'stopping';
    if (this.#timer) clearInterval(this.#timer);
    this.#watcher?.close();
    await this.#reconciling?.catch(() => undefined);
    await this.#closeServer();
    this.#state = 'stopped';
    this.log.info({ socket: this.socketPath }, 'device plugin stopped');
  }

  #kick(): void {
    if (this.#state !== 'running') return;
    this.#reconcile().catch((err) => this.log.error({ err: (err as Error).message }, 'device plugin: serving or registering failed; trying again'));
  }

  #reconcile(): Promise<void> {
    if (this.#reconciling) {
      this.#again = true;
      return this.#reconciling;
    }
    this.#reconciling = (async () => {
      try {
        do {
          this.#again = false;
          await this.#reconcileOnce();
        } while (this.#again && this.#state === 'running');
      } finally {
        this.#reconciling = null;
      }
    })();
    return this.#reconciling;
  }

  async #reconcileOnce(): Promise<void> {
    const own = inode(this.socketPath);
    if (own === null || own !== this.#servedIno) {
      this.log.warn({ socket: this.socketPath }, "the plugin's socket is gone (a kubelet that starts empties its folder): serving again");
      await this.#closeServer();
      await this.#serve();
      this.#registeredIno = null;
    }
    const kubelet = inode(this.kubeletSocket);
    if (kubelet === null) {
      if (!this.#waiting) this.log.warn({ socket: this.kubeletSocket }, 'no kubelet socket: waiting for the kubelet');
      this.#waiting = true;
      this.#registeredIno = null;
      return;
    }
    this.#waiting = false;
    if (kubelet === this.#registeredIno) return;
    try {
      await this.#register();
    } catch (err) {
      this.log.warn({ err: (err as Error).message, socket: this.kubeletSocket }, 'Register refused or unanswered: trying again');
      return;
    }
    this.#registeredIno = kubelet;
    this.registrations++;
  }

  async #register(): Promise<void> {
    const { Registration } = deviceApi();
    const client = new Registration(`unix:${this.kubeletSocket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    const req = { version: API_VERSION, endpoint: this.config.endpoint, resource_name: this.config.resourceName, options: OPTIONS };
    try {
      await new Promise<void>((resolve, reject) =>
        client.Register(req, { deadline: Date.now() + REGISTER_TIMEOUT_MS }, (err: grpc.ServiceError | null) => (err ? reject(new Error(`Register: ${err.details || err.message}`)) : resolve())),
      );
    } finally {
      client.close();
    }
    this.log.info({ kubelet: this.kubeletSocket, resource: this.config.resourceName, endpoint: this.config.endpoint, version: API_VERSION }, 'registered with the kubelet');
  }

  async #serve(): Promise<void> {
    const server = new grpc.Server();
    server.addService(deviceApi().DevicePlugin.service, this.#handlers());
    fs.rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${this.socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(new Error(`serve on ${this.socketPath}: ${err.message}`)) : resolve())),
    );
    this.#server = server;
    this.#servedIno = inode(this.socketPath);
  }

  async #closeServer(): Promise<void> {
    for (const s of this.#streams) s.end();
    this.#streams.clear();
    const server = this.#server;
    this.#server = null;
    if (server) {
      await Promise.race([new Promise<void>((resolve) => server.tryShutdown(() => resolve())), new Promise((r) => setTimeout(r, 2000))]);
      server.forceShutdown();
    }
    // Only our own socket: a new plugin (or kubelet) may have put another there.
    if (this.#servedIno !== null && inode(this.socketPath) === this.#servedIno) fs.rmSync(this.socketPath, { force: true });
    this.#servedIno = null;
  }

  /** Healthy while vgpu-proxy's control API answers; a change goes to every ListAndWatch stream. */
  async #checkHealth(): Promise<void> {
    if (!this.config.controlSocket || this.#checkingHealth) return;
    this.#checkingHealth = true;
    let healthy: boolean;
    let why = '';
    const client = new ControlClient(this.config.controlSocket);
    try {
      await client.listPods();
      healthy = true;
    } catch (err) {
      healthy = false;
      why = (err as Error).message;
    } finally {
      client.close();
      this.#checkingHealth = false;
    }
    if (healthy === this.#healthy) return;
    this.#healthy = healthy;
    if (healthy) this.log.info({ control: this.config.controlSocket }, 'vgpu-proxy answers: units Healthy');
    else this.log.warn({ control: this.config.controlSocket, err: why }, 'vgpu-proxy does not answer: units Unhealthy');
    const devices = this.devices();
    for (const s of this.#streams) s.write({ devices });
  }

  #allocate(req: { container_requests: { devices_ids: string[] }[] }): object {
    const container_responses = req.container_requests.map((c, i) => {
      const ids = c.devices_ids;
      const bad = ids.filter((id) => !isDeviceId(this.config, id));
      if (bad.length) throw new RpcError(grpc.status.INVALID_ARGUMENT, `container request ${i}: ${bad.slice(0, 3).join(', ')} ${bad.length === 1 ? 'is not a unit' : 'are not units'} of ${this.config.resourceName} on GPU ${this.config.gpu}`);
      if (new Set(ids).size !== ids.length) throw new RpcError(grpc.status.INVALID_ARGUMENT, `container request ${i}: a unit is named twice`);
      if (ids.length === 0) throw new RpcError(grpc.status.INVALID_ARGUMENT, `container request ${i}: no units`);
      return { envs: {}, annotations: allocationAnnotations(ids.length, this.config.unitMiB) };
    });
    this.log.info({ containers: container_responses.map((r, i) => ({ units: req.container_requests[i]!.devices_ids.length, memory: r.annotations[ANN_VGPU_MEMORY] })) }, 'Allocate');
    return { container_responses };
  }

  #handlers(): grpc.UntypedServiceImplementation {
    const unary =
      (name: string, fn: (req: any) => object): grpc.handleUnaryCall<any, any> =>
      (call, cb) => {
        try {
          cb(null, fn(call.request));
        } catch (err) {
          const code = err instanceof RpcError ? err.code : grpc.status.INTERNAL;
          this.log.warn({ method: name, err: (err as Error).message }, 'call refused');
          cb({ code, details: (err as Error).message });
        }
      };
    return {
      GetDevicePluginOptions: unary('GetDevicePluginOptions', () => OPTIONS),
      ListAndWatch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        this.#streams.add(call);
        const gone = () => this.#streams.delete(call);
        call.on('cancelled', gone);
        call.on('close', gone);
        call.on('error', gone);
        call.write({ devices: this.devices() });
        this.log.info({ units: this.#ids.length, healthy: this.#healthy }, 'ListAndWatch: the kubelet is watching');
      },
      GetPreferredAllocation: unary('GetPreferredAllocation', (req: { container_requests: ContainerPreferredAllocationRequest[] }) => ({
        container_responses: req.container_requests.map((c) => ({ deviceIDs: preferredAllocation(c.available_deviceIDs, c.must_include_deviceIDs, c.allocation_size) })),
      })),
      Allocate: unary('Allocate', (req) => this.#allocate(req)),
      PreStartContainer: unary('PreStartContainer', () => ({})),
    };
  }
}
