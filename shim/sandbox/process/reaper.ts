// The shim is a child subreaper: container processes that runc leaves behind
// become its children, and it must wait for them (Node.js waits only for the
// children it spawned itself).  On every SIGCHLD, and once a second in case
// one was merged, each child that Node.js did not spawn is reaped with
// waitpid(pid, WNOHANG) — never waitpid(-1), which would take Node's own.
import { becomeSubreaper, childrenOf, reap } from '../../native/linux.js';
import { spawn, SpawnOptions, ChildProcess } from 'node:child_process';

type OnExit = (status: number) => void;

export class Reaper {
  readonly #watched = new Map<number, OnExit>();
  readonly #nodeOwned = new Set<number>();
  /** exits reaped before anyone watched that pid (a process that ended at once) */
  readonly #early = new Map<number, number>();
  #timer: NodeJS.Timeout | null = null;
  #started = false;

  start(): void {
    if (this.#started) return;
    this.#started = true;
    becomeSubreaper();
    process.on('SIGCHLD', () => this.sweep());
    this.#timer = setInterval(() => this.sweep(), 1000);
    this.#timer.unref();
  }

  /** Spawns a helper (runc, mount) that Node.js itself waits for. */
  spawn(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
    const child = spawn(cmd, args, opts);
    if (child.pid) {
      const pid = child.pid;
      this.#nodeOwned.add(pid);
      child.once('exit', () => this.#nodeOwned.delete(pid));
    }
    return child;
  }

  /** Calls onExit with pid's exit status once it ends (at once if it already has). */
  watch(pid: number, onExit: OnExit): void {
    const early = this.#early.get(pid);
    if (early !== undefined) {
      this.#early.delete(pid);
      onExit(early);
      return;
    }
    this.#watched.set(pid, onExit);
    this.sweep();
  }

  unwatch(pid: number): void {
    this.#watched.delete(pid);
  }

  sweep(): void {
    const candidates = new Set<number>(childrenOf(process.pid));
    for (const pid of this.#watched.keys()) candidates.add(pid);
    for (const pid of candidates) {
      if (this.#nodeOwned.has(pid)) continue;
      const r = reap(pid);
      if (!r) continue;
      if (r.pid < 0) {
        // Not our child (reaped elsewhere or never ours): report it gone with an unknown status.
        const cb = this.#watched.get(pid);
        if (cb && !isAlive(pid)) {
          this.#watched.delete(pid);
          cb(255);
        }
        continue;
      }
      const cb = this.#watched.get(pid);
      if (cb) {
        this.#watched.delete(pid);
        cb(r.status);
      } else {
        if (this.#early.size > 4096) this.#early.clear();
        this.#early.set(pid, r.status);
      }
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
