#!/usr/bin/env node
// containerd-shim-xen-cri-v2: containerd's runtime shim v2 for handler xen-cri.
// The shim lives in this folder (actions, Task service), shim/ttrpc and shim/sandbox (backends).
import { main } from './actions.js';

process.exitCode = await main(process.argv.slice(2));
