#!/usr/bin/env python3
"""Generates proxy/wire/cuda-abi.ts: the layout of the cuda.h structures the
proxy builds for the driver, and the cuda.h constants it checks.

The C compiler lays the structures out (offsetof/sizeof in a probe program
built against the pinned CUDA 13.0 headers), so the proxy never keeps a
struct offset by hand.  `--check` compares instead of writing (the test suite
runs it).

Usage: tools/gen-cuda-abi.py [--check] [--cc CC] [--include DIR]
       (DIR: the CUDA headers; default build/cuda/include, which
       tools/fetch-cuda-headers.sh fills)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "proxy", "wire", "cuda-abi.ts")

# struct type -> field paths (a path names a member of a nested struct with '.').
STRUCTS = {
    "CUmemAllocationProp": [
        "type",
        "requestedHandleTypes",
        "location.type",
        "location.id",
        "win32HandleMetaData",
        "allocFlags.compressionType",
        "allocFlags.gpuDirectRDMACapable",
        "allocFlags.usage",
    ],
    "CUmemAccessDesc": ["location.type", "location.id", "flags"],
    "CUmemLocation": ["type", "id"],
    "CUDA_KERNEL_NODE_PARAMS": [
        "func", "gridDimX", "gridDimY", "gridDimZ", "blockDimX", "blockDimY", "blockDimZ",
        "sharedMemBytes", "kernelParams", "extra", "kern", "ctx",
    ],
    "CUDA_MEMSET_NODE_PARAMS": ["dst", "pitch", "value", "elementSize", "width", "height"],
    "CUDA_MEMCPY3D": [
        "srcXInBytes", "srcY", "srcZ", "srcLOD", "srcMemoryType", "srcHost", "srcDevice", "srcArray", "srcPitch", "srcHeight",
        "dstXInBytes", "dstY", "dstZ", "dstLOD", "dstMemoryType", "dstHost", "dstDevice", "dstArray", "dstPitch", "dstHeight",
        "WidthInBytes", "Height", "Depth",
    ],
    "CUDA_MEMCPY2D": [
        "srcXInBytes", "srcY", "srcMemoryType", "srcHost", "srcDevice", "srcArray", "srcPitch",
        "dstXInBytes", "dstY", "dstMemoryType", "dstHost", "dstDevice", "dstArray", "dstPitch",
        "WidthInBytes", "Height",
    ],
    "CUlaunchConfig": [
        "gridDimX", "gridDimY", "gridDimZ", "blockDimX", "blockDimY", "blockDimZ",
        "sharedMemBytes", "hStream", "attrs", "numAttrs",
    ],
    "CUlaunchAttribute": ["id", "pad", "value"],
}

CONSTANTS = [
    "CU_MEM_ALLOCATION_TYPE_PINNED",
    "CU_MEM_LOCATION_TYPE_DEVICE",
    "CU_MEM_HANDLE_TYPE_NONE",
    "CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR",
    "CU_MEM_HANDLE_TYPE_FABRIC",
    "CU_MEM_ACCESS_FLAGS_PROT_NONE",
    "CU_MEM_ACCESS_FLAGS_PROT_READ",
    "CU_MEM_ACCESS_FLAGS_PROT_READWRITE",
    "CU_MEM_ALLOC_GRANULARITY_MINIMUM",
    "CU_MEM_ALLOC_GRANULARITY_RECOMMENDED",
    "CU_MEMORYTYPE_HOST",
    "CU_MEMORYTYPE_DEVICE",
    "CU_MEMHOSTREGISTER_PORTABLE",
    "CU_MEMHOSTREGISTER_DEVICEMAP",
    "CU_CTX_MAP_HOST",
    "CU_LIMIT_STACK_SIZE",
    "CU_LIMIT_MALLOC_HEAP_SIZE",
    "CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT",
    "CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR",
    "CU_EVENT_DISABLE_TIMING",
    "CU_STREAM_CAPTURE_STATUS_NONE",
    "CU_STREAM_WAIT_VALUE_GEQ",
    "CU_JIT_WALL_TIME",
    "CU_JIT_INFO_LOG_BUFFER",
    "CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES",
    "CU_JIT_ERROR_LOG_BUFFER",
    "CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES",
    "CU_JIT_GLOBAL_SYMBOL_NAMES",
    "CU_JIT_GLOBAL_SYMBOL_ADDRESSES",
    "CU_JIT_REFERENCED_KERNEL_NAMES",
    "CU_JIT_REFERENCED_VARIABLE_NAMES",
    "CU_JIT_NUM_OPTIONS",
    "CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE",
    "CU_LIBRARY_BINARY_IS_PRESERVED",
    # CUlaunchAttributeID
    "CU_LAUNCH_ATTRIBUTE_IGNORE",
    "CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW",
    "CU_LAUNCH_ATTRIBUTE_COOPERATIVE",
    "CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY",
    "CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION",
    "CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE",
    "CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION",
    "CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT",
    "CU_LAUNCH_ATTRIBUTE_PRIORITY",
    "CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP",
    "CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN",
    "CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION",
    "CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT",
    "CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE",
    "CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT",
    "CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING",
    "CU_LAUNCH_PARAM_BUFFER_POINTER_AS_INT",
    "CU_LAUNCH_PARAM_BUFFER_SIZE_AS_INT",
    "CU_LAUNCH_PARAM_END_AS_INT",
]


def ts_name(path: str) -> str:
    head, *rest = path.split(".")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def probe_source() -> str:
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <cuda.h>", "int main(void) {", 'printf("{\\"structs\\":{");']
    for i, (name, fields) in enumerate(STRUCTS.items()):
        sep = "," if i else ""
        lines.append(f'printf("{sep}\\"{name}\\":{{\\"size\\":%zu,\\"fields\\":{{", sizeof({name}));')
        for j, field in enumerate(fields):
            fsep = "," if j else ""
            lines.append(f'printf("{fsep}\\"{field}\\":[%zu,%zu]", offsetof({name}, {field}), sizeof((({name} *)0)->{field}));')
        lines.append('printf("}}");')
    lines.append('printf("},\\"constants\\":{");')
    for i, name in enumerate(CONSTANTS):
        sep = "," if i else ""
        lines.append(f'printf("{sep}\\"{name}\\":%lld", (long long)({name}));')
    lines.append('printf("}}\\n"); return 0; }')
    return "\n".join(lines) + "\n"


def run_probe(cc: str, include: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        exe = os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(probe_source())
        subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-I", include, src, "-o", exe], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def render(layout: dict) -> str:
    out = [
        "// Generated by tools/gen-cuda-abi.py from the CUDA 13.0 cuda.h. Do not edit.",
        "// Offsets and sizes are in bytes, as the C compiler laid the structs out.",
        "",
    ]
    for name, value in layout["constants"].items():
        out.append(f"export const {name} = {value};")
    out.append("")
    for name, info in layout["structs"].items():
        out.append(f"/** {name} */")
        out.append(f"export const {name} = {{")
        out.append(f"  SIZE: {info['size']},")
        for field, (offset, size) in info["fields"].items():
            out.append(f"  {ts_name(field)}: {offset}, // {field}, {size} bytes")
        out.append("} as const;")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="fail when proxy/wire/cuda-abi.ts is out of date")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--include", default=os.path.join(ROOT, "build", "cuda", "include"))
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.include, "cuda.h")):
        print(f"{args.include}/cuda.h not found: run tools/fetch-cuda-headers.sh (npm run build does) or pass --include", file=sys.stderr)
        return 2
    rendered = render(run_probe(args.cc, args.include))
    if args.check:
        current = open(OUTPUT).read() if os.path.exists(OUTPUT) else ""
        if current != rendered:
            print(f"{OUTPUT} is out of date with cuda.h: run tools/gen-cuda-abi.py", file=sys.stderr)
            return 1
        print("cuda abi up to date")
        return 0
    with open(OUTPUT, "w") as f:
        f.write(rendered)
    print(f"wrote {os.path.relpath(OUTPUT, ROOT)}: {len(STRUCTS)} structs, {len(CONSTANTS)} constants")
    return 0


if __name__ == "__main__":
    sys.exit(main())
