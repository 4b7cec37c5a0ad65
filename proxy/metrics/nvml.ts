// Per-GPU figures from NVML (libnvidia-ml.so.1), bound with koffi: memory
// total and used, and utilisation, for every GPU NVML sees.  Only the main
// process loads it (guest servers load the CUDA driver, never this).  The
// ABI, from NVIDIA's nvml.h:
//   nvmlReturn_t nvmlInit_v2(void);
//   nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
//   nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
//   nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t, nvmlMemory_t *);        { u64 total, free, used }
//   nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t, nvmlUtilization_t *); { u32 gpu, memory } (percent)
//   nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t, char *uuid, unsigned int length);  (96 bytes: NVML_DEVICE_UUID_V2_BUFFER_SIZE)
//   nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t, char *name, unsigned int length);  (96: NVML_DEVICE_NAME_V2_BUFFER_SIZE)
//   const char *nvmlErrorString(nvmlReturn_t);
// nvmlDevice_t is an opaque pointer: it crosses as a number, as the CUDA
// driver's handles do (proxy/native/cuda.ts).
import koffi from 'koffi';
import * as C from '../native/libc.js';

const NVML_SUCCESS = 0;
const TEXT_BYTES = 96;
/** Scratch layout: the out-parameters, each at its own offset. */
const OUT_COUNT = 0;
const OUT_HANDLE = 8;
const OUT_MEMORY = 16; // 24 bytes
const OUT_UTIL = 48; // 8 bytes
const OUT_TEXT = 64; // TEXT_BYTES

export interface GpuFigures {
  index: number;
  uuid: string;
  name: string;
  memTotal: number;
  memUsed: number;
  /** 0..100, or -1 when NVML does not say (not supported on this GPU, or an error) */
  utilGpu: number;
  utilMemory: number;
}

type Fn = (...args: (number | bigint)[]) => number;

export class Nvml {
  readonly #f: Record<string, Fn>;
  readonly #errorString: (r: number) => string;
  readonly #out = C.allocScratch(4096);
  /** device handles by index, fetched once (NVML's handles live as long as its initialisation) */
  readonly #handles: { handle: number; uuid: string; name: string }[] = [];

  private constructor(lib: ReturnType<typeof koffi.load>) {
    const sig = {
      nvmlInit_v2: 'int nvmlInit_v2()',
      nvmlDeviceGetCount_v2: 'int nvmlDeviceGetCount_v2(uintptr_t count)',
      nvmlDeviceGetHandleByIndex_v2: 'int nvmlDeviceGetHandleByIndex_v2(unsigned int index, uintptr_t device)',
      nvmlDeviceGetMemoryInfo: 'int nvmlDeviceGetMemoryInfo(uintptr_t device, uintptr_t memory)',
      nvmlDeviceGetUtilizationRates: 'int nvmlDeviceGetUtilizationRates(uintptr_t device, uintptr_t utilization)',
      nvmlDeviceGetUUID: 'int nvmlDeviceGetUUID(uintptr_t device, uintptr_t uuid, unsigned int length)',
      nvmlDeviceGetName: 'int nvmlDeviceGetName(uintptr_t device, uintptr_t name, unsigned int length)',
    };
    this.#f = Object.fromEntries(Object.entries(sig).map(([k, s]) => [k, lib.func(s) as Fn]));
    const errorString = lib.func('const char *nvmlErrorString(int result)') as (r: number) => string;
    this.#errorString = (r) => `${errorString(r) ?? 'unknown error'} (nvmlReturn_t ${r})`;
  }

  /**
   * Loads and initialises NVML at path; throws with the reason (no library,
   * a symbol missing, nvmlInit failing: no driver, no GPU).
   */
  static open(path: string): Nvml {
    let lib: ReturnType<typeof koffi.load>;
    try {
      lib = koffi.load(path);
    } catch (err) {
      throw new Error(`cannot load ${path}: ${(err as Error).message}`);
    }
    let nvml: Nvml;
    try {
      nvml = new Nvml(lib);
    } catch (err) {
      throw new Error(`${path} lacks an NVML function: ${(err as Error).message}`);
    }
    const r = nvml.#f.nvmlInit_v2!();
    if (r !== NVML_SUCCESS) throw new Error(`nvmlInit_v2: ${nvml.#errorString(r)}`);
    nvml.#discover();
    return nvml;
  }

  #call(name: string, ...args: number[]): number {
    return this.#f[name]!(...args);
  }

  #text(): string {
    const u8 = this.#out.u8.subarray(OUT_TEXT, OUT_TEXT + TEXT_BYTES);
    const end = u8.indexOf(0);
    return Buffer.from(u8.subarray(0, end < 0 ? TEXT_BYTES : end)).toString('utf8');
  }

  #discover(): void {
    const m = this.#out;
    let r = this.#call('nvmlDeviceGetCount_v2', m.addr + OUT_COUNT);
    if (r !== NVML_SUCCESS) throw new Error(`nvmlDeviceGetCount_v2: ${this.#errorString(r)}`);
    const count = m.dv.getUint32(OUT_COUNT, true);
    for (let i = 0; i < count; i++) {
      r = this.#call('nvmlDeviceGetHandleByIndex_v2', i, m.addr + OUT_HANDLE);
      if (r !== NVML_SUCCESS) throw new Error(`nvmlDeviceGetHandleByIndex_v2(${i}): ${this.#errorString(r)}`);
      const handle = C.readU64(m.dv, OUT_HANDLE);
      m.u8.fill(0, OUT_TEXT, OUT_TEXT + TEXT_BYTES);
      const uuid = this.#call('nvmlDeviceGetUUID', handle, m.addr + OUT_TEXT, TEXT_BYTES) === NVML_SUCCESS ? this.#text() : '';
      m.u8.fill(0, OUT_TEXT, OUT_TEXT + TEXT_BYTES);
      const name = this.#call('nvmlDeviceGetName', handle, m.addr + OUT_TEXT, TEXT_BYTES) === NVML_SUCCESS ? this.#text() : '';
      this.#handles.push({ handle, uuid, name });
    }
  }

  get count(): number {
    return this.#handles.length;
  }

  /** Every GPU's figures now; a GPU whose memory NVML cannot read is left out. */
  read(): GpuFigures[] {
    const m = this.#out;
    const out: GpuFigures[] = [];
    this.#handles.forEach((d, index) => {
      if (this.#call('nvmlDeviceGetMemoryInfo', d.handle, m.addr + OUT_MEMORY) !== NVML_SUCCESS) return;
      const memTotal = C.readU64(m.dv, OUT_MEMORY);
      const memUsed = C.readU64(m.dv, OUT_MEMORY + 16);
      let utilGpu = -1;
      let utilMemory = -1;
      if (this.#call('nvmlDeviceGetUtilizationRates', d.handle, m.addr + OUT_UTIL) === NVML_SUCCESS) {
        utilGpu = m.dv.getUint32(OUT_UTIL, true);
        utilMemory = m.dv.getUint32(OUT_UTIL + 4, true);
      }
      out.push({ index, uuid: d.uuid, name: d.name, memTotal, memUsed, utilGpu, utilMemory });
    });
    return out;
  }
}
