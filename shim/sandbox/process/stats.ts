// A container's cgroup v1 statistics, in containerd's
// io.containerd.cgroups.v1.Metrics shape, read from the cgroups its init
// process is in.
import * as fs from 'node:fs';
import type { Metrics } from '../backend.js';

const ROOT = '/sys/fs/cgroup';

/** controller → path, from /proc/PID/cgroup (cgroup v1 lines). */
export function cgroupPaths(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch (err) {
    throw new Error(`read /proc/${pid}/cgroup: ${(err as Error).message}`);
  }
  for (const line of text.split('\n')) {
    const [, ctrls, p] = line.split(':');
    if (!ctrls || p === undefined) continue;
    for (const c of ctrls.split(',')) out.set(c, p);
  }
  return out;
}

function num(file: string): number {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return t === 'max' ? 0 : Number(t) || 0;
  } catch {
    return 0;
  }
}

function keyed(file: string): Record<string, number> {
  const o: Record<string, number> = {};
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = line.split(' ');
      if (k && v) o[k] = Number(v);
    }
  } catch {
    /* controller absent */
  }
  return o;
}

export function cgroupV1Metrics(pid: number): Metrics {
  const paths = cgroupPaths(pid);
  const mem = paths.get('memory');
  const cpu = paths.get('cpuacct');
  const pids = paths.get('pids');
  if (mem === undefined && cpu === undefined) throw new Error(`process ${pid} is in no cgroup v1 memory or cpuacct hierarchy (cgroup v2 statistics are not served by this build)`);
  const metrics: Metrics = {};
  if (cpu !== undefined) {
    const d = `${ROOT}/cpu,cpuacct${cpu}`;
    const dir = fs.existsSync(d) ? d : `${ROOT}/cpuacct${cpu}`;
    const st = keyed(`${dir}/cpuacct.stat`);
    const tick = 1e9 / 100; // USER_HZ
    metrics.cpu = { usage: { total: num(`${dir}/cpuacct.usage`), user: (st.user ?? 0) * tick, kernel: (st.system ?? 0) * tick } };
  }
  if (mem !== undefined) {
    const dir = `${ROOT}/memory${mem}`;
    const st = keyed(`${dir}/memory.stat`);
    metrics.memory = {
      cache: st.cache ?? 0,
      rss: st.rss ?? 0,
      mappedFile: st.mapped_file ?? 0,
      inactiveFile: st.inactive_file ?? 0,
      activeFile: st.active_file ?? 0,
      pgFault: st.pgfault ?? 0,
      pgMajFault: st.pgmajfault ?? 0,
      totalCache: st.total_cache ?? 0,
      totalRss: st.total_rss ?? 0,
      totalInactiveFile: st.total_inactive_file ?? 0,
      totalActiveFile: st.total_active_file ?? 0,
      totalPgFault: st.total_pgfault ?? 0,
      totalPgMajFault: st.total_pgmajfault ?? 0,
      usage: { usage: num(`${dir}/memory.usage_in_bytes`), max: num(`${dir}/memory.max_usage_in_bytes`), limit: num(`${dir}/memory.limit_in_bytes`), failcnt: num(`${dir}/memory.failcnt`) },
    };
  }
  if (pids !== undefined) {
    const dir = `${ROOT}/pids${pids}`;
    metrics.pids = { current: num(`${dir}/pids.current`), limit: num(`${dir}/pids.max`) };
  }
  return metrics;
}

/** The memory cgroup's OOM-kill count (memory.oom_control: oom_kill), or 0. */
export function oomKills(pid: number): number {
  try {
    const mem = cgroupPaths(pid).get('memory');
    if (mem === undefined) return 0;
    return keyed(`${ROOT}/memory${mem}/memory.oom_control`).oom_kill ?? 0;
  } catch {
    return 0;
  }
}
