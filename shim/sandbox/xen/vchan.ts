// The shim's end of the agent channel: Debian's libxenvchan (libxenmisc4.17)
// as a vchan client, bound with koffi.  The guest agent is the server
// (agent/vchan.c): it grants the ring pages, Dom0 maps them.
//
// Waiting for the agent is a poll() of the channel's event descriptor on
// libuv's thread pool (koffi's async calls), with a timeout, so that closing
// never waits on a blocked thread; reads, writes and the event's
// acknowledgement (libxenvchan_wait, which no longer blocks then) run on the
// main thread.
import koffi from 'koffi';
import * as C from '../../../src/native/libc.js';

type Lib0 = ReturnType<typeof koffi.load>;
type Fn = ReturnType<Lib0['func']>;
interface Lib {
  clientInit: Fn;
  read: Fn;
  write: Fn;
  wait: Fn;
  isOpen: Fn;
  dataReady: Fn;
  bufferSpace: Fn;
  close: Fn;
  fd: Fn;
}
let lib: Lib | null = null;

function load(): Lib {
  if (lib) return lib;
  let so: Lib0;
  try {
    so = koffi.load('libxenvchan.so.4.17');
  } catch (err) {
    throw new Error(`cannot load libxenvchan (install libxenmisc4.17, part of Xen 4.17's tools): ${(err as Error).message}`);
  }
  koffi.opaque('libxenvchan');
  lib = {
    clientInit: so.func('libxenvchan *libxenvchan_client_init(void *logger, int domain, const char *xs_path)'),
    read: so.func('int libxenvchan_read(libxenvchan *ctrl, uint8_t *data, size_t size)'),
    write: so.func('int libxenvchan_write(libxenvchan *ctrl, const uint8_t *data, size_t size)'),
    wait: so.func('int libxenvchan_wait(libxenvchan *ctrl)'),
    isOpen: so.func('int libxenvchan_is_open(libxenvchan *ctrl)'),
    dataReady: so.func('int libxenvchan_data_ready(libxenvchan *ctrl)'),
    bufferSpace: so.func('int libxenvchan_buffer_space(libxenvchan *ctrl)'),
    close: so.func('void libxenvchan_close(libxenvchan *ctrl)'),
    fd: so.func('int libxenvchan_fd_for_select(libxenvchan *ctrl)'),
  };
  return lib;
}

const WAIT_MS = 250;
const PFD_PAGE = 4096;

/** A connected vchan: bytes in (onData), bytes out (send), and its end (onClose). */
export class Vchan {
  readonly #lib: Lib;
  #ctrl: unknown;
  #waiting = false;
  #closed = false;
  #closeWhenIdle = false;
  /** struct pollfd { int fd; short events; short revents; } for the event channel, in native memory (a poll on the pool reads it) */
  #pfdAddr: number;
  readonly #pfd: DataView;
  #pending: Buffer[] = [];
  readonly #buf = Buffer.alloc(65536);
  /** How often an event woke us. */
  readonly stats = { wakeups: 0 };
  onData: (b: Buffer) => void = () => undefined;
  onClose: (why: string) => void = () => undefined;

  private constructor(l: Lib, ctrl: unknown) {
    this.#lib = l;
    this.#ctrl = ctrl;
    this.#pfdAddr = C.mapAnonymous(PFD_PAGE);
    if (this.#pfdAddr < 0) {
      l.close(ctrl);
      throw new Error(`cannot map a page for the agent channel's poll: errno ${C.errno()}`);
    }
    this.#pfd = new DataView(koffi.view(BigInt(this.#pfdAddr), 8));
    this.#pfd.setInt32(0, l.fd(ctrl) as number, true);
    this.#pfd.setInt16(4, C.POLLIN, true);
  }

  /** Connects to the server at xsPath of domain domid; null while it is not there yet. */
  static tryConnect(domid: number, xsPath: string): Vchan | null {
    const l = load();
    const ctrl = l.clientInit(null, domid, xsPath);
    if (!ctrl) return null;
    return new Vchan(l, ctrl);
  }

  /** Starts moving bytes: call once onData and onClose are set (the agent may have written already). */
  start(): void {
    this.#pump();
  }

  get open(): boolean {
    return !this.#closed;
  }

  send(data: Buffer): void {
    if (this.#closed) throw new Error('the agent channel is closed');
    this.#pending.push(data);
    this.#pump();
  }

  #pump(): void {
    if (this.#closed) return;
    const l = this.#lib;
    if (l.isOpen(this.#ctrl) === 0) {
      this.#end('the agent closed the channel (the pod VM is gone)');
      return;
    }
    // Out: as much as the ring takes; the rest waits for the agent to read.
    while (this.#pending.length) {
      const b = this.#pending[0]!;
      const n = l.write(this.#ctrl, b, b.length) as number;
      if (n < 0) return this.#end('writing to the agent failed');
      if (n === b.length) this.#pending.shift();
      else {
        this.#pending[0] = b.subarray(n);
        break;
      }
    }
    // In: everything readable now.
    for (let guard = 0; guard < 1024; guard++) {
      const ready = l.dataReady(this.#ctrl) as number;
      if (ready <= 0) break;
      const n = l.read(this.#ctrl, this.#buf, Math.min(ready, this.#buf.length)) as number;
      if (n < 0) return this.#end('reading from the agent failed');
      if (n === 0) break;
      this.onData(Buffer.from(this.#buf.subarray(0, n)));
      if (this.#closed) return;
    }
    if (this.#pending.length) l.bufferSpace(this.#ctrl); // asks to be told when the agent reads
    this.#arm();
  }

  /** One poll at a time, on the thread pool, at most WAIT_MS long; an event pumps again. */
  #arm(): void {
    if (this.#waiting || this.#closed) return;
    this.#waiting = true;
    this.#pfd.setInt16(6, 0, true);
    C.poll.async(this.#pfdAddr, 1, WAIT_MS, (err: unknown, rc: number) => {
      this.#waiting = false;
      if (this.#closeWhenIdle) return this.#release();
      if (this.#closed) return;
      if (err || rc < 0) return this.#end('waiting on the agent channel failed');
      if (rc > 0) {
        this.stats.wakeups++;
        // The event is there: reading and unmasking it does not block.
        if ((this.#lib.wait(this.#ctrl) as number) < 0) return this.#end('the agent channel\'s event channel failed');
      }
      this.#pump();
    });
  }

  #end(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(why);
  }

  /**
   * Closes our end: unmaps the agent's pages (a destroyed pod VM is then
   * released, not left a zombie) once no poll is in flight (<= WAIT_MS).
   */
  close(): void {
    if (!this.#closed) this.#end('closed by the shim');
    if (this.#waiting) this.#closeWhenIdle = true;
    else this.#release();
  }

  #release(): void {
    this.#closeWhenIdle = false;
    if (!this.#ctrl) return;
    this.#lib.close(this.#ctrl);
    this.#ctrl = null;
    C.munmap(this.#pfdAddr, PFD_PAGE);
    this.#pfdAddr = 0;
  }
}
