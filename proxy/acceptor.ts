// The acceptor thread: blocks in accept() on the listening socket and hands
// each new connection to the main thread, which starts a guest worker.
import { parentPort, workerData } from 'node:worker_threads';
import { acceptBlocking } from './channel/unix-socket.js';

const { listenFd } = workerData as { listenFd: number };
for (;;) {
  const fd = acceptBlocking(listenFd);
  if (fd < 0) break;
  parentPort!.postMessage({ fd });
}
