// The pod as Kubernetes names it (namespace, name, uid), which the shim sends
// with RegisterPod so that vgpu-proxy's metrics and `vgpu-proxy status` name
// the pod the way an operator does (proto/vgpu_control.proto).  Read once,
// from the sandbox container's OCI annotations: containerd's CRI plugin puts
// io.kubernetes.cri.sandbox-{namespace,name,uid} on every spec of a pod, the
// sandbox's included; kubelet's label names io.kubernetes.pod.* are read
// where those are absent.  The names are labels only: an absent one stays
// '', and one vgpu-proxy would refuse (not printable ASCII, longer than 253
// bytes: proxy/control/registry.ts) is dropped with a warning, never failing
// the pod.
import type { Logger } from 'pino';
import type { PodNames } from '../../src/proxy-control-client.js';

/** For each name, the annotations that may carry it, the first present winning. */
export const POD_NAME_ANNOTATIONS: Readonly<Record<keyof PodNames, readonly string[]>> = {
  namespace: ['io.kubernetes.cri.sandbox-namespace', 'io.kubernetes.pod.namespace'],
  name: ['io.kubernetes.cri.sandbox-name', 'io.kubernetes.pod.name'],
  uid: ['io.kubernetes.cri.sandbox-uid', 'io.kubernetes.pod.uid'],
};

export const MAX_POD_NAME_BYTES = 253;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export const NO_POD_NAMES: Readonly<PodNames> = Object.freeze({ namespace: '', name: '', uid: '' });

/** Why vgpu-proxy would refuse `value` as a pod name, or '' when it takes it. */
function unfit(value: unknown): string {
  if (typeof value !== 'string') return `not a string (${typeof value})`;
  if (!PRINTABLE_ASCII.test(value)) return 'not printable ASCII';
  // printable ASCII: one byte a character
  if (value.length > MAX_POD_NAME_BYTES) return `${value.length} bytes, more than ${MAX_POD_NAME_BYTES}`;
  return '';
}

/** The pod's names from its sandbox's annotations; absent or unfit ones are ''. */
export function podNames(annotations: Record<string, unknown>, podId: string, log: Logger): PodNames {
  const names: PodNames = { ...NO_POD_NAMES };
  for (const field of Object.keys(POD_NAME_ANNOTATIONS) as (keyof PodNames)[]) {
    const key = POD_NAME_ANNOTATIONS[field].find((k) => annotations[k] !== undefined && annotations[k] !== '');
    if (!key) continue;
    const value = annotations[key];
    const why = unfit(value);
    if (why) {
      const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : undefined;
      log.warn({ pod: podId, annotation: key, value: shown, why }, `pod ${field} not sent to vgpu-proxy: it takes printable ASCII of at most ${MAX_POD_NAME_BYTES} bytes`);
      continue;
    }
    names[field] = value as string;
  }
  return names;
}
