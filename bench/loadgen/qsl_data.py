"""The samples behind LoadGen's QuerySampleLibrary: synthetic by default (the
same bytes on every path, from a fixed seed), or the real datasets through
preprocess.py.

Every dataset keeps its loaded samples in host memory (pinned when a GPU is
used) and gathers a batch into a reused pinned buffer, from which the SUT copies
it to the device: the host-to-device copy is part of every measured query.

(Not named datasets.py: that would shadow Hugging Face's package, which transformers looks for.)
"""

import os

import numpy as np
import torch

import preprocess

SYNTHETIC_SEED = 1234


class Dataset:
    """count samples; load/unload as LoadGen asks; gather(indices) -> host tensors for one batch."""

    name = "dataset"
    synthetic = True

    def __init__(self, count, pin):
        self.count = count
        self.pin = pin

    def load(self, indices):
        pass

    def unload(self, indices):
        pass

    def gather(self, indices):
        raise NotImplementedError

    def calibration_indices(self):
        """Samples the calibration may use: all of a synthetic set; of a real one, those loaded."""
        return list(range(self.count))


def _pinned(shape, dtype, pin):
    t = torch.empty(shape, dtype=dtype)
    return t.pin_memory() if pin else t


class _Stored(Dataset):
    """Samples held in one tensor per input (count, ...), gathered with index_select into pinned buffers."""

    def __init__(self, count, pin, arrays, max_batch):
        super().__init__(count, pin)
        self.store = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        if pin:
            self.store = [t.pin_memory() for t in self.store]
        self.buffers = [_pinned((max_batch,) + tuple(t.shape[1:]), t.dtype, pin) for t in self.store]

    def gather(self, indices):
        idx = torch.as_tensor(indices, dtype=torch.int64)
        n = len(indices)
        if n > self.buffers[0].shape[0]:
            raise ValueError(f"batch of {n} is larger than the gather buffer ({self.buffers[0].shape[0]})")
        return [torch.index_select(t, 0, idx, out=b[:n]) for t, b in zip(self.store, self.buffers)]


class SyntheticImages(_Stored):
    name = "synthetic images (normal noise, 3x224x224)"

    def __init__(self, count, pin, max_batch, dtype=np.float16):
        rng = np.random.default_rng(SYNTHETIC_SEED)
        images = rng.standard_normal((count, 3, preprocess.CROP, preprocess.CROP), dtype=np.float32).astype(dtype)
        super().__init__(count, pin, [images], max_batch)


class SyntheticSquad(_Stored):
    name = f"synthetic SQuAD features (random token ids, {preprocess.MAX_SEQ_LENGTH} tokens)"

    def __init__(self, count, pin, max_batch, vocab_size=30522, seq=preprocess.MAX_SEQ_LENGTH):
        rng = np.random.default_rng(SYNTHETIC_SEED)
        ids = rng.integers(1000, vocab_size, size=(count, seq), dtype=np.int64)
        lengths = rng.integers(seq // 4, seq + 1, size=count)
        question = rng.integers(8, 40, size=count)
        positions = np.arange(seq)[None, :]
        mask = (positions < lengths[:, None]).astype(np.int64)
        segments = ((positions > question[:, None]) & (mask == 1)).astype(np.int64)
        ids[:, 0] = 101  # [CLS]
        ids = np.where(mask == 1, ids, 0)
        super().__init__(count, pin, [ids, mask, segments], max_batch)


class ImageNet(Dataset):
    """ImageNet validation JPEGs listed by val_map.txt ("FILE LABEL"), preprocessed when LoadGen loads them."""

    name = "ImageNet validation"
    synthetic = False

    def __init__(self, root, val_map, count, pin, max_batch):
        entries = preprocess.read_val_map(val_map or os.path.join(root, "val_map.txt"))
        if count:
            entries = entries[:count]
        super().__init__(len(entries), pin)
        self.root = root
        self.entries = entries
        self.labels = [label for _, label in entries]
        self.cache = {}
        self.buffer = _pinned((max_batch, 3, preprocess.CROP, preprocess.CROP), torch.float16, pin)

    def load(self, indices):
        for i in indices:
            if i not in self.cache:
                path = os.path.join(self.root, self.entries[i][0])
                self.cache[i] = torch.from_numpy(preprocess.load_image(path)).to(torch.float16)

    def unload(self, indices):
        for i in indices:
            self.cache.pop(i, None)

    def calibration_indices(self):
        return sorted(self.cache)

    def gather(self, indices):
        out = self.buffer[: len(indices)]
        torch.stack([self.cache[i] for i in indices], out=out)
        return [out]


class Squad(_Stored):
    """SQuAD v1.1 dev questions, tokenized with the WordPiece vocabulary the user names; one sample per feature."""

    name = "SQuAD v1.1"
    synthetic = False

    def __init__(self, squad_json, vocab_file, count, pin, max_batch):
        from wordpiece import WordPiece

        tokenizer = WordPiece.from_vocab_file(vocab_file)
        self.examples = preprocess.read_squad(squad_json)
        self.features = preprocess.squad_features(self.examples, tokenizer)
        if count:
            self.features = self.features[:count]
        arrays = [np.stack([getattr(f, name).astype(np.int64) for f in self.features]) for name in ("input_ids", "input_mask", "segment_ids")]
        super().__init__(len(self.features), pin, arrays, max_batch)


def make(model, args, pin, max_batch):
    """The dataset for model from the command line: --dataset DIR (and --val-map / --squad-json, --vocab), else synthetic."""
    if model == "resnet50":
        if args.dataset:
            return ImageNet(args.dataset, args.val_map, args.qsl_size, pin, max_batch)
        return SyntheticImages(args.qsl_size or 1024, pin, max_batch)
    if args.dataset or args.squad_json:
        squad_json = args.squad_json or os.path.join(args.dataset, "dev-v1.1.json")
        vocab = args.vocab or (os.path.join(args.dataset, "vocab.txt") if args.dataset else None)
        if not vocab or not os.path.exists(vocab):
            raise FileNotFoundError(
                "SQuAD needs the BERT vocabulary: pass --vocab vocab.txt (the uncased BERT-Large vocab.txt; "
                "no network is used)"
            )
        return Squad(squad_json, vocab, args.qsl_size, pin, max_batch)
    return SyntheticSquad(args.qsl_size or 1024, pin, max_batch)
