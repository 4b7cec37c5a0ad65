"""The two models, built in one place: ResNet-50 (torchvision's architecture) and
BERT-Large for SQuAD (transformers' BERT encoder with a span head), in fp16 on the GPU.

Weights come from the file the user names (--weights); without one the weights
are random from a fixed seed, and every report says "performance only".

Random weights come from bench/models/models.py, the builders that the overhead
bench and the PyTorch checks share, so that all of them measure the same
numbers: ResNet-50 as it builds it, BERT-Large as its encoder plus a span head
(Linear 1024 -> 2, seeded here). Without that file (or with --tiny) the same
architectures are built here. Nothing else in bench/loadgen builds a model.
"""

import hashlib
import os
import sys

import torch

SEED = 20261125  # the same seed as bench/models/models.py
SHARED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")

# MLPerf's names for the models, as mlperf.conf keys them.
RESNET50 = "resnet50"
BERT = "bert"
MODELS = (RESNET50, BERT)

# BERT-Large, uncased: what MLPerf's bert-99 runs.
BERT_LARGE = dict(
    vocab_size=30522,
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    max_position_embeddings=512,
    type_vocab_size=2,
)
# Only for the harness's own CPU smoke test (--tiny): never a benchmark.
BERT_TINY = dict(BERT_LARGE, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)


class ModelSpec:
    """What the SUT needs to know about a model besides the module itself."""

    def __init__(self, name, module, weights_label, performance_only, batch_sizes):
        self.name = name
        self.module = module
        self.weights_label = weights_label
        self.performance_only = performance_only
        # Batch sizes the calibration tries; the largest bounds Offline and Server batches.
        self.batch_sizes = batch_sizes


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_state_dict(path):
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    # Checkpoints saved from DataParallel prefix every key with "module.".
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _apply_weights(module, weights):
    if not os.path.exists(weights):
        raise FileNotFoundError(f"weights file {weights} does not exist")
    state = _load_state_dict(weights)
    missing, unexpected = module.load_state_dict(state, strict=False)
    # Buffers such as BERT's position_ids may be absent from older checkpoints; parameters may not.
    params = {n for n, _ in module.named_parameters()}
    missing_params = [k for k in missing if k in params]
    if missing_params or unexpected:
        raise ValueError(
            f"weights {weights} do not fit the model: missing {missing_params[:5]}"
            f"{'...' if len(missing_params) > 5 else ''}, unexpected {list(unexpected)[:5]}"
        )
    return f"{os.path.basename(weights)} (sha256 {_sha256(weights)[:16]})"


class SpanHead(torch.nn.Module):
    """A BERT encoder and the SQuAD span head: (B, seq) token ids -> (B, seq, 2) start/end logits,
    as BertForQuestionAnswering computes them."""

    def __init__(self, encoder, hidden):
        super().__init__()
        self.bert = encoder
        self.qa_outputs = torch.nn.Linear(hidden, 2)

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return self.qa_outputs(out.last_hidden_state)


def _shared_models():
    """bench/models/models.py, or None when it is not there."""
    if not os.path.exists(os.path.join(SHARED_DIR, "models.py")):
        return None
    if SHARED_DIR not in sys.path:
        sys.path.insert(0, SHARED_DIR)  # its modules import each other by bare name
    import models as shared

    return shared


def _random_module(name, tiny):
    """The architecture with random weights from SEED (shared builders when there); returns (module, source)."""
    shared = None if tiny else _shared_models()
    if name == RESNET50:
        if shared is not None:
            return shared.build("resnet50", batch=1, device="cpu").model, "bench/models"
        import torchvision

        torch.manual_seed(SEED)
        return torchvision.models.resnet50(weights=None), "bench/loadgen"
    if shared is not None:
        encoder = shared.build("bert-large", batch=1, device="cpu").model
        module = SpanHead(encoder, BERT_LARGE["hidden_size"])
        source = "bench/models encoder"
    else:
        from transformers import BertConfig, BertModel

        torch.manual_seed(SEED)
        config = BertConfig(**(BERT_TINY if tiny else BERT_LARGE))
        module = SpanHead(BertModel(config, add_pooling_layer=False), config.hidden_size)
        source = "bench/loadgen"
    g = torch.Generator().manual_seed(SEED + 2)
    with torch.no_grad():
        module.qa_outputs.weight.copy_(torch.randn(module.qa_outputs.weight.shape, generator=g) * 0.02)
        module.qa_outputs.bias.zero_()
    return module, source


def build(name, weights=None, device="cuda", dtype=torch.float16, tiny=False):
    """Build model `name` in eval mode on `device` in `dtype`; weights from the file, else random from SEED."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    if name == RESNET50:
        batch_sizes = [1, 8, 16, 32, 64, 128, 256] if not tiny else [1, 8, 16]
    else:
        batch_sizes = [1, 8, 16, 32, 64] if not tiny else [1, 8, 16]
    if weights:
        torch.manual_seed(SEED)
        if name == RESNET50:
            import torchvision

            module = torchvision.models.resnet50(weights=None)
        else:
            from transformers import BertConfig, BertForQuestionAnswering

            module = BertForQuestionAnswering(BertConfig(**(BERT_TINY if tiny else BERT_LARGE)))
        label = _apply_weights(module, weights)
        performance_only = False
    else:
        module, source = _random_module(name, tiny)
        label = f"random (seed {SEED}, built by {source})"
        performance_only = True
    module = module.to(device=device, dtype=dtype).eval()
    if name == RESNET50:
        module = module.to(memory_format=torch.channels_last)
    return ModelSpec(name, module, label, performance_only, batch_sizes)


def forward(spec, inputs):
    """Run the model on a batch already on the device; returns one tensor (B, ...) of logits.

    ResNet-50: inputs is the image batch, returns (B, 1000).
    BERT: inputs is (input_ids, attention_mask, token_type_ids), returns (B, 2, seq) start/end logits.
    """
    if spec.name == RESNET50:
        return spec.module(inputs.contiguous(memory_format=torch.channels_last))
    input_ids, mask, segments = inputs
    out = spec.module(input_ids=input_ids, attention_mask=mask, token_type_ids=segments)
    if isinstance(out, torch.Tensor):  # SpanHead: (B, seq, 2)
        return out.permute(0, 2, 1)
    return torch.stack((out.start_logits, out.end_logits), dim=1)
