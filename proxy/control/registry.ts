// The pods registered with vgpu-proxy: each has a socket of its own
// (POD_SOCKET_DIR/POD/proxy.sock) whose guests are served with the pod's
// device-memory quota.  Registering is idempotent for the same quota;
// setQuota changes it for the guests that connect from then on;
// unregistering closes the socket and disconnects the pod's guests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Listener, ProxyServer } from '../server.js';
import type { PodMeta } from '../metrics/guest-directory.js';

export const POD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export class ControlError extends Error {
  constructor(readonly code: 'invalid_argument' | 'already_exists' | 'not_found' | 'internal', message: string) {
    super(message);
  }
}

/** Kubernetes' names of a pod (RegisterPod's optional fields): printable ASCII, at most 253 bytes each. */
const META_TEXT = /^[\x20-\x7e]{0,253}$/;

export interface PodEntry {
  podId: string;
  memQuotaBytes: number;
  meta: PodMeta;
  socketDir: string;
  socketPath: string;
  listener: Listener;
}

export class PodRegistry {
  readonly #pods = new Map<string, PodEntry>();

  constructor(readonly server: ProxyServer, readonly socketDir: string, readonly log: Logger) {}

  /**
   * meta: the pod's namespace, name and uid when the shim sends them (empty
   * strings otherwise); registering again with the same quota may fill or
   * change them.
   */
  register(podId: string, memQuotaBytes: number, meta: PodMeta = { namespace: '', name: '', uid: '' }): PodEntry {
    if (!POD_ID.test(podId)) throw new ControlError('invalid_argument', `pod id "${podId}" is not [A-Za-z0-9][A-Za-z0-9_.-]{0,127}`);
    if (!Number.isSafeInteger(memQuotaBytes) || memQuotaBytes < 0) throw new ControlError('invalid_argument', `pod ${podId}: quota ${memQuotaBytes} is not a byte count`);
    for (const [field, value] of Object.entries(meta)) {
      if (!META_TEXT.test(value)) throw new ControlError('invalid_argument', `pod ${podId}: ${field} is not printable ASCII of at most 253 bytes`);
    }
    const have = this.#pods.get(podId);
    if (have) {
      if (have.memQuotaBytes === memQuotaBytes) {
        if (meta.namespace || meta.name || meta.uid) {
          have.meta = { ...meta };
          this.server.directory.podRegistered(podId, have.meta, memQuotaBytes);
        }
        return have;
      }
      throw new ControlError('already_exists', `pod ${podId} is registered with quota ${have.memQuotaBytes}, not ${memQuotaBytes}`);
    }
    const socketDir = path.join(this.socketDir, podId);
    const socketPath = path.join(socketDir, 'proxy.sock');
    if (Buffer.byteLength(socketPath) > 107) throw new ControlError('invalid_argument', `pod ${podId}: socket path ${socketPath} is longer than 107 bytes`);
    fs.mkdirSync(socketDir, { recursive: true, mode: 0o755 });
    const overrides = memQuotaBytes > 0 ? { memQuota: memQuotaBytes } : {};
    let listener: Listener;
    try {
      listener = this.server.addListener(socketPath, overrides, podId);
      // Containers may run as any user: the socket is reachable only through the pod's bind mount.
      fs.chmodSync(socketPath, 0o666);
    } catch (err) {
      fs.rmSync(socketDir, { recursive: true, force: true });
      throw new ControlError('internal', `pod ${podId}: cannot listen on ${socketPath}: ${(err as Error).message}`);
    }
    const entry = { podId, memQuotaBytes, meta: { ...meta }, socketDir, socketPath, listener };
    this.#pods.set(podId, entry);
    this.server.directory.podRegistered(podId, entry.meta, memQuotaBytes);
    this.log.info({ pod: podId, mem_quota: memQuotaBytes, socket: socketPath, namespace: meta.namespace || undefined, name: meta.name || undefined, uid: meta.uid || undefined }, 'pod registered');
    return entry;
  }

  /**
   * Sets a registered pod's quota (0: the proxy's default).  The listener's
   * overrides are read when a guest connects (ProxyServer#startGuest), so the
   * new quota applies to guests that connect from now on; those connected
   * keep the quota they were served with.  Returns the previous quota.
   */
  setQuota(podId: string, memQuotaBytes: number): number {
    if (!Number.isSafeInteger(memQuotaBytes) || memQuotaBytes < 0) throw new ControlError('invalid_argument', `pod ${podId}: quota ${memQuotaBytes} is not a byte count`);
    const e = this.#pods.get(podId);
    if (!e) throw new ControlError('not_found', `pod ${podId} is not registered`);
    const previous = e.memQuotaBytes;
    e.memQuotaBytes = memQuotaBytes;
    const overrides = e.listener.overrides;
    if (memQuotaBytes > 0) overrides.memQuota = memQuotaBytes;
    else delete overrides.memQuota;
    this.server.directory.podQuota(podId, memQuotaBytes);
    this.log.info({ pod: podId, mem_quota: memQuotaBytes, previous }, 'pod quota changed (for guests that connect from now on)');
    return previous;
  }

  async unregister(podId: string): Promise<boolean> {
    const e = this.#pods.get(podId);
    if (!e) return false;
    this.#pods.delete(podId);
    this.server.directory.podUnregistered(podId);
    await this.server.closeListener(e.listener);
    fs.rmSync(e.socketDir, { recursive: true, force: true });
    this.log.info({ pod: podId }, 'pod unregistered: its socket is closed and its guests disconnected');
    return true;
  }

  list(): { podId: string; memQuotaBytes: number; socketPath: string; guests: number; namespace: string; name: string; uid: string }[] {
    return [...this.#pods.values()].map((e) => ({ podId: e.podId, memQuotaBytes: e.memQuotaBytes, socketPath: e.socketPath, guests: e.listener.guests.size, ...e.meta }));
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.#pods.keys()]) await this.unregister(id);
  }
}
