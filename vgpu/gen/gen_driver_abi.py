#!/usr/bin/env python3
"""gen_driver_abi.py — generate libvgpu's driver ABI from NVIDIA's own headers.

Inputs
  --include DIR    CUDA 13.0 headers (cuda.h, cudaTypedefs.h, the interop headers);
                   tools/fetch-cuda-headers.sh provides them.
  --exports FILE   the exports of the real libcuda.so.1 (`nm -D --defined-only`):
                   `T name` rows are functions, `B` rows (debugger data) are ignored.
  --headerless FILE  exported functions that no public header declares, one
                   `name  reason` row each (reviewed by hand; names, never prototypes).
  --out DIR        where the generated files go.

Outputs (in --out)
  stubs.c          one weak definition per exported function, with the header's
                   prototype, answering vgpu_unsupported("name").
  libvgpu.map      linker version script exporting exactly the exported functions.
  procaddr_table.c the table cuGetProcAddress searches: (base name, CUDA version,
                   stream variant) -> function, from the PFN typedefs of
                   cudaTypedefs.h (each mapping proven at compile time) and of
                   the interop typedef headers (mapped by the same rule).
  error_names.c    every CUresult enumerator and its name.

Where prototypes come from
  cuda.h is preprocessed with -D__CUDA_API_VERSION_INTERNAL: then its renaming
  macros (cuMemAlloc -> cuMemAlloc_v2, cuMemcpyHtoD -> cuMemcpyHtoD_v2_ptds, ...)
  are undone at its end and the legacy ABIs are declared too, so each exported
  name appears with its own prototype. Exports that cuda.h lacks must be declared
  by one of the interop headers (cudaGL.h, cudaEGL.h, cudaVDPAU.h,
  cudaProfilerTypedefs.h); those need system GL/EGL/VDPAU headers to compile, so
  their stubs take no parameters (the comment at the top of stubs.c says why). Exports declared
  nowhere must be listed in --headerless; anything else fails the run.

Stdlib only; needs a C preprocessor (`$CC`, default `cc`).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Interop headers that declare exported functions cuda.h does not; they include
# system headers (GL/gl.h, EGL/egl.h, vdpau/vdpau.h) and cudaProfiler.h that may
# be absent here. Empty stand-ins for those are put on the include path *after*
# the system folders (-idirafter), so present headers win; only names and
# prototype text are read from these, never compiled.
COMPANION_HEADERS = ("cudaGL.h", "cudaEGL.h", "cudaVDPAU.h")
COMPANION_TYPEDEF_HEADERS = ("cudaGLTypedefs.h", "cudaEGLTypedefs.h", "cudaVDPAUTypedefs.h", "cudaProfilerTypedefs.h")
FOREIGN_INCLUDES = ("GL/gl.h", "EGL/egl.h", "EGL/eglext.h", "vdpau/vdpau.h", "cudaProfiler.h")

IDENT = re.compile(r"[A-Za-z_]\w*")
PFN_NAME = re.compile(r"^PFN_(?P<base>cu\w+?)_v(?P<version>\d+)(?:_(?P<variant>ptds|ptsz))?$")
C_KEYWORDS = {
    "const", "volatile", "restrict", "unsigned", "signed", "int", "char", "short", "long",
    "float", "double", "void", "struct", "union", "enum", "__restrict", "__restrict__",
}


class GenError(Exception):
    """A failure the user must act on; the message says what to do."""


@dataclass
class Decl:
    name: str
    ret: str          # return type text, e.g. "CUresult"
    params: str       # parameter list text inside the parentheses
    text: str         # whole normalized declaration, without the ';'


@dataclass
class Pfn:
    typedef: str      # PFN_cuMemAlloc_v3020
    base: str         # cuMemAlloc
    version: int      # 3020
    variant: int      # 0 default, 1 per-thread (ptds/ptsz)
    suffix: str       # "", "ptds" or "ptsz"
    header: str = "cudaTypedefs.h"
    proven: bool = True   # False: its types need GL/EGL/VDPAU headers, no compile-time proof


@dataclass
class Mapping:
    mapped: list = field(default_factory=list)     # (Pfn, export name)
    unmapped: list = field(default_factory=list)   # (Pfn, reason)


# --------------------------------------------------------------------------- input

def preprocess(cc: list[str], include: Path, header: str, extra: list[str]) -> str:
    cmd = cc + ["-E", "-P", "-D__CUDA_API_VERSION_INTERNAL", f"-I{include}"] + extra + [str(include / header)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise GenError(f"cannot run the C preprocessor {cc[0]!r}: {exc}; set CC to a C compiler") from exc
    if res.returncode != 0:
        raise GenError(f"preprocessing {header} failed ({shlex.join(cmd)}):\n{res.stderr.strip()}")
    return res.stdout


def split_top_level(text: str) -> list[tuple[str, bool]]:
    """Split preprocessed C into file-scope statements.

    Returns (statement, has_body) pairs: statements end at a ';' outside any
    braces, or at the '}' closing a function body (has_body True).
    """
    out: list[tuple[str, bool]] = []
    buf: list[str] = []
    # Directives that survive -E (#pragma) are not statements.
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    depth = 0
    body_start = False
    for ch in text:
        if ch == "{":
            if depth == 0:
                body_start = "".join(buf).rstrip().endswith(")")
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and body_start:
                buf.append(ch)
                out.append(("".join(buf), True))
                buf, body_start = [], False
                continue
        if ch == ";" and depth == 0:
            out.append(("".join(buf), False))
            buf = []
            continue
        buf.append(ch)
    return out


def find_call_paren(stmt: str) -> int:
    """Index of the '(' that opens the parameter list of a function declaration."""
    m = re.search(r"\b(cu\w+)\s*\(", stmt)
    return -1 if m is None else m.end() - 1


def matching_paren(s: str, i: int) -> int:
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


def parse_function_decls(text: str) -> dict[str, Decl]:
    """File-scope function declarations `RET name(PARAMS);` of cu* functions."""
    decls: dict[str, Decl] = {}
    for stmt, has_body in split_top_level(text):
        s = " ".join(stmt.split())
        if has_body or s.startswith("typedef") or "{" in s:
            continue
        p = find_call_paren(s)
        if p < 0:
            continue
        q = matching_paren(s, p)
        if q < 0 or s[q + 1:].strip():
            continue
        head = s[:p].rstrip()
        m = re.match(r"^(?P<ret>.*?)\b(?P<name>cu\w+)$", head)
        if not m or not m.group("ret").strip():
            continue
        ret = " ".join(m.group("ret").replace("extern ", " ").split())
        if not re.fullmatch(r"[\w\s\*]+", ret):
            continue
        name = m.group("name")
        decls.setdefault(name, Decl(name, ret, s[p + 1:q].strip(), s))
    return decls


def parse_pfn_typedefs(text: str) -> list[Pfn]:
    pfns: list[Pfn] = []
    seen: set[str] = set()
    for m in re.finditer(r"\btypedef\b[^;]*?\(\s*(?:\w+\s+)*\*\s*(PFN_\w+)\s*\)", text):
        name = m.group(1)
        if name in seen:
            continue
        seen.add(name)
        pm = PFN_NAME.match(name)
        if not pm:
            raise GenError(f"PFN typedef {name} does not read as PFN_<name>_v<version>[_ptds|_ptsz]")
        suffix = pm.group("variant") or ""
        pfns.append(Pfn(name, pm.group("base"), int(pm.group("version")), 1 if suffix else 0, suffix))
    return pfns


def parse_enum(text: str, typedef_name: str) -> list[str]:
    m = re.search(r"typedef\s+enum\s+\w*\s*\{(?P<body>[^}]*)\}\s*" + re.escape(typedef_name) + r"\s*;", text)
    if not m:
        raise GenError(f"enum {typedef_name} not found in the preprocessed cuda.h")
    names = []
    for item in m.group("body").split(","):
        item = item.strip()
        if item:
            names.append(IDENT.match(item).group(0))
    return names


def read_exports(path: Path) -> list[str]:
    names = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[0] not in ("T", "B"):
            raise GenError(f"{path}:{n}: expected 'T name' or 'B name', got {line!r}")
        if parts[0] == "T":
            names.append(parts[1])
    if len(set(names)) != len(names):
        raise GenError(f"{path}: duplicate function names")
    return names


def read_headerless(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise GenError(f"{path}:{n}: '{name}' needs a reason after the name")
        out[name] = reason.strip()
    return out


# --------------------------------------------------------------------------- params

def split_params(params: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in params:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def param_names(decl: Decl) -> list[str]:
    """The names of a declaration's parameters; GenError if one is unnamed."""
    params = split_params(decl.params)
    if params in ([], ["void"]):
        return []
    names = []
    for p in params:
        if p == "...":
            raise GenError(f"{decl.name}: variadic functions are not supported by the stub generator")
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", p)          # function pointer: (*name)(...)
        if fp:
            names.append(fp.group(1))
            continue
        idents = IDENT.findall(re.sub(r"\[.*?\]", "", p))
        if len(idents) < 2 or idents[-1] in C_KEYWORDS:
            raise GenError(f"{decl.name}: parameter {p!r} has no name in the header")
        names.append(idents[-1])
    return names


# --------------------------------------------------------------------------- PFN -> export

def export_suffix_order(base: str, exports: set[str], variant: int) -> list[str]:
    """Exports that are ABIs of `base`, oldest first: base, base_v2, base_v3, ...

    variant 1 picks the per-thread ones: base_ptds / base_v2_ptds / base_ptsz ...
    """
    if variant:
        pat = re.compile(r"^" + re.escape(base) + r"(?:_v(\d+))?_(ptds|ptsz)$")
    else:
        pat = re.compile(r"^" + re.escape(base) + r"(?:_v(\d+))?$")
    found = []
    for e in exports:
        m = pat.match(e)
        if m:
            found.append((int(m.group(1) or 1), e))
    found.sort()
    return [e for _, e in found]


def map_pfns(pfns: list[Pfn], exports: set[str]) -> Mapping:
    """Map each PFN typedef to the exported symbol that implements that ABI.

    Rule: for one base name and one stream variant, the PFN versions in
    ascending order correspond one to one to the exported ABIs in ascending
    `_vN` order (no suffix = 1). Per-thread PFNs map the same way onto the
    `_ptds`/`_ptsz` exports, the suffix agreeing with the typedef's. When the
    counts differ there is no honest pairing: the group is left out, reported,
    and must be resolved here. The compile-time proof in procaddr_table.c
    (type compatibility of PFN and symbol) catches a wrong pairing.
    """
    res = Mapping()
    groups: dict[tuple[str, int], list[Pfn]] = {}
    for p in pfns:
        groups.setdefault((p.base, p.variant), []).append(p)
    for (base, variant), group in sorted(groups.items()):
        group.sort(key=lambda p: p.version)
        if len({p.version for p in group}) != len(group):
            raise GenError(f"{base}: two PFN typedefs of one version: {[p.typedef for p in group]}")
        cands = export_suffix_order(base, exports, variant)
        if variant:
            cands = [c for c in cands if c.endswith("_" + group[0].suffix)]
            if any(p.suffix != group[0].suffix for p in group):
                raise GenError(f"{base}: PFN typedefs mix _ptds and _ptsz")
        if not cands:
            for p in group:
                res.unmapped.append((p, "no such export in libcuda 580"))
            continue
        if len(cands) != len(group):
            for p in group:
                res.unmapped.append((p, f"{len(group)} PFN versions but exports {cands}"))
            continue
        for p, sym in zip(group, cands):
            res.mapped.append((p, sym))
    return res


# --------------------------------------------------------------------------- output

BANNER = "/* Generated by vgpu/gen/gen_driver_abi.py from the CUDA 13.0 headers. Do not edit. */\n"


def write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def render_stubs(exports: list[str], decls: dict[str, Decl], foreign: dict[str, str],
                 headerless: dict[str, str]) -> str:
    out = [BANNER, """/*
 * stubs.c: a weak definition of every function the real libcuda.so.1 (580)
 * exports. The files of libvgpu that implement a function define it strongly;
 * these cover the rest, answering CUDA_ERROR_NOT_SUPPORTED through
 * vgpu_unsupported(), which logs the name once.
 *
 * Functions whose prototype is in cuda.h have exactly that prototype (the
 * compiler checks it against cuda.h). The others (STUB_FOREIGN: declared in
 * cudaGL.h / cudaEGL.h / cudaVDPAU.h / cudaProfiler.h, which need the system
 * GL, EGL and VDPAU headers; STUB_HEADERLESS: declared in no public header)
 * take no parameters: on x86-64 System V the caller owns the argument
 * registers and stack, so a function that reads none of its arguments is safe
 * to call with any. Their real prototype is quoted above each.
 */
#include <cuda.h>

#include "log.h"

/* Exported even when the library builds with -fvisibility=hidden; the
 * version script decides what leaves the library. */
#define VGPU_STUB __attribute__((weak, visibility("default")))
"""]
    for name in sorted(exports):
        if name in decls:
            d = decls[name]
            body = "".join(f"    (void){n};\n" for n in param_names(d))
            out.append(f"\nVGPU_STUB {d.ret} {name}({d.params or 'void'})\n{{\n{body}"
                       f"    return vgpu_unsupported(\"{name}\");\n}}\n")
        elif name in foreign:
            out.append(f"\n/* STUB_FOREIGN: {foreign[name]} */\n"
                       f"VGPU_STUB CUresult {name}(void);\nVGPU_STUB CUresult {name}(void)\n{{\n"
                       f"    return vgpu_unsupported(\"{name}\");\n}}\n")
        else:
            out.append(f"\n/* STUB_HEADERLESS: {headerless[name]} */\n"
                       f"VGPU_STUB CUresult {name}(void);\nVGPU_STUB CUresult {name}(void)\n{{\n"
                       f"    return vgpu_unsupported(\"{name}\");\n}}\n")
    return "".join(out)


def render_map(exports: list[str]) -> str:
    lines = ["/* Generated by vgpu/gen/gen_driver_abi.py. Do not edit.",
             " * The real libcuda.so.1 (580.159.04) defines no symbol versions: it has no",
             " * .gnu.version_d section and its functions are unversioned (readelf -V,",
             " * --dyn-syms). So no version node here either: the script only limits",
             " * the exported symbols to the driver's functions. */",
             "{", "  global:"]
    lines += [f"    {n};" for n in sorted(exports)]
    lines += ["  local:", "    *;", "};", ""]
    return "\n".join(lines)


def render_procaddr(mapping: Mapping) -> str:
    rows = sorted(mapping.mapped, key=lambda ps: (ps[0].base.encode(), ps[0].variant, ps[0].version))
    out = [BANNER, """/*
 * procaddr_table.c: what cuGetProcAddress hands out. One row per PFN typedef
 * of cudaTypedefs.h and of the interop typedef headers (CUDA 13.0) that names
 * an ABI the 580 driver exports, sorted by (name as strcmp orders it, stream
 * variant, version) for binary search. Each cudaTypedefs.h row is proven
 * below: the PFN typedef must be the type of the function's address, or this
 * file does not compile.
 */
#include <cuda.h>
#include <cudaTypedefs.h>
#include <stddef.h>

#include "procaddr_table.h"

"""]
    for p, sym in rows:
        if p.proven:
            out.append(f"_Static_assert(__builtin_types_compatible_p({p.typedef}, __typeof__(&{sym})),\n"
                       f"               \"{p.typedef} is not the type of {sym}\");\n")
    unproven = sorted({sym: p for p, sym in rows if not p.proven}.items())
    if unproven:
        out.append("\n/*\n * Interop functions (OpenGL, EGL, VDPAU, profiler): their PFN typedefs and\n"
                   " * prototypes need the system GL/EGL/VDPAU headers, so these rows are mapped\n"
                   " * by the rule alone, and declared the way stubs.c defines them.\n */\n")
        for sym, p in unproven:
            out.append(f"CUresult {sym}(void); /* {p.header}: {p.typedef} */\n")
    out.append("\nconst struct vgpu_procaddr_entry vgpu_procaddr_table[] = {\n")
    for p, sym in rows:
        out.append(f"    {{ \"{p.base}\", {p.version}, {p.variant}, (void *)&{sym} }},\n")
    out.append("};\n\nconst size_t vgpu_procaddr_table_len = sizeof vgpu_procaddr_table / sizeof vgpu_procaddr_table[0];\n")
    return "".join(out)


def render_error_names(names: list[str]) -> str:
    out = [BANNER, """/*
 * error_names.c: every CUresult enumerator of cuda.h (13.0) with its name,
 * ascending by code; the fallback of cuGetErrorName.
 */
#include <cuda.h>
#include <stddef.h>

#include "error_names.h"

/* vgpu_error_name() searches the table by halves, so it must ascend. It
 * keeps cuda.h's order, which does; these asserts fail the build if a
 * future header's does not. */
"""]
    for a, b in zip(names, names[1:]):
        out.append(f"_Static_assert({a} < {b}, \"{a} < {b}\");\n")
    out.append("\nconst struct vgpu_error_name vgpu_error_names[] = {\n")
    for n in names:
        out.append(f"    {{ {n}, \"{n}\" }},\n")
    out.append("""};

const size_t vgpu_error_names_len = sizeof vgpu_error_names / sizeof vgpu_error_names[0];

const char *vgpu_error_name(int code)
{
    size_t lo = 0, hi = vgpu_error_names_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vgpu_error_names[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < vgpu_error_names_len && vgpu_error_names[lo].code == code)
        return vgpu_error_names[lo].name;
    return NULL;
}
""")
    return "".join(out)


# --------------------------------------------------------------------------- main

def companion_headers(cc: list[str], include: Path) -> tuple[dict[str, str], list[Pfn]]:
    """What the interop headers add to cuda.h and cudaTypedefs.h.

    Returns the function names they declare (-> "header: prototype") and their
    PFN typedefs (marked unproven: the types they use need the system GL, EGL
    and VDPAU headers, so procaddr_table.c cannot check them).
    """
    decls: dict[str, str] = {}
    pfns: list[Pfn] = []
    with tempfile.TemporaryDirectory(prefix="vgpu-gen-") as shim:
        for rel in FOREIGN_INCLUDES:
            p = Path(shim) / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("/* empty stand-in: only names are read from the interop headers */\n")
        extra = ["-idirafter", shim]
        for hdr in COMPANION_HEADERS:
            if not (include / hdr).exists():
                continue
            for name, d in parse_function_decls(preprocess(cc, include, hdr, extra)).items():
                decls.setdefault(name, f"{hdr}: {d.text}")
        for hdr in COMPANION_TYPEDEF_HEADERS:
            if not (include / hdr).exists():
                continue
            for p in parse_pfn_typedefs(preprocess(cc, include, hdr, extra)):
                p.header, p.proven = hdr, False
                pfns.append(p)
                if p.variant == 0:
                    decls.setdefault(p.base, f"{hdr}: {p.typedef}")
    return decls, pfns


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--include", required=True, type=Path)
    ap.add_argument("--exports", required=True, type=Path)
    ap.add_argument("--headerless", type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    cc = shlex.split(os.environ.get("CC", "cc"))

    for h in ("cuda.h", "cudaTypedefs.h"):
        if not (args.include / h).is_file():
            raise GenError(f"{args.include}/{h} not found: run tools/fetch-cuda-headers.sh "
                           "or pass --include a folder holding the CUDA 13.0 headers")

    exports = read_exports(args.exports)
    headerless = read_headerless(args.headerless)
    cuda_i = preprocess(cc, args.include, "cuda.h", [])
    decls = parse_function_decls(cuda_i)
    bad_ret = [n for n in exports if n in decls and decls[n].ret != "CUresult"]
    if bad_ret:
        # A stub answers CUDA_ERROR_NOT_SUPPORTED; that only means something
        # for functions that return a CUresult.
        raise GenError("exports whose cuda.h return type is not CUresult (give them a hand-written "
                       "strong definition and teach the generator to skip them): "
                       + ", ".join(f"{n} -> {decls[n].ret}" for n in bad_ret))

    missing = [n for n in exports if n not in decls]
    foreign, foreign_pfns = companion_headers(cc, args.include)
    foreign = {n: foreign[n] for n in missing if n in foreign}
    undeclared = [n for n in missing if n not in foreign and n not in headerless]
    if undeclared:
        raise GenError(f"{len(undeclared)} exports are declared by no header in {args.include} "
                       f"and not listed in {args.headerless or '--headerless'}:\n  "
                       + "\n  ".join(undeclared)
                       + "\nCheck the headers are CUDA 13.0; if a function truly has no public "
                         "prototype, add it to the headerless list with the reason.")
    stale = [n for n in headerless if n not in exports or n in decls or n in foreign]
    if stale:
        raise GenError(f"{args.headerless}: names that are not headerless exports (remove them): "
                       + ", ".join(stale))

    td_i = preprocess(cc, args.include, "cudaTypedefs.h", [])
    pfns = parse_pfn_typedefs(td_i)
    # Sanity: both the unconditional and the __CUDA_API_VERSION_INTERNAL-only
    # typedefs were seen (the latter carry the legacy ABIs, e.g. cuMemAlloc_v2000).
    raw = (args.include / "cudaTypedefs.h").read_text()
    raw_names = set(re.findall(r"\b(PFN_cu\w+)\s*\)", raw))
    seen = {p.typedef for p in pfns}
    if raw_names - seen:
        raise GenError("PFN typedefs of cudaTypedefs.h lost in preprocessing: " + ", ".join(sorted(raw_names - seen)))
    core = {p.typedef for p in pfns}
    foreign_pfns = [p for p in foreign_pfns if p.typedef not in core]
    # Interop PFNs may only name interop exports: those whose stubs take no
    # parameters and which procaddr_table.c declares that way.
    mapping = map_pfns(pfns + foreign_pfns, set(exports))
    for p, sym in mapping.mapped:
        if not p.proven and sym not in foreign:
            raise GenError(f"{p.typedef} ({p.header}) maps to {sym}, which cuda.h declares: "
                           "it would escape the compile-time proof")

    error_names = parse_enum(cuda_i, "CUresult")

    args.out.mkdir(parents=True, exist_ok=True)
    write_if_changed(args.out / "stubs.c", render_stubs(exports, decls, foreign, headerless))
    write_if_changed(args.out / "libvgpu.map", render_map(exports))
    write_if_changed(args.out / "procaddr_table.c", render_procaddr(mapping))
    write_if_changed(args.out / "error_names.c", render_error_names(error_names))

    if not args.quiet:
        print(f"gen_driver_abi: {len(exports)} exported functions: {len(exports) - len(missing)} "
              f"prototypes from cuda.h, {len(foreign)} from interop headers (no-parameter stubs), "
              f"{len(missing) - len(foreign)} headerless")
        unproven = sum(1 for p, _ in mapping.mapped if not p.proven)
        print(f"gen_driver_abi: {len(pfns)} PFN typedefs in cudaTypedefs.h, {len(foreign_pfns)} in the interop "
              f"typedef headers: {len(mapping.mapped)} mapped into the cuGetProcAddress table "
              f"({len(mapping.mapped) - unproven} proven by type, {unproven} interop by rule only), "
              f"{len(mapping.unmapped)} left out:")
        for p, why in mapping.unmapped:
            print(f"  {p.typedef} ({p.header}): {why}")
        print(f"gen_driver_abi: {len(error_names)} CUresult names")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except GenError as exc:
        print(f"gen_driver_abi: error: {exc}", file=sys.stderr)
        sys.exit(1)
