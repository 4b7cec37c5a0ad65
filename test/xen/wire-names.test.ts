// The xen rendezvous' xenstore names: vgpu/include/vgpu_xen.h (libvgpu) and
// proxy/channel/xen-rendezvous.ts (vgpu-proxy) must agree.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { XS } from '../../proxy/channel/xen-rendezvous.js';
import { REFS_PER_DIR, RESERVED_REFS } from '../../proxy/channel/xen-handover.js';
import { repoPath } from '../../devkit/repo-root.js';

const header = readFileSync(repoPath('vgpu', 'include', 'vgpu_xen.h'), 'utf8');
const defs = new Map<string, string>();
for (const m of header.matchAll(/^#define\s+(\w+)\s+("([^"]*)"|(\d+)u?)/gm)) defs.set(m[1]!, m[3] ?? m[4]!);

t.test('xenstore names', async (t) => {
  const pairs: [string, string][] = [
    ['VGPU_XS_DIR', XS.dir], ['VGPU_XS_REGION_PAGES', XS.regionPages], ['VGPU_XS_GREF_DIR', XS.grefDir],
    ['VGPU_XS_EVENT_CHANNEL', XS.eventChannel], ['VGPU_XS_CLIENT', XS.client], ['VGPU_XS_STATE', XS.state],
    ['VGPU_XS_PROXY', XS.proxy], ['VGPU_XS_STATE_OFFERED', XS.offered], ['VGPU_XS_STATE_CLOSED', XS.closed],
    ['VGPU_XS_CONNECTED', XS.connected], ['VGPU_XS_REFUSED', XS.refused], ['XEN_CRI_VGPU_KEY', XS.vgpuKey],
  ];
  for (const [c, ts] of pairs) t.equal(defs.get(c), ts, c);
  t.equal(Number(defs.get('VGPU_XEN_REFS_PER_DIR')), REFS_PER_DIR);
  t.equal(Number(defs.get('VGPU_XEN_RESERVED_REFS')), RESERVED_REFS);
});
