# export_tables_torch_probe.py — PyTorch through whatever libcuda.so.1 the
# loader finds (the real driver, libvgpu, the tracer): CUDA availability, a
# tensor op, a cuBLAS GEMM and a cuDNN fp16 convolution, each step in its own
# try, one "PROBE name: OK|FAIL ..." line each.  Run by export_tables_gpu.sh.
import os, sys, time
t0 = time.time()
def step(name, fn):
    try:
        r = fn()
        print(f"PROBE {name}: OK {r}", flush=True)
        return True
    except BaseException as e:
        msg = f"{type(e).__name__}: {e}".replace("\n", " | ")
        print(f"PROBE {name}: FAIL {msg[:700]}", flush=True)
        return False
import torch
print("PROBE torch", torch.__version__, "cuda", torch.version.cuda, flush=True)
step("is_available", lambda: torch.cuda.is_available())
step("device_name", lambda: torch.cuda.get_device_name(0))
step("tensor_op", lambda: (torch.arange(16, device="cuda", dtype=torch.float32) * 2).sum().item())
def matmul():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 256, generator=g); b = torch.randn(256, 256, generator=g)
    c = (a.cuda() @ b.cuda()).cpu()
    return "max_abs_err=%.3g" % (c - a @ b).abs().max().item()
step("matmul_cublas", matmul)
def conv():
    torch.backends.cudnn.enabled = True
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 32, 32, generator=g); w = torch.randn(32, 16, 3, 3, generator=g)
    y = torch.nn.functional.conv2d(x.cuda().half(), w.cuda().half(), padding=1).float().cpu()
    ref = torch.nn.functional.conv2d(x.half().float(), w.half().float(), padding=1)
    return "cudnn=%s max_abs_err=%.3g" % (torch.backends.cudnn.version(), (y - ref).abs().max().item())
step("conv_fp16_cudnn", conv)
step("synchronize", lambda: torch.cuda.synchronize())
print("PROBE done seconds=%.1f" % (time.time() - t0), flush=True)
