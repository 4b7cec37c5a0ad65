"""The real input paths: an ImageNet JPEG to the tensor ResNet-50 takes, and a
SQuAD v1.1 question with its paragraph to the token ids BERT-Large takes.

numpy and Pillow only (no torch), so the tests run on a machine without a GPU.

Image: torchvision's classic evaluation transform for its ResNet-50 weights,
    Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize(IMAGENET_MEAN, IMAGENET_STD)
done with Pillow's bilinear resize, as torchvision does on a PIL image.

SQuAD: the feature conversion of BERT's run_squad.py, which MLPerf's reference
uses (max_seq_length 384, doc_stride 128, max_query_length 64): one example can
give several features (windows over a long paragraph).
"""

import collections

import numpy as np
from PIL import Image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
RESIZE = 256
CROP = 224

MAX_SEQ_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64


# ---------------------------------------------------------------- images


def resized_size(width, height, short=RESIZE):
    """(width, height) with the shorter side made `short`, the aspect kept (torchvision's rounding: truncate)."""
    if width <= height:
        return short, int(short * height / width)
    return int(short * width / height), short


def center_crop_box(width, height, size=CROP):
    """(left, top, right, bottom) of the centred size x size square (torchvision's rounding)."""
    if width < size or height < size:
        raise ValueError(f"image {width}x{height} is smaller than the {size}x{size} crop")
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return left, top, left + size, top + size


def image_to_tensor(image):
    """A PIL image to a float32 array of shape (3, 224, 224), normalized with the ImageNet mean and std."""
    image = image.convert("RGB")
    image = image.resize(resized_size(*image.size), Image.BILINEAR)
    image = image.crop(center_crop_box(*image.size))
    pixels = np.asarray(image, dtype=np.float32) / 255.0  # (224, 224, 3), 0..1
    pixels = (pixels - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def load_image(path):
    """One JPEG (or any format Pillow reads) to the (3, 224, 224) float32 input."""
    with Image.open(path) as image:
        return image_to_tensor(image)


def read_val_map(path):
    """ImageNet's val_map.txt: lines "FILE LABEL" -> [(file, label)]."""
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise ValueError(f"{path}:{number}: expected 'FILE LABEL', got {line.strip()!r}")
            entries.append((parts[0], int(parts[1])))
    if not entries:
        raise ValueError(f"{path} lists no images")
    return entries


# ---------------------------------------------------------------- SQuAD

SquadExample = collections.namedtuple("SquadExample", "qas_id question doc_tokens answers")
SquadFeature = collections.namedtuple(
    "SquadFeature",
    "example_index input_ids input_mask segment_ids tokens token_to_orig_map token_is_max_context",
)


def _split_words(text):
    """Whitespace-split a paragraph into words, as run_squad.py does."""
    words = []
    previous_space = True
    for ch in text:
        if ch in (" ", "\t", "\r", "\n") or ord(ch) == 0x202F:
            previous_space = True
        else:
            if previous_space:
                words.append(ch)
            else:
                words[-1] += ch
            previous_space = False
    return words


def read_squad(path_or_dict):
    """SQuAD v1.1 JSON (a path or the parsed dict) -> [SquadExample]."""
    if isinstance(path_or_dict, dict):
        data = path_or_dict
    else:
        import json

        with open(path_or_dict, encoding="utf-8") as f:
            data = json.load(f)
    examples = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            words = _split_words(paragraph["context"])
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa.get("answers", [])]
                examples.append(SquadExample(qa["id"], qa["question"], words, answers))
    if not examples:
        raise ValueError("the SQuAD file holds no questions")
    return examples


def _is_max_context(spans, current, position):
    """Whether window `current` is the one where token `position` has the most context on both sides."""
    best_score, best_index = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return current == best_index


def squad_features(examples, tokenizer, max_seq_length=MAX_SEQ_LENGTH, doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY_LENGTH):
    """[SquadExample] -> [SquadFeature], each padded to max_seq_length."""
    cls_id, sep_id, pad_id = tokenizer.id("[CLS]"), tokenizer.id("[SEP]"), tokenizer.id("[PAD]")
    features = []
    for example_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question)[:max_query_length]
        tok_to_orig, doc_tokens = [], []
        for word_index, word in enumerate(example.doc_tokens):
            for piece in tokenizer.tokenize(word):
                tok_to_orig.append(word_index)
                doc_tokens.append(piece)
        room = max_seq_length - len(query) - 3
        if room <= 0:
            raise ValueError(f"question {example.qas_id}: {len(query)} query tokens leave no room in {max_seq_length}")
        spans = []
        start = 0
        while start < len(doc_tokens):
            length = min(len(doc_tokens) - start, room)
            spans.append((start, length))
            if start + length == len(doc_tokens):
                break
            start += min(length, doc_stride)
        if not spans:  # an empty paragraph still gives one feature
            spans.append((0, 0))
        for span_index, (start, length) in enumerate(spans):
            tokens = ["[CLS]"] + query + ["[SEP]"]
            segment = [0] * len(tokens)
            token_to_orig, max_context = {}, {}
            for i in range(length):
                position = start + i
                token_to_orig[len(tokens)] = tok_to_orig[position]
                max_context[len(tokens)] = _is_max_context(spans, span_index, position)
                tokens.append(doc_tokens[position])
                segment.append(1)
            tokens.append("[SEP]")
            segment.append(1)
            ids = [cls_id] + tokenizer.convert_tokens_to_ids(query) + [sep_id]
            ids += tokenizer.convert_tokens_to_ids(doc_tokens[start : start + length]) + [sep_id]
            mask = [1] * len(ids)
            pad = max_seq_length - len(ids)
            features.append(
                SquadFeature(
                    example_index,
                    np.array(ids + [pad_id] * pad, dtype=np.int32),
                    np.array(mask + [0] * pad, dtype=np.int32),
                    np.array(segment + [0] * pad, dtype=np.int32),
                    tokens,
                    token_to_orig,
                    max_context,
                )
            )
    return features


def best_answer(example, features, start_logits, end_logits, n_best=20, max_answer_length=30):
    """The answer text for one example from its features' logits (run_squad.py's search, without
    the de-tokenization refinement: the original words of the best span, joined by spaces)."""
    best = None
    for feature, starts, ends in zip(features, start_logits, end_logits):
        top_starts = np.argsort(starts)[::-1][:n_best]
        top_ends = np.argsort(ends)[::-1][:n_best]
        for s in top_starts:
            s = int(s)
            if s not in feature.token_to_orig_map or not feature.token_is_max_context.get(s, False):
                continue
            for e in top_ends:
                e = int(e)
                if e not in feature.token_to_orig_map or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(starts[s]) + float(ends[e])
                if best is None or score > best[0]:
                    best = (score, feature.token_to_orig_map[s], feature.token_to_orig_map[e])
    if best is None:
        return ""
    return " ".join(example.doc_tokens[best[1] : best[2] + 1])
