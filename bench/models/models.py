"""The models of the PyTorch checks (test/gpu/pytorch/) and of the overhead
bench (bench/overhead/), built the same way in every process.

    w = build("resnet50", batch=1)      # or "bert-large"
    with torch.inference_mode():
        out = w.forward(w.inputs)       # {name: CPU tensor}

- resnet50: torchvision's ResNet-50 architecture, random weights.
- bert-large: transformers' BertModel with the BERT-Large shape (24 layers,
  hidden 1024, 16 heads, intermediate 4096), random weights, sequence 384.

Both fp16 and in eval mode. Weights and inputs come from fixed seeds on the
CPU, so every process (native or through libvgpu) builds the same model and
feeds it the same numbers. Inputs stay on the CPU (pageable, as a server
receives them; `pinned=True` page-locks them) and each forward copies them to
the GPU, runs the model, copies every output back and synchronises: the
forward that cuda-surface.md measured.

No environment variable is set here or needed: determinism comes from
configure_determinism(), a setting inside the process.
"""

import contextlib
import hashlib
import warnings

import torch

from common import report_libcuda, sha256_tensor, tensor_bytes

MODELS = ("resnet50", "bert-large")
SEED = 20261125
BERT_SEQ = 384
BERT_VOCAB = 30522


def configure_determinism():
    """Deterministic kernels, chosen without timing them (no cuDNN benchmark),
    for the checks that compare outputs bit for bit (latency.py leaves PyTorch's
    defaults unless asked: see there). use_deterministic_algorithms also makes
    PyTorch fill each new tensor's memory (fill_uninitialized_memory, left on).

    CUBLAS_WORKSPACE_CONFIG is not set: these processes issue all their work on
    one stream, and cuBLAS gives bit-identical results run to run on one stream
    and one GPU model (its documentation's reproducibility section), so the
    warning PyTorch gives for the missing variable under warn_only is silenced
    instead.
    """
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    warnings.filterwarnings("ignore", message=r".*CUBLAS_WORKSPACE_CONFIG.*")


def init_cuda():
    """Create the CUDA context; return the path of the libcuda loaded (also
    printed on stderr as "libcuda: <path>", which the runners check)."""
    torch.cuda.init()
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    return report_libcuda()


def make_inputs(name, batch, index=0):
    """Synthetic inputs on the CPU from a fixed seed; index picks another set."""
    g = torch.Generator().manual_seed(SEED + 1 + index)
    if name == "resnet50":
        return {"x": torch.randn(batch, 3, 224, 224, generator=g).half()}
    if name == "bert-large":
        return {
            "input_ids": torch.randint(0, BERT_VOCAB, (batch, BERT_SEQ), generator=g, dtype=torch.int64),
            "attention_mask": torch.ones(batch, BERT_SEQ, dtype=torch.int64),
            "token_type_ids": torch.zeros(batch, BERT_SEQ, dtype=torch.int64),
        }
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def _resnet50():
    import torchvision

    return torchvision.models.resnet50(weights=None)


def _bert_large():
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=BERT_VOCAB,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        max_position_embeddings=512,
    )
    # Every weight is initialised below, so transformers' own initialisation
    # (a second pass over 335 M numbers on the CPU) is skipped where the
    # release offers the switch.
    with _transformers_no_init():
        model = BertModel(config)
    if any(p.is_meta for p in model.parameters()):  # the switch left no storage: build plainly
        model = BertModel(config)
    # Initialise every weight here, from the seeded global generator, in module
    # order: the numbers then do not depend on how a transformers release
    # initialises (or skips initialising) a freshly built model. Buffers
    # (position ids) are built by the model itself; weights_fingerprint covers
    # them too.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                m.weight.normal_(0.0, config.initializer_range)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
    return model


def _transformers_no_init():
    """transformers' switch that skips weight initialisation while a model is
    built (it has moved between releases), or a context that does nothing."""
    for where in ("transformers.initialization", "transformers.modeling_utils"):
        try:
            module = __import__(where, fromlist=["no_init_weights"])
            return module.no_init_weights()
        except (ImportError, AttributeError, TypeError):
            continue
    return contextlib.nullcontext()


def weights_fingerprint(model):
    """A cheap fingerprint of every parameter and buffer (64 samples of each):
    tells two processes apart that did not build the same model."""
    h = hashlib.sha256()
    for key, t in model.state_dict().items():
        flat = t.detach().reshape(-1)
        step = max(1, flat.numel() // 64)
        h.update(key.encode())
        h.update(tensor_bytes(flat[::step][:64].to(torch.float64).cpu()))
    return h.hexdigest()[:16]


class Workload:
    """One model on the GPU with its CPU inputs; see the module's docstring."""

    def __init__(self, name, batch, model, inputs, channels_last, fingerprint, device):
        self.name = name
        self.batch = batch
        self.model = model
        self.inputs = inputs
        self.channels_last = channels_last
        self.weights_fingerprint = fingerprint
        self.device = device

    def inputs_fingerprint(self, inputs=None):
        inputs = self.inputs if inputs is None else inputs
        h = hashlib.sha256()
        for key, t in inputs.items():
            h.update(key.encode())
            h.update(sha256_tensor(t).encode())
        return h.hexdigest()[:16]

    def to_device(self, inputs):
        """Copy CPU inputs to the GPU (synchronously for pageable memory)."""
        out = {}
        for key, t in inputs.items():
            g = t.to(self.device, non_blocking=t.is_pinned())
            if self.channels_last and g.dim() == 4:
                g = g.contiguous(memory_format=torch.channels_last)
            out[key] = g
        return out

    def forward_gpu(self, gpu_inputs):
        """Run the model on GPU inputs; GPU outputs, no copy, no sync (graph capture uses this)."""
        if self.name == "resnet50":
            return {"logits": self.model(gpu_inputs["x"])}
        o = self.model(**gpu_inputs)
        return {"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output}

    def forward(self, inputs):
        """Inputs to the GPU, forward, every output back to the CPU, synchronised."""
        outs = self.forward_gpu(self.to_device(inputs))
        host = {key: t.to("cpu") for key, t in outs.items()}
        torch.cuda.synchronize()
        return host


def build(name, batch, channels_last=False, pinned=False, device="cuda"):
    """Build a model and its inputs; see the module's docstring."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    torch.manual_seed(SEED)
    model = _resnet50() if name == "resnet50" else _bert_large()
    model = model.eval().half()
    fingerprint = weights_fingerprint(model)
    if channels_last and name == "resnet50":
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device)
    inputs = make_inputs(name, batch)
    if pinned:
        inputs = {key: t.pin_memory() for key, t in inputs.items()}
    return Workload(name, batch, model, inputs, channels_last and name == "resnet50", fingerprint, device)


def argmax(outputs):
    """Index of the largest value along the last dimension of each output."""
    return {key: t.float().argmax(dim=-1) for key, t in outputs.items()}


def describe_argmax(idx, limit=64):
    """The indices themselves when few, else their hash and the first 16."""
    flat = idx.reshape(-1)
    if flat.numel() <= limit:
        return flat.tolist()
    return {"shape": list(idx.shape), "sha256": sha256_tensor(idx)[:16], "first": flat[:16].tolist()}
