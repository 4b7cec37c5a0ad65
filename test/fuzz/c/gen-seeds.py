#!/usr/bin/env python3
"""gen-seeds.py — writes the seed corpora of the C fuzz targets (deterministic):

  test/fuzz/corpus/agent-proto/seed-*   mode byte + frames as the shim sends them (agent/proto.h)
  test/fuzz/corpus/vgpu-reply/seed-*    scripts of vgpu-reply.c (guest calls, proxy answers)

Run from the repository root: python3 test/fuzz/c/gen-seeds.py
"""
import os
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def frame(typ, rid, kv, data=b""):
    body = b"".join(k.encode() + b"=" + v.encode() + b"\0" for k, v in kv) + b"\0" + data
    return struct.pack("<IHHI", len(body) + 8, typ, 0, rid) + body


CREATE = [("cid", "c1"), ("rootfs-ro", "xvdb"), ("rootfs-ro-type", "erofs"), ("rootfs-rw", "xvdc"),
          ("arg", "/bin/sh"), ("arg", "-c"), ("arg", "echo hi"), ("env", "PATH=/usr/bin:/bin"),
          ("cwd", "/"), ("uid", "0"), ("gid", "0"), ("gids", "1,2,3"), ("terminal", "0"), ("stdin", "1"),
          ("hostname", "pod"), ("mount", "proc|proc|/proc|nosuid,noexec,nodev"),
          ("mount", "tmpfs|tmpfs|/dev|nosuid,strictatime,mode=755,size=65536k"),
          ("mount", "bind|file:hosts|/etc/hosts|rbind,ro"), ("mount", "bind|guest:/dev/xen|/dev/xen|rbind"),
          ("mount", "cgroup|cgroup|/sys/fs/cgroup|ro")]
EXEC = [("cid", "c1"), ("eid", "e1"), ("arg", "ls"), ("env", "PATH=/a::/b:"), ("terminal", "1")]

AGENT = {
    "ping": (0x1e, [frame(10, 1, [])]),
    "file-create-start": (0x1e, [frame(9, 2, [("cid", "c1"), ("name", "hosts")], b"127.0.0.1 localhost\n"),
                                 frame(1, 3, CREATE), frame(2, 4, [("cid", "c1")])]),
    "lifecycle": (0x3e, [frame(1, 1, CREATE), frame(2, 2, [("cid", "c1")]), frame(3, 3, EXEC),
                         frame(5, 0, [("cid", "c1"), ("eid", ""), ("eof", "1")], b"input"),
                         frame(6, 4, [("cid", "c1"), ("eid", "e1"), ("cols", "100"), ("rows", "30")]),
                         frame(4, 5, [("cid", "c1"), ("eid", ""), ("sig", "15"), ("all", "1")]),
                         frame(8, 6, [("cid", "c1")]), frame(12, 7, [("cid", "c1")]),
                         frame(11, 8, [("cid", "c1"), ("eid", "e1")]), frame(7, 9, [("cid", "c1")])]),
    "small-pieces": (0x12, [frame(10, 1, []), frame(1, 2, CREATE[:6]), frame(99, 3, [("x", "y")])]),
    "wrap": (0x5e, [struct.pack("<I", 0xfffffff0), frame(10, 1, []), frame(10, 2, [])]),
    "hostile-index": (0x9e, [frame(10, 1, []), bytes([0]) + struct.pack("<I", 0x7fffffff)]),
}


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v & 0xffffffff)


def answer(dseq=0, result=0, payload=b""):
    return u8(0) + u8(0) + struct.pack("<b", dseq) + struct.pack("<i", result) + u16(len(payload)) + payload


def call(op=3, req_len=16, cap=64, flags=0):
    return u8(0) + u16(op) + u16(req_len) + u16(cap) + u8(flags)


VGPU = {
    "call-answer": call() + answer(payload=bytes(range(32))),
    "call-short-cap": call(cap=4) + answer(payload=b"x" * 100),
    "call-error": call(cap=0) + answer(result=1),
    "send-call": u8(1) + u16(7) + u16(100) + call() + answer(payload=b"abcd"),
    "arena": u8(2) + u32(4096) + u8(1) + u8(3) + answer(),
    "wrong-seq": call() + answer(dseq=3),
    "raw": call() + u8(1) + u16(16) + u32(16) + u32(1) + u32(1) + u32(0) + u32(16),
    "poke-closed": call() + u8(2) + u8(2) + u32(2),
    "many": (call() + answer(payload=b"p" * 900)) * 40,
}


def write(dirname, name, data):
    d = os.path.join(ROOT, "test", "fuzz", "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


for name, (mode, parts) in AGENT.items():
    write("agent-proto", name, bytes([mode]) + b"".join(parts))
for name, data in VGPU.items():
    write("vgpu-reply", name, data)
