// The real CUDA driver API, bound with koffi.  Every pointer, handle and
// device address crosses as a number (uintptr_t / uint64_t): the proxy keeps
// real handles to itself and hands guests ids instead.
import koffi from 'koffi';

const SIGNATURES = {
  cuInit: 'int cuInit(unsigned int flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(uintptr_t version)',
  cuDeviceGet: 'int cuDeviceGet(uintptr_t dev, int ordinal)',
  cuDeviceGetCount: 'int cuDeviceGetCount(uintptr_t count)',
  cuDeviceGetName: 'int cuDeviceGetName(uintptr_t name, int len, int dev)',
  cuDeviceGetUuid_v2: 'int cuDeviceGetUuid_v2(uintptr_t uuid, int dev)',
  cuDeviceTotalMem_v2: 'int cuDeviceTotalMem_v2(uintptr_t bytes, int dev)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(uintptr_t value, int attrib, int dev)',
  cuDeviceGetPCIBusId: 'int cuDeviceGetPCIBusId(uintptr_t id, int len, int dev)',
  cuGetErrorName: 'int cuGetErrorName(int error, uintptr_t str)',
  cuGetErrorString: 'int cuGetErrorString(int error, uintptr_t str)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(uintptr_t pctx, int dev)',
  cuCtxCreate_v4: 'int cuCtxCreate_v4(uintptr_t pctx, uintptr_t params, unsigned int flags, int dev)',
  cuCtxDestroy_v2: 'int cuCtxDestroy_v2(uintptr_t ctx)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(uintptr_t ctx)',
  cuCtxSynchronize: 'int cuCtxSynchronize()',
  cuCtxSetFlags: 'int cuCtxSetFlags(unsigned int flags)',
  cuCtxGetFlags: 'int cuCtxGetFlags(uintptr_t flags)',
  cuCtxSetLimit: 'int cuCtxSetLimit(int limit, size_t value)',
  cuCtxGetLimit: 'int cuCtxGetLimit(uintptr_t value, int limit)',
  cuCtxGetId: 'int cuCtxGetId(uintptr_t ctx, uintptr_t id)',
  cuCtxGetApiVersion: 'int cuCtxGetApiVersion(uintptr_t ctx, uintptr_t version)',
  cuCtxGetStreamPriorityRange: 'int cuCtxGetStreamPriorityRange(uintptr_t least, uintptr_t greatest)',
  cuCtxGetCacheConfig: 'int cuCtxGetCacheConfig(uintptr_t config)',
  cuCtxSetCacheConfig: 'int cuCtxSetCacheConfig(int config)',
  cuMemAlloc_v2: 'int cuMemAlloc_v2(uintptr_t dptr, size_t bytes)',
  cuMemAllocPitch_v2: 'int cuMemAllocPitch_v2(uintptr_t dptr, uintptr_t pitch, size_t width, size_t height, unsigned int elem)',
  cuMemFree_v2: 'int cuMemFree_v2(uint64_t dptr)',
  cuMemGetInfo_v2: 'int cuMemGetInfo_v2(uintptr_t free, uintptr_t total)',
  cuMemAllocAsync: 'int cuMemAllocAsync(uintptr_t dptr, size_t bytes, uintptr_t stream)',
  cuMemFreeAsync: 'int cuMemFreeAsync(uint64_t dptr, uintptr_t stream)',
  cuMemcpyHtoD_v2: 'int cuMemcpyHtoD_v2(uint64_t dst, uintptr_t src, size_t bytes)',
  cuMemcpyDtoH_v2: 'int cuMemcpyDtoH_v2(uintptr_t dst, uint64_t src, size_t bytes)',
  cuMemcpyDtoD_v2: 'int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t bytes)',
  cuMemcpyHtoDAsync_v2: 'int cuMemcpyHtoDAsync_v2(uint64_t dst, uintptr_t src, size_t bytes, uintptr_t stream)',
  cuMemcpyDtoHAsync_v2: 'int cuMemcpyDtoHAsync_v2(uintptr_t dst, uint64_t src, size_t bytes, uintptr_t stream)',
  cuMemcpyDtoDAsync_v2: 'int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, uintptr_t stream)',
  cuMemcpy2D_v2: 'int cuMemcpy2D_v2(uintptr_t copy)',
  cuMemcpy2DAsync_v2: 'int cuMemcpy2DAsync_v2(uintptr_t copy, uintptr_t stream)',
  cuMemsetD8Async: 'int cuMemsetD8Async(uint64_t dst, uint8_t value, size_t n, uintptr_t stream)',
  cuMemsetD16Async: 'int cuMemsetD16Async(uint64_t dst, uint16_t value, size_t n, uintptr_t stream)',
  cuMemsetD32Async: 'int cuMemsetD32Async(uint64_t dst, uint32_t value, size_t n, uintptr_t stream)',
  cuMemsetD2D8Async: 'int cuMemsetD2D8Async(uint64_t dst, size_t pitch, uint8_t value, size_t w, size_t h, uintptr_t stream)',
  cuMemsetD2D16Async: 'int cuMemsetD2D16Async(uint64_t dst, size_t pitch, uint16_t value, size_t w, size_t h, uintptr_t stream)',
  cuMemsetD2D32Async: 'int cuMemsetD2D32Async(uint64_t dst, size_t pitch, uint32_t value, size_t w, size_t h, uintptr_t stream)',
  cuMemGetAllocationGranularity: 'int cuMemGetAllocationGranularity(uintptr_t granularity, uintptr_t prop, int option)',
  cuMemCreate: 'int cuMemCreate(uintptr_t handle, size_t size, uintptr_t prop, uint64_t flags)',
  cuMemRelease: 'int cuMemRelease(uint64_t handle)',
  cuMemAddressReserve: 'int cuMemAddressReserve(uintptr_t ptr, size_t size, size_t alignment, uint64_t addr, uint64_t flags)',
  cuMemAddressFree: 'int cuMemAddressFree(uint64_t ptr, size_t size)',
  cuMemMap: 'int cuMemMap(uint64_t ptr, size_t size, size_t offset, uint64_t handle, uint64_t flags)',
  cuMemUnmap: 'int cuMemUnmap(uint64_t ptr, size_t size)',
  cuMemSetAccess: 'int cuMemSetAccess(uint64_t ptr, size_t size, uintptr_t desc, size_t count)',
  cuMemGetAccess: 'int cuMemGetAccess(uintptr_t flags, uintptr_t location, uint64_t ptr)',
  cuMemGetAllocationPropertiesFromHandle: 'int cuMemGetAllocationPropertiesFromHandle(uintptr_t prop, uint64_t handle)',
  cuMemRetainAllocationHandle: 'int cuMemRetainAllocationHandle(uintptr_t handle, uintptr_t addr)',
  cuMemExportToShareableHandle: 'int cuMemExportToShareableHandle(uintptr_t shareable, uint64_t handle, int type, uint64_t flags)',
  cuMemHostRegister_v2: 'int cuMemHostRegister_v2(uintptr_t p, size_t bytes, unsigned int flags)',
  cuMemHostUnregister: 'int cuMemHostUnregister(uintptr_t p)',
  cuMemHostGetDevicePointer_v2: 'int cuMemHostGetDevicePointer_v2(uintptr_t dptr, uintptr_t p, unsigned int flags)',
  cuModuleLoadDataEx: 'int cuModuleLoadDataEx(uintptr_t module, uintptr_t image, unsigned int n, uintptr_t options, uintptr_t values)',
  cuModuleUnload: 'int cuModuleUnload(uintptr_t module)',
  cuModuleGetFunction: 'int cuModuleGetFunction(uintptr_t func, uintptr_t module, uintptr_t name)',
  cuModuleGetGlobal_v2: 'int cuModuleGetGlobal_v2(uintptr_t dptr, uintptr_t bytes, uintptr_t module, uintptr_t name)',
  cuModuleGetLoadingMode: 'int cuModuleGetLoadingMode(uintptr_t mode)',
  cuLibraryLoadData: 'int cuLibraryLoadData(uintptr_t lib, uintptr_t code, uintptr_t jitOptions, uintptr_t jitValues, unsigned int nJit, uintptr_t libOptions, uintptr_t libValues, unsigned int nLib)',
  cuLibraryUnload: 'int cuLibraryUnload(uintptr_t lib)',
  cuLibraryGetKernel: 'int cuLibraryGetKernel(uintptr_t kernel, uintptr_t lib, uintptr_t name)',
  cuLibraryGetModule: 'int cuLibraryGetModule(uintptr_t module, uintptr_t lib)',
  cuLibraryGetGlobal: 'int cuLibraryGetGlobal(uintptr_t dptr, uintptr_t bytes, uintptr_t lib, uintptr_t name)',
  cuKernelGetFunction: 'int cuKernelGetFunction(uintptr_t func, uintptr_t kernel)',
  cuKernelGetAttribute: 'int cuKernelGetAttribute(uintptr_t value, int attrib, uintptr_t kernel, int dev)',
  cuKernelSetAttribute: 'int cuKernelSetAttribute(int attrib, int value, uintptr_t kernel, int dev)',
  cuFuncGetAttribute: 'int cuFuncGetAttribute(uintptr_t value, int attrib, uintptr_t func)',
  cuFuncSetAttribute: 'int cuFuncSetAttribute(uintptr_t func, int attrib, int value)',
  cuFuncSetCacheConfig: 'int cuFuncSetCacheConfig(uintptr_t func, int config)',
  cuFuncGetParamInfo: 'int cuFuncGetParamInfo(uintptr_t func, size_t index, uintptr_t offset, uintptr_t size)',
  cuLaunchKernel: 'int cuLaunchKernel(uintptr_t f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, uintptr_t stream, uintptr_t params, uintptr_t extra)',
  cuLaunchKernelEx: 'int cuLaunchKernelEx(uintptr_t config, uintptr_t f, uintptr_t params, uintptr_t extra)',
  cuLaunchCooperativeKernel: 'int cuLaunchCooperativeKernel(uintptr_t f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, uintptr_t stream, uintptr_t params)',
  cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags: 'int cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(uintptr_t n, uintptr_t func, int blockSize, size_t dsmem, unsigned int flags)',
  cuOccupancyAvailableDynamicSMemPerBlock: 'int cuOccupancyAvailableDynamicSMemPerBlock(uintptr_t size, uintptr_t func, int numBlocks, int blockSize)',
  cuOccupancyMaxActiveClusters: 'int cuOccupancyMaxActiveClusters(uintptr_t n, uintptr_t func, uintptr_t config)',
  cuOccupancyMaxPotentialClusterSize: 'int cuOccupancyMaxPotentialClusterSize(uintptr_t n, uintptr_t func, uintptr_t config)',
  cuStreamCreateWithPriority: 'int cuStreamCreateWithPriority(uintptr_t stream, unsigned int flags, int priority)',
  cuStreamDestroy_v2: 'int cuStreamDestroy_v2(uintptr_t stream)',
  cuStreamSynchronize: 'int cuStreamSynchronize(uintptr_t stream)',
  cuStreamQuery: 'int cuStreamQuery(uintptr_t stream)',
  cuStreamIsCapturing: 'int cuStreamIsCapturing(uintptr_t stream, uintptr_t status)',
  cuStreamWaitEvent: 'int cuStreamWaitEvent(uintptr_t stream, uintptr_t event, unsigned int flags)',
  cuStreamWaitValue32_v2: 'int cuStreamWaitValue32_v2(uintptr_t stream, uint64_t addr, uint32_t value, unsigned int flags)',
  cuEventCreate: 'int cuEventCreate(uintptr_t event, unsigned int flags)',
  cuEventDestroy_v2: 'int cuEventDestroy_v2(uintptr_t event)',
  cuEventRecordWithFlags: 'int cuEventRecordWithFlags(uintptr_t event, uintptr_t stream, unsigned int flags)',
  cuEventSynchronize: 'int cuEventSynchronize(uintptr_t event)',
  cuEventQuery: 'int cuEventQuery(uintptr_t event)',
  cuEventElapsedTime_v2: 'int cuEventElapsedTime_v2(uintptr_t ms, uintptr_t start, uintptr_t end)',
  cuStreamBeginCapture_v2: 'int cuStreamBeginCapture_v2(uintptr_t stream, int mode)',
  cuStreamEndCapture: 'int cuStreamEndCapture(uintptr_t stream, uintptr_t graph)',
  cuThreadExchangeStreamCaptureMode: 'int cuThreadExchangeStreamCaptureMode(uintptr_t mode)',
  cuStreamGetCaptureInfo_v3: 'int cuStreamGetCaptureInfo_v3(uintptr_t stream, uintptr_t status, uintptr_t id, uintptr_t graph, uintptr_t deps, uintptr_t edges, uintptr_t ndeps)',
  cuGraphInstantiateWithFlags: 'int cuGraphInstantiateWithFlags(uintptr_t exec, uintptr_t graph, uint64_t flags)',
  cuGraphLaunch: 'int cuGraphLaunch(uintptr_t exec, uintptr_t stream)',
  cuGraphUpload: 'int cuGraphUpload(uintptr_t exec, uintptr_t stream)',
  cuGraphDestroy: 'int cuGraphDestroy(uintptr_t graph)',
  cuGraphGetNodes: 'int cuGraphGetNodes(uintptr_t graph, uintptr_t nodes, uintptr_t count)',
  cuGraphExecDestroy: 'int cuGraphExecDestroy(uintptr_t exec)',
  cuGraphCreate: 'int cuGraphCreate(uintptr_t graph, unsigned int flags)',
  cuGraphDestroyNode: 'int cuGraphDestroyNode(uintptr_t node)',
  cuGraphAddKernelNode_v2: 'int cuGraphAddKernelNode_v2(uintptr_t node, uintptr_t graph, uintptr_t deps, size_t n, uintptr_t params)',
  cuGraphAddMemsetNode: 'int cuGraphAddMemsetNode(uintptr_t node, uintptr_t graph, uintptr_t deps, size_t n, uintptr_t params, uintptr_t ctx)',
  cuGraphAddMemcpyNode: 'int cuGraphAddMemcpyNode(uintptr_t node, uintptr_t graph, uintptr_t deps, size_t n, uintptr_t params, uintptr_t ctx)',
  cuGraphAddEmptyNode: 'int cuGraphAddEmptyNode(uintptr_t node, uintptr_t graph, uintptr_t deps, size_t n)',
  cuGraphAddChildGraphNode: 'int cuGraphAddChildGraphNode(uintptr_t node, uintptr_t graph, uintptr_t deps, size_t n, uintptr_t child)',
  cuGraphAddEventRecordNode: 'int cuGraphAddEventRecordNode(uintptr_t node, uintptr_t graph, uintptr_t deps, size_t n, uintptr_t event)',
  cuGraphAddEventWaitNode: 'int cuGraphAddEventWaitNode(uintptr_t node, uintptr_t graph, uintptr_t deps, size_t n, uintptr_t event)',
  cuGraphExecKernelNodeSetParams_v2: 'int cuGraphExecKernelNodeSetParams_v2(uintptr_t exec, uintptr_t node, uintptr_t params)',
  cuGraphExecMemsetNodeSetParams: 'int cuGraphExecMemsetNodeSetParams(uintptr_t exec, uintptr_t node, uintptr_t params, uintptr_t ctx)',
  cuGraphExecMemcpyNodeSetParams: 'int cuGraphExecMemcpyNodeSetParams(uintptr_t exec, uintptr_t node, uintptr_t params, uintptr_t ctx)',
  cuGraphExecChildGraphNodeSetParams: 'int cuGraphExecChildGraphNodeSetParams(uintptr_t exec, uintptr_t node, uintptr_t child)',
  cuGraphExecEventRecordNodeSetEvent: 'int cuGraphExecEventRecordNodeSetEvent(uintptr_t exec, uintptr_t node, uintptr_t event)',
  cuGraphExecEventWaitNodeSetEvent: 'int cuGraphExecEventWaitNodeSetEvent(uintptr_t exec, uintptr_t node, uintptr_t event)',
  cuGraphNodeSetEnabled: 'int cuGraphNodeSetEnabled(uintptr_t exec, uintptr_t node, unsigned int enabled)',
  cuGraphNodeGetDependencies_v2: 'int cuGraphNodeGetDependencies_v2(uintptr_t node, uintptr_t deps, uintptr_t edges, uintptr_t n)',
  cuStreamBeginCaptureToGraph: 'int cuStreamBeginCaptureToGraph(uintptr_t stream, uintptr_t graph, uintptr_t deps, uintptr_t edges, size_t n, int mode)',
} as const;

type Fn = (...args: (number | bigint)[]) => number;
export type CudaDriver = { readonly [K in keyof typeof SIGNATURES]: Fn } & { readonly path: string };

const drivers = new Map<string, CudaDriver>();

/** Binds the real driver library at path (once per thread). Throws with advice when it cannot be loaded. */
export function loadCudaDriver(path: string): CudaDriver {
  const known = drivers.get(path);
  if (known) return known;
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(path);
  } catch (err) {
    throw new Error(`cannot load the CUDA driver library ${path}: ${(err as Error).message}; pass --libcuda with the path of the real libcuda.so.1`);
  }
  const out: Record<string, unknown> = { path };
  for (const [name, sig] of Object.entries(SIGNATURES)) {
    try {
      out[name] = lib.func(sig);
    } catch (err) {
      throw new Error(`the CUDA driver at ${path} lacks ${name} (${(err as Error).message}); vgpu-proxy needs driver 580 or newer`);
    }
  }
  const driver = out as CudaDriver;
  drivers.set(path, driver);
  return driver;
}

export const CUDA_SUCCESS = 0;
export const CUDA_ERROR_INVALID_VALUE = 1;
export const CUDA_ERROR_OUT_OF_MEMORY = 2;
export const CUDA_ERROR_NOT_INITIALIZED = 3;
export const CUDA_ERROR_NO_DEVICE = 100;
export const CUDA_ERROR_INVALID_DEVICE = 101;
export const CUDA_ERROR_INVALID_IMAGE = 200;
export const CUDA_ERROR_INVALID_CONTEXT = 201;
export const CUDA_ERROR_INVALID_HANDLE = 400;
export const CUDA_ERROR_NOT_FOUND = 500;
export const CUDA_ERROR_NOT_READY = 600;
export const CUDA_ERROR_NOT_PERMITTED = 800;
export const CUDA_ERROR_NOT_SUPPORTED = 801;
export const CUDA_ERROR_UNKNOWN = 999;
