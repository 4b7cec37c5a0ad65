// A guest served by a worker thread of vgpu-proxy (--guest-isolation thread).
// Its figures go to the main thread as messages ({ stats }), then its end (GuestEnded).
import { parentPort, workerData } from 'node:worker_threads';
import { GuestWorkerData, serveGuest } from './serve-guest.js';

const port = parentPort!;
port.postMessage(serveGuest(workerData as GuestWorkerData, (snap) => port.postMessage({ stats: snap.slice() })));
