// vgpu-proxy --xen, main process: finds xen guests' offers in xenstore and
// hands each to a guest server of its own, through a private socket of
// ProxyServer (the same process-per-guest servers as shm guests).
//
//   @introduceDomain / @releaseDomain      which domains exist
//   /local/domain/D/data/vgpu              one watch per domain: its offers
//   /local/domain/D/xen-cri/vgpu-memory    Dom0's mark: only marked domains are served
//
// Per offer: read its keys (as the guest wrote them: the server checks
// them), connect to the private socket, send them, read the server's
// welcome, answer the guest in .../proxy.  The connection stays open: it is
// the guest's presence, closed here when the guest closes its channel or its
// domain goes away (the server then releases everything and unmaps).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from 'pino';
import * as W from '../wire/layout.js';
import type { ProxyServer } from '../server.js';
import { encodeXenHello, XenOfferText } from './xen-handover.js';
import { Xenstore } from './xenstore.js';

/** The rendezvous' names, as vgpu/include/vgpu_xen.h has them. */
export const XS = {
  dir: 'data/vgpu',
  regionPages: 'region-pages',
  grefDir: 'gref-dir',
  eventChannel: 'event-channel',
  client: 'client',
  state: 'state',
  proxy: 'proxy',
  offered: 'offered',
  closed: 'closed',
  connected: 'connected',
  refused: 'refused',
  vgpuKey: 'xen-cri/vgpu-memory',
} as const;

const WELCOME_TIMEOUT_MS = 30_000;
const CHAN = /^[0-9a-z-]{1,64}$/;

interface Channel {
  domid: number;
  chan: string;
  sock: net.Socket | null;
  guestId: number;
}

export class XenRendezvous {
  #xs: Xenstore | null = null;
  readonly #domains = new Set<number>();
  readonly #channels = new Map<string, Channel>();
  #socketPath = '';
  #scanning = new Map<number, Promise<void>>();
  #rescan = new Set<number>();

  constructor(readonly server: ProxyServer, readonly xenstorePath: string, readonly handoverSocket: string, readonly log: Logger) {}

  async start(): Promise<void> {
    const xs = await Xenstore.connect(this.xenstorePath);
    this.#xs = xs;
    // The private socket: only this process connects (servers check the peer's pid), in a folder only root enters.
    fs.mkdirSync(path.dirname(this.handoverSocket), { recursive: true, mode: 0o700 });
    fs.chmodSync(path.dirname(this.handoverSocket), 0o700);
    this.server.addListener(this.handoverSocket, { xenHandover: true }, 'xen');
    this.#socketPath = this.handoverSocket;
    xs.on('watch', (p: string, token: string) => this.#onWatch(p, token));
    xs.on('close', (err: Error) => this.log.error({ err: err.message }, 'xenstore connection lost: no new xen guests can be served'));
    await xs.watch('@introduceDomain', 'domains');
    await xs.watch('@releaseDomain', 'domains');
    await this.#syncDomains();
    this.log.info({ xenstore: this.xenstorePath }, 'serving xen guests: watching xenstore for vGPU offers');
  }

  async stop(): Promise<void> {
    for (const c of this.#channels.values()) c.sock?.destroy();
    this.#channels.clear();
    this.#xs?.close();
  }

  #onWatch(p: string, token: string): void {
    if (token === 'domains') {
      void this.#syncDomains().catch((err) => this.log.warn({ err: (err as Error).message }, 'xenstore: listing domains failed'));
      return;
    }
    const m = /^vgpu:(\d+)$/.exec(token);
    if (m) this.#scheduleScan(Number(m[1]));
    void p;
  }

  /** Starts or stops watching domains as they come and go. */
  async #syncDomains(): Promise<void> {
    const xs = this.#xs!;
    const now = new Set((await xs.directory('/local/domain')).map(Number).filter((d) => Number.isInteger(d) && d > 0));
    for (const d of now) {
      if (this.#domains.has(d)) continue;
      this.#domains.add(d);
      await xs.watch(`/local/domain/${d}/${XS.dir}`, `vgpu:${d}`);
    }
    for (const d of [...this.#domains]) {
      if (now.has(d)) continue;
      this.#domains.delete(d);
      await xs.unwatch(`/local/domain/${d}/${XS.dir}`, `vgpu:${d}`).catch(() => undefined);
      for (const [key, c] of this.#channels) {
        if (c.domid !== d) continue;
        this.log.info({ domid: d, chan: c.chan, guest: c.guestId }, 'xen guest domain destroyed: ending its channel');
        c.sock?.destroy();
        this.#channels.delete(key);
      }
    }
  }

  /** One scan of a domain's offers at a time; events during a scan ask for one more. */
  #scheduleScan(domid: number): void {
    if (this.#scanning.has(domid)) {
      this.#rescan.add(domid);
      return;
    }
    const run = this.#scan(domid)
      .catch((err) => this.log.warn({ domid, err: (err as Error).message }, 'xenstore: scanning offers failed'))
      .finally(() => {
        this.#scanning.delete(domid);
        if (this.#rescan.delete(domid)) this.#scheduleScan(domid);
      });
    this.#scanning.set(domid, run);
  }

  async #scan(domid: number): Promise<void> {
    const xs = this.#xs!;
    const base = `/local/domain/${domid}/${XS.dir}`;
    const chans = new Set(await xs.directory(base));
    for (const [key, c] of this.#channels) {
      if (c.domid !== domid) continue;
      const state = chans.has(c.chan) ? await xs.read(`${base}/${c.chan}/${XS.state}`) : null;
      if (state === XS.offered) continue;
      this.log.info({ domid, chan: c.chan, guest: c.guestId, state }, 'xen guest closed its channel');
      c.sock?.destroy();
      this.#channels.delete(key);
    }
    for (const chan of chans) {
      const key = `${domid}/${chan}`;
      if (this.#channels.has(key) || !CHAN.test(chan)) continue;
      const dir = `${base}/${chan}`;
      if ((await xs.read(`${dir}/${XS.state}`)) !== XS.offered) continue;
      if ((await xs.read(`${dir}/${XS.proxy}`)) !== null) continue; // answered before (refused, or a proxy before us)
      const c: Channel = { domid, chan, sock: null, guestId: 0 };
      this.#channels.set(key, c);
      await this.#handOver(c, dir).catch(async (err) => {
        this.#channels.delete(key);
        this.log.warn({ domid, chan, err: (err as Error).message }, 'xen offer not served');
        await xs.write(`${dir}/${XS.proxy}`, `${XS.refused} handover_failed: ${(err as Error).message}`.slice(0, 1000)).catch(() => undefined);
      });
    }
  }

  /** The quota Dom0 set for the domain ('0': default), or null when Dom0 did not mark it for vGPU. */
  async #allowance(domid: number): Promise<string | null> {
    const xs = this.#xs!;
    const key = `/local/domain/${domid}/${XS.vgpuKey}`;
    const perms = await xs.getPerms(key);
    // Only Dom0 may have written it: its owner must be domain 0.
    if (!perms || !/^[nrwb]0$/.test(perms[0] ?? '')) return null;
    const v = await xs.read(key);
    return v !== null && /^[0-9]{1,16}$/.test(v) ? v : null;
  }

  async #handOver(c: Channel, dir: string): Promise<void> {
    const xs = this.#xs!;
    const quota = await this.#allowance(c.domid);
    if (quota === null) {
      this.log.warn({ domid: c.domid, chan: c.chan }, 'xen offer from a domain not marked for vGPU: refused');
      await xs.write(`${dir}/${XS.proxy}`, `${XS.refused} not_allowed: domain ${c.domid} is not marked for vGPU (Dom0 writes /local/domain/${c.domid}/${XS.vgpuKey})`);
      this.#channels.delete(`${c.domid}/${c.chan}`);
      return;
    }
    const read = async (k: string): Promise<string> => (await xs.read(`${dir}/${k}`)) ?? '';
    const offer: XenOfferText = {
      domid: c.domid,
      chan: c.chan,
      regionPages: await read(XS.regionPages),
      grefDir: await read(XS.grefDir),
      eventChannel: await read(XS.eventChannel),
      client: await read(XS.client),
      memQuota: quota,
    };
    const sock = net.connect(this.#socketPath);
    c.sock = sock;
    const welcome = await new Promise<Buffer>((resolve, reject) => {
      let got = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error(`no answer from the guest server within ${WELCOME_TIMEOUT_MS} ms`)), WELCOME_TIMEOUT_MS);
      sock.on('connect', () => sock.write(encodeXenHello(offer)));
      sock.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= W.Welcome.SIZE) {
          clearTimeout(timer);
          resolve(got.subarray(0, W.Welcome.SIZE));
        }
      });
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        reject(new Error('the guest server closed the hand-over'));
      });
    });
    sock.removeAllListeners('data');
    sock.removeAllListeners('close');
    sock.on('error', () => undefined);
    const status = welcome.readInt32LE(W.Welcome.status);
    const guestId = welcome.readUInt32LE(W.Welcome.guest_id);
    if (status !== 0) {
      const msg = welcome.subarray(W.Welcome.message, W.Welcome.message + 240).toString('utf8').replace(/\0.*$/s, '');
      sock.destroy();
      this.#channels.delete(`${c.domid}/${c.chan}`);
      await xs.write(`${dir}/${XS.proxy}`, `${XS.refused} ${msg}`.slice(0, 1000));
      return;
    }
    c.guestId = guestId;
    sock.on('close', () => {
      // The server ended (guest closed, fault, or domain gone): forget the channel.
      if (this.#channels.get(`${c.domid}/${c.chan}`) === c) this.#channels.delete(`${c.domid}/${c.chan}`);
    });
    await xs.write(`${dir}/${XS.proxy}`, `${XS.connected} ${guestId}`);
    this.log.info({ domid: c.domid, chan: c.chan, guest: guestId, client: offer.client }, 'xen guest connected');
  }
}
