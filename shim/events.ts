// Events the shim publishes to containerd: each is wrapped in an Envelope
// and forwarded over ttrpc to containerd's TTRPC_ADDRESS, in order.  A
// containerd that is restarting gets them once it is back (retried for a
// while), the way containerd's own shims do.
import type { Logger } from 'pino';
import { anyOf, encode, timestamp } from '../src/proto/load.js';
import { TtrpcClient } from './ttrpc/client.js';

export const Topic = {
  TaskCreate: '/tasks/create',
  TaskStart: '/tasks/start',
  TaskExit: '/tasks/exit',
  TaskDelete: '/tasks/delete',
  TaskExecAdded: '/tasks/exec-added',
  TaskExecStarted: '/tasks/exec-started',
  TaskOOM: '/tasks/oom',
  TaskPaused: '/tasks/paused',
  TaskResumed: '/tasks/resumed',
} as const;

type TopicName = keyof typeof Topic;

export class Publisher {
  readonly #client: TtrpcClient | null;
  #queue: Promise<void> = Promise.resolve();

  constructor(ttrpcAddress: string, readonly namespace: string, readonly log: Logger) {
    this.#client = ttrpcAddress ? new TtrpcClient(ttrpcAddress) : null;
  }

  /** Queues event `name` (a message of package containerd.events) for containerd. */
  publish(name: TopicName, event: object): void {
    const topic = Topic[name];
    const envelope = {
      timestamp: timestamp(new Date()),
      namespace: this.namespace,
      topic,
      event: anyOf(`containerd.events.${name}`, encode(`containerd.events.${name}`, event)),
    };
    this.log.debug({ topic, event }, 'publish');
    this.#queue = this.#queue.then(() => this.#send(envelope, topic));
  }

  /** Resolves once every queued event has been sent (or given up). */
  flush(): Promise<void> {
    return this.#queue;
  }

  async #send(envelope: object, topic: string): Promise<void> {
    if (!this.#client) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#client.call('containerd.services.events.ttrpc.v1.Events', 'Forward', 'containerd.services.events.ttrpc.v1.ForwardRequest', { envelope }, 'google.protobuf.Empty');
        return;
      } catch (err) {
        this.#client.close();
        if (attempt >= 50) {
          this.log.error({ topic, err: (err as Error).message }, 'event not delivered to containerd: giving up');
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
      }
    }
  }

  close(): void {
    this.#client?.close();
  }
}
