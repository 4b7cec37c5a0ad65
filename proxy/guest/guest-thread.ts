// A guest served by a worker thread of vgpu-proxy (--guest-isolation thread).
import { parentPort, workerData } from 'node:worker_threads';
import { GuestWorkerData, serveGuest } from './serve-guest.js';

parentPort!.postMessage(serveGuest(workerData as GuestWorkerData));
