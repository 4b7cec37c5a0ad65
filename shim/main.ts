#!/usr/bin/env node
// containerd-shim-xen-cri-v2: containerd's runtime shim v2 for handler xen-cri.
// The runtime lives in src/shim (actions, Task service) and src/sandbox (backends).
import { main } from '../src/shim/main.js';

process.exitCode = await main(process.argv.slice(2));
