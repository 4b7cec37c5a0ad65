// Reading /proc.
import * as fs from 'node:fs';

/** pid's children (all threads), from /proc; empty where the kernel lacks CONFIG_PROC_CHILDREN. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      for (const w of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (w.trim()) out.push(Number(w));
    } catch {
      /* thread gone */
    }
  }
  return out;
}
