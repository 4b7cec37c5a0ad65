// Rate-limited logging of what the proxy refuses one guest: the first
// `perWindow` refusals of each kind in a window are logged in full; the rest
// are only counted, and one line at the window's end says how many were not
// logged.  A hostile guest can then send millions of bad requests and cost
// the log a few lines a minute.  Every refusal is still counted in the
// guest's figures (vgpu_guest_refusals_total), whatever the log shows.
import type { Logger } from 'pino';

export interface RefusalLogOptions {
  /** refusals of one kind logged per window (default 5) */
  perWindow?: number;
  /** the window, ms (default 60000) */
  windowMs?: number;
}

export class RefusalLog {
  readonly perWindow: number;
  readonly windowMs: number;
  /** per kind: when its window began, how many it logged and how many it held back */
  readonly #start: Float64Array;
  readonly #logged: Uint32Array;
  readonly #held: Float64Array;

  constructor(readonly log: Logger, readonly kinds: readonly string[], opts: RefusalLogOptions = {}) {
    this.perWindow = opts.perWindow ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.#start = new Float64Array(kinds.length).fill(-Infinity);
    this.#logged = new Uint32Array(kinds.length);
    this.#held = new Float64Array(kinds.length);
  }

  /** One refusal of `kind` at `now` (ms, any monotonic clock): true when the caller should log it. */
  admit(kind: number, now: number): boolean {
    if (now - this.#start[kind]! >= this.windowMs) {
      this.#close(kind);
      this.#start[kind] = now;
    }
    if (this.#logged[kind]! < this.perWindow) {
      this.#logged[kind]!++;
      return true;
    }
    this.#held[kind]!++;
    return false;
  }

  /** How many refusals of `kind` the current window held back so far. */
  held(kind: number): number {
    return this.#held[kind]!;
  }

  /** Logs the counts of windows that ended by `now` (all of them with `force`, as the guest leaves). */
  flush(now: number, force = false): void {
    for (let k = 0; k < this.kinds.length; k++) {
      if (this.#held[k]! > 0 && (force || now - this.#start[k]! >= this.windowMs)) this.#close(k);
    }
  }

  #close(kind: number): void {
    const held = this.#held[kind]!;
    if (held > 0) {
      this.log.warn({ refusal: this.kinds[kind], not_logged: held, window_s: this.windowMs / 1000 },
        `guest refused ${held} more time(s) for ${this.kinds[kind]} in the last window: not logged one by one`);
    }
    this.#logged[kind] = 0;
    this.#held[kind] = 0;
  }
}
