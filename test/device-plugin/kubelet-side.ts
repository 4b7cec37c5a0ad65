// The kubelet's side of the device-plugin API for tests: a Registration
// server on DIR/kubelet.sock and a DevicePlugin client on the plugin's
// endpoint, both from the real .proto (k8s.io/kubelet v1beta1, fetched into
// build/proto by tools/fetch-kubelet-protos.sh), loaded here on their own
// rather than through the plugin's loader.  And the plugin itself, run as
// its built command (dist/device-plugin/main.js).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { repoPath } from '../../devkit/repo-root.js';

export const API_PROTO = repoPath('build', 'proto', 'k8s.io', 'kubelet', 'pkg', 'apis', 'deviceplugin', 'v1beta1', 'api.proto');
export const PLUGIN_MAIN = repoPath('dist', 'device-plugin', 'main.js');

function api(): any {
  const def = loader.loadSync(API_PROTO, { keepCase: true, longs: Number, enums: String, defaults: true });
  return (grpc.loadPackageDefinition(def) as any).v1beta1;
}

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A kubelet's Registration service: records each RegisterRequest. */
export class FakeKubelet {
  readonly registers: any[] = [];
  #server: grpc.Server | null = null;

  constructor(readonly dir: string) {}

  get socket(): string {
    return path.join(this.dir, 'kubelet.sock');
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    server.addService(api().Registration.service, {
      Register: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        this.registers.push(call.request);
        cb(null, {});
      },
    });
    fs.rmSync(this.socket, { force: true });
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${this.socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    this.#server = server;
  }

  /** What a kubelet restart does: stop, empty the folder, listen on a new kubelet.sock. */
  async restart(): Promise<void> {
    await this.stop();
    for (const f of fs.readdirSync(this.dir)) fs.rmSync(path.join(this.dir, f), { force: true, recursive: true });
    await this.start();
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s) s.forceShutdown();
    fs.rmSync(this.socket, { force: true });
  }

  /** A client of the plugin's DevicePlugin service at DIR/endpoint, as the kubelet dials it. */
  pluginClient(endpoint: string): PluginClient {
    return new PluginClient(path.join(this.dir, endpoint));
  }
}

export class PluginClient {
  readonly #c: grpc.Client & Record<string, any>;
  /** every ListAndWatchResponse of the open stream */
  readonly lists: any[] = [];
  #stream: grpc.ClientReadableStream<any> | null = null;
  ended = false;

  constructor(readonly socket: string) {
    this.#c = new (api().DevicePlugin)(`unix:${socket}`, grpc.credentials.createInsecure());
  }

  call<T = any>(method: string, req: object): Promise<T> {
    return new Promise((resolve, reject) =>
      this.#c[method](req, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, rsp: T) => (err ? reject(err) : resolve(rsp))),
    );
  }

  watch(): void {
    const s = this.#c.ListAndWatch({});
    s.on('data', (m: any) => this.lists.push(m));
    s.on('end', () => (this.ended = true));
    s.on('error', () => (this.ended = true));
    this.#stream = s;
  }

  close(): void {
    this.#stream?.cancel();
    this.#c.close();
  }
}

/** The built plugin, run as its command; its JSON log lines in LOG. */
export class PluginProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(readonly args: string[], readonly log: string) {
    const out = fs.openSync(log, 'a');
    this.child = spawn(process.execPath, [PLUGIN_MAIN, ...args], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  logText(): string {
    return fs.existsSync(this.log) ? fs.readFileSync(this.log, 'utf8') : '';
  }

  /** SIGTERM; the exit code (null: it had to be killed). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}
