"""Where two runs of a model first part: every leaf module's output, saved
and compared. A diagnostic for the GPU machine (vgpu/tests/pytorch_diag_gpu.sh).

    python3 layer_diff.py dump --model resnet50 --batch 1 OUT.npz   # in each run
    python3 layer_diff.py compare NATIVE.npz LIBVGPU.npz            # afterwards

"dump" runs one forward with the settings of forward_check.py and keeps the
output of every leaf module (conv, batch norm, ReLU, linear, ...), in the
order they ran. "compare" prints, for each module in that order, whether the
two runs agree bit for bit, and the largest difference where they do not.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "models"))


def dump(model_name, batch, out):
    import numpy as np
    import torch

    import models

    models.configure_determinism()
    models.init_cuda()
    w = models.build(model_name, batch)
    outputs = []

    def hook(name):
        def keep(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                outputs.append((name, output.detach().float().cpu().numpy()))

        return keep

    for name, module in w.model.named_modules():
        if len(list(module.children())) == 0:
            module.register_forward_hook(hook(name))
    with torch.inference_mode():
        w.forward(w.inputs)
    np.savez(out, **{f"{i:04d}:{name}": a for i, (name, a) in enumerate(outputs)})
    print(f"dumped {len(outputs)} module outputs to {out}")


def compare(a_path, b_path):
    import numpy as np

    a, b = np.load(a_path), np.load(b_path)
    first = None
    for key in sorted(a.files):
        if key not in b.files:
            print(f"{key}: missing in {b_path}")
            continue
        x, y = a[key], b[key]
        diff = float(np.abs(x - y).max()) if x.shape == y.shape else float("nan")
        same = x.shape == y.shape and np.array_equal(x, y)
        if not same and first is None:
            first = key
        print(f"{key:48s} {str(x.shape):22s} {'same' if same else f'DIFF max {diff:.6g}'}")
    print(f"first difference: {first}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "dump":
        import argparse

        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("--model", default="resnet50")
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("out")
        args = p.parse_args()
        dump(args.model, args.batch, args.out)
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
