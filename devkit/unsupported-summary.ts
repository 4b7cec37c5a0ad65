// libvgpu's exit summary of the driver functions it answered with
// CUDA_ERROR_NOT_SUPPORTED (vgpu/src/log.c, printed with VGPU_LOG=info or
// debug): a run through libvgpu passes only when that list is empty.

export interface UnsupportedSummary {
  /** How many distinct functions were answered NOT_SUPPORTED. */
  functions: number;
  /** "name xCALLS; ..." as libvgpu printed it, with the overflow lines appended. */
  list: string;
}

/** The environment with VGPU_LOG raised to info, unless it asks for debug already. */
export function withUnsupportedSummary(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.VGPU_LOG === 'debug' ? env : { ...env, VGPU_LOG: 'info' };
}

/**
 * The summary a process printed on stderr; null when it printed none. Where
 * more than one copy of libvgpu's log printed one (a test program that links
 * log.c itself), their counts and lists are added up.
 */
export function parseUnsupportedSummary(stderr: string): UnsupportedSummary | null {
  const heads = [...stderr.matchAll(/event=unsupported_summary functions=(\d+)(?: truncated=1)? list="([^"]*)"/g)];
  if (heads.length === 0) return null;
  const extra = [...stderr.matchAll(/event=unsupported_summary_entry function="([^"]*)" calls=(\d+)/g)].map((e) => `${e[1]} x${e[2]}`);
  const functions = heads.reduce((n, h) => n + Number(h[1]), 0);
  return { functions, list: [...heads.map((h) => h[2]!), ...extra].filter((s) => s !== '').join('; ') };
}

/**
 * What is wrong with a libvgpu run's summary: nothing (empty array) when it
 * printed one with no function in it. A run that did not exit normally prints
 * none; pass exited=false then, and only a non-empty list counts.
 */
export function unsupportedProblems(stderr: string, exited: boolean): string[] {
  const s = parseUnsupportedSummary(stderr);
  if (s === null) return exited ? ['libvgpu printed no unsupported-call summary at exit (VGPU_LOG=info)'] : [];
  if (s.functions === 0) return [];
  return [`libvgpu answered NOT_SUPPORTED to ${s.functions} function(s): ${s.list}`];
}

/** The table cell: "0", the count and names, or "-" when there is no summary. */
export function unsupportedCell(stderr: string): string {
  const s = parseUnsupportedSummary(stderr);
  if (s === null) return '-';
  return s.functions === 0 ? '0' : `${s.functions}: ${s.list}`;
}
