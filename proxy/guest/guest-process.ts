// A guest served by a process of its own (--guest-isolation process, the
// default).  A CUDA process whose kernel faults is poisoned for good (every
// later call returns the sticky error, in every context of the process), so
// only separate processes keep one guest's fault from reaching the others.
// vgpu-proxy starts this with the guest's socket as descriptor 3 and the
// settings in VGPU_GUEST_SETTINGS, and a pipe for the guest's figures as
// descriptor 4 (proxy/metrics/stats-pipe.ts); when this process ends, the
// driver frees whatever the guest still held.
import * as C from '../native/libc.js';
import { serveGuest } from './serve-guest.js';
import { pipeSink } from '../metrics/stats-pipe.js';

const GUEST_SOCKET_FD = 3;
// If vgpu-proxy dies, so does this process: its guest then sees the socket close at once.
const parent = Number(process.env.VGPU_PROXY_PID);
C.prctl(C.PR_SET_PDEATHSIG, C.SIGKILL, 0, 0, 0);
if (C.getppid() !== parent) process.exit(0);
const settings = JSON.parse(process.env.VGPU_GUEST_SETTINGS ?? '{}');
const ended = serveGuest({ fd: GUEST_SOCKET_FD, guestId: settings.guestId, config: settings.config, pod: settings.pod ?? '', stop: new SharedArrayBuffer(4) }, pipeSink());
process.exitCode = ended.reason === 'fault' || ended.reason === 'refused' ? 3 : 0;
