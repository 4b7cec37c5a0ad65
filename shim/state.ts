// The state machine of one process (a container's init, or an exec), as
// containerd's runc shim keeps it (process/init_state.go): each move is
// checked, and an illegal one is an error naming both states.
import { failedPrecondition } from './ttrpc/status.js';

export type ProcState = 'created' | 'running' | 'paused' | 'stopped' | 'deleted';

const MOVES: Record<ProcState, ProcState[]> = {
  created: ['running', 'stopped', 'deleted'],
  running: ['paused', 'stopped'],
  paused: ['running', 'stopped'],
  stopped: ['deleted'],
  deleted: [],
};

export class ProcessState {
  #state: ProcState = 'created';
  constructor(readonly what: string) {}

  get state(): ProcState {
    return this.#state;
  }

  /** Moves to `to`; throws FailedPrecondition when that move is not allowed from here. */
  move(to: ProcState): void {
    if (!MOVES[this.#state].includes(to)) throw failedPrecondition(`${this.what}: cannot move from ${this.#state} to ${to}`);
    this.#state = to;
  }

  /** Throws unless the process is in one of `states`, naming the operation. */
  require(op: string, ...states: ProcState[]): void {
    if (!states.includes(this.#state)) throw failedPrecondition(`${this.what}: cannot ${op} while ${this.#state} (needs ${states.join(' or ')})`);
  }
}
