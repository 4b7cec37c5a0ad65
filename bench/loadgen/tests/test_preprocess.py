"""Tests of the real input paths and of the settings logic, on generated images,
sentences and vocabularies. Need numpy and Pillow; no torch, no GPU, no network.

    python3 -m pytest bench/loadgen/tests          # with pytest
    python3 bench/loadgen/tests/test_preprocess.py # without: runs every test_ function

Where torchvision or transformers is installed (the GPU machine), the image path
is also checked against torchvision's transforms and the tokenizer against
transformers' BertTokenizer; elsewhere those two tests say they are skipped.
"""

import json
import os
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import accuracy  # noqa: E402
import preprocess  # noqa: E402
import settings  # noqa: E402
from wordpiece import WordPiece, basic_tokenize  # noqa: E402

SKIPPED = []


def skip(why):
    try:
        import pytest

        pytest.skip(why)
    except ImportError:
        SKIPPED.append(why)
        raise _Skip(why)


class _Skip(Exception):
    pass


# ---------------------------------------------------------------- images


def gradient_image(width, height):
    """Red encodes x, green encodes y, blue constant: where a crop came from can be read back."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    b = np.full((height, width), 77, dtype=np.float32)
    return Image.fromarray(np.stack([x, y, b], axis=2).round().astype(np.uint8), "RGB")


def test_resize_and_crop_geometry():
    assert preprocess.resized_size(500, 375) == (341, 256)
    assert preprocess.resized_size(375, 500) == (256, 341)
    assert preprocess.resized_size(256, 256) == (256, 256)
    assert preprocess.resized_size(1000, 300) == (853, 256)
    assert preprocess.center_crop_box(341, 256) == (58, 16, 282, 240)  # round(58.5) is 58, as in torchvision
    assert preprocess.center_crop_box(256, 256) == (16, 16, 240, 240)
    try:
        preprocess.center_crop_box(200, 300)
    except ValueError as err:
        assert "smaller" in str(err)
    else:
        raise AssertionError("a crop larger than the image must fail")


def test_solid_colour_normalizes_exactly():
    for colour in [(0, 0, 0), (255, 255, 255), (124, 116, 104), (10, 200, 90)]:
        for size in [(224, 224), (640, 480), (300, 1000)]:
            t = preprocess.image_to_tensor(Image.new("RGB", size, colour))
            assert t.shape == (3, 224, 224) and t.dtype == np.float32
            expect = (np.array(colour, np.float32) / 255 - preprocess.IMAGENET_MEAN) / preprocess.IMAGENET_STD
            assert np.allclose(t.reshape(3, -1).mean(1), expect, atol=1e-5), (colour, size)
            assert np.allclose(t.reshape(3, -1).std(1), 0, atol=1e-5)


def test_crop_is_centred_and_channels_are_rgb_first():
    t = preprocess.image_to_tensor(gradient_image(640, 480))
    red = t[0] * preprocess.IMAGENET_STD[0] + preprocess.IMAGENET_MEAN[0]
    green = t[1] * preprocess.IMAGENET_STD[1] + preprocess.IMAGENET_MEAN[1]
    blue = t[2] * preprocess.IMAGENET_STD[2] + preprocess.IMAGENET_MEAN[2]
    # The centre of the crop is the centre of the image: about half of full scale in x and y.
    assert abs(red[112, 112] - 0.5) < 0.01 and abs(green[112, 112] - 0.5) < 0.01
    # Red grows left to right, green top to bottom; blue stays 77/255.
    assert red[112, 200] > red[112, 20] and green[200, 112] > green[20, 112]
    assert np.allclose(blue, 77 / 255, atol=1e-5)
    # 640x480 -> 341x256 -> crop 224 wide from x=58: the left edge sits at 58/341 of the width.
    assert abs(red[112, 0] - 58 / 341) < 0.01


def test_grayscale_and_rgba_become_rgb():
    gray = Image.new("L", (300, 300), 128)
    rgba = Image.new("RGBA", (300, 300), (128, 128, 128, 10))
    a, b = preprocess.image_to_tensor(gray), preprocess.image_to_tensor(rgba)
    assert a.shape == b.shape == (3, 224, 224) and np.allclose(a, b)


def test_jpeg_file_round_trip():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ILSVRC2012_val_00000001.JPEG")
        image = gradient_image(500, 375)
        image.save(path, "JPEG", quality=95)
        t = preprocess.load_image(path)
        direct = preprocess.image_to_tensor(image)
        assert t.shape == (3, 224, 224) and np.isfinite(t).all()
        # JPEG is lossy: close to the uncompressed image, not equal.
        assert np.abs(t - direct).mean() < 0.05


def test_val_map():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "val_map.txt")
        with open(path, "w") as f:
            f.write("ILSVRC2012_val_00000001.JPEG 65\nILSVRC2012_val_00000002.JPEG 970\n\n")
        assert preprocess.read_val_map(path) == [("ILSVRC2012_val_00000001.JPEG", 65), ("ILSVRC2012_val_00000002.JPEG", 970)]
        with open(path, "w") as f:
            f.write("ILSVRC2012_val_00000001.JPEG\n")
        try:
            preprocess.read_val_map(path)
        except ValueError as err:
            assert "val_map.txt:1" in str(err)
        else:
            raise AssertionError("a line without label must fail")


def test_same_as_torchvision_transforms():
    try:
        import torch
        from torchvision import transforms
    except ImportError:
        skip("torchvision is not installed: the comparison with its transforms runs where it is (the GPU machine)")
    reference = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(preprocess.IMAGENET_MEAN.tolist(), preprocess.IMAGENET_STD.tolist()),
        ]
    )
    rng = np.random.default_rng(7)
    for size in [(500, 375), (375, 500), (224, 224), (1024, 683), (257, 300)]:
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
        ours = preprocess.image_to_tensor(image)
        theirs = reference(image).numpy()
        assert theirs.shape == ours.shape
        assert np.allclose(ours, theirs, atol=1e-5), (size, float(np.abs(ours - theirs).max()))
    del torch


# ---------------------------------------------------------------- tokenizer

VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "quick", "brown", "fox", "jump", "##s", "##ed", "over", "lazy", "dog", "who", "what", "wrote",
    "it", "un", "##aff", "##able", "cafe", "hello", "world", "paris", "is", "capital", "of", "france",
    "in", "1889", "eiffel", "tower", "was", "built", "a", "an", "and", ",", ".", "?", "!", "'", "-", "s",
    "中", "国", "when", "where", "river", "seine", "flows", "through", "city", "run", "##ning",
]


def make_vocab(tmp):
    path = os.path.join(tmp, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    return path


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Who wrote it?",
    "unaffable",
    "Café, hello WORLD!",
    "Paris is the capital of France.",
    "The Eiffel Tower was built in 1889 in Paris.",
    "中国 river",
    "zebra jumped",  # zebra is unknown
    "running\tthrough\u00a0the\ncity's  river-seine",
    "a" * 120,  # longer than 100 characters: [UNK]
    "dog\x00s \ufffd",  # control and replacement characters are dropped
]


def test_basic_tokenize():
    assert basic_tokenize("Hello, World!") == ["hello", ",", "world", "!"]
    assert basic_tokenize("Café") == ["cafe"]
    assert basic_tokenize("中国x") == ["中", "国", "x"]
    assert basic_tokenize("a\u00a0b\tc") == ["a", "b", "c"]
    assert basic_tokenize("it's $5") == ["it", "'", "s", "$", "5"]


def test_wordpiece_on_a_generated_vocab():
    with tempfile.TemporaryDirectory() as tmp:
        tok = WordPiece.from_vocab_file(make_vocab(tmp))
    assert tok.tokenize("The quick brown fox jumps over the lazy dog.") == [
        "the", "quick", "brown", "fox", "jump", "##s", "over", "the", "lazy", "dog", ".",
    ]
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("zebra jumped") == ["[UNK]", "jump", "##ed"]
    assert tok.tokenize("a" * 120) == ["[UNK]"]
    assert tok.convert_tokens_to_ids(["[CLS]", "fox", "nope"]) == [2, 8, 1]
    assert tok.tokenize("Café, hello WORLD!") == ["cafe", ",", "hello", "world", "!"]
    assert tok.tokenize("中国 river") == ["中", "国", "river"]


def test_same_as_transformers_bert_tokenizer():
    try:
        from transformers import BertTokenizer
    except ImportError:
        skip("transformers is not installed: the comparison with BertTokenizer runs where it is (the GPU machine)")
    with tempfile.TemporaryDirectory() as tmp:
        path = make_vocab(tmp)
        ours = WordPiece.from_vocab_file(path)
        import inspect

        # transformers 4 takes vocab_file=PATH; 5 (tokenizers backend) takes vocab=PATH or a dict.
        named = "vocab_file" if "vocab_file" in inspect.signature(BertTokenizer.__init__).parameters else "vocab"
        theirs = BertTokenizer(**{named: path}, do_lower_case=True)
        for sentence in SENTENCES:
            assert ours.tokenize(sentence) == theirs.tokenize(sentence), sentence
            assert ours.convert_tokens_to_ids(ours.tokenize(sentence)) == theirs.convert_tokens_to_ids(theirs.tokenize(sentence))


# ---------------------------------------------------------------- SQuAD


def squad_dict(context, questions):
    return {
        "data": [
            {
                "title": "generated",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [{"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": context.find(a)}]} for i, (q, a) in enumerate(questions)],
                    }
                ],
            }
        ]
    }


def test_squad_features_short_paragraph():
    context = "The Eiffel Tower was built in 1889 in Paris."
    data = squad_dict(context, [("When was the Eiffel Tower built?", "1889")])
    with tempfile.TemporaryDirectory() as tmp:
        tok = WordPiece.from_vocab_file(make_vocab(tmp))
    examples = preprocess.read_squad(data)
    features = preprocess.squad_features(examples, tok)
    assert len(features) == 1
    f = features[0]
    assert f.tokens[:9] == ["[CLS]", "when", "was", "the", "eiffel", "tower", "built", "?", "[SEP]"]
    assert f.tokens[-1] == "[SEP]" and f.tokens[9] == "the"
    n = len(f.tokens)
    assert f.input_ids.shape == (384,) and f.input_ids.dtype == np.int32
    assert list(f.input_ids[:n]) == tok.convert_tokens_to_ids(f.tokens) and not f.input_ids[n:].any()
    assert int(f.input_mask.sum()) == n and not f.input_mask[n:].any()
    assert list(f.segment_ids[:9]) == [0] * 9 and list(f.segment_ids[9:n]) == [1] * (n - 9) and not f.segment_ids[n:].any()
    # Token 9+k of the paragraph maps back to word k of the context.
    assert [examples[0].doc_tokens[f.token_to_orig_map[9 + k]] for k in range(3)] == ["The", "Eiffel", "Tower"]


def test_squad_long_paragraph_gives_overlapping_windows():
    words = ["the river seine flows through the city ."] * 80  # 8 tokens each: 640 paragraph tokens
    context = " ".join(words) + " Paris is the capital of France."
    data = squad_dict(context, [("What is the capital of France?", "Paris")])
    with tempfile.TemporaryDirectory() as tmp:
        tok = WordPiece.from_vocab_file(make_vocab(tmp))
    examples = preprocess.read_squad(data)
    features = preprocess.squad_features(examples, tok)
    query = len(tok.tokenize("What is the capital of France?"))
    room = 384 - query - 3
    total = sum(len(tok.tokenize(w)) for w in examples[0].doc_tokens)
    starts = list(range(0, total, 128))
    expected = next(i + 1 for i, s in enumerate(starts) if s + room >= total)
    assert len(features) == expected > 1
    for f in features:
        assert f.input_ids.shape == (384,) and f.tokens[0] == "[CLS]"
        assert len(f.tokens) <= 384
    # Every paragraph word is the "max context" position in exactly one window.
    owners = {}
    for fi, f in enumerate(features):
        for position, is_max in f.token_is_max_context.items():
            if is_max:
                key = (f.token_to_orig_map[position], f.tokens[position], position - (query + 2) + 128 * fi)
                assert key not in owners
                owners[key] = fi
    assert len(owners) == total


def test_best_answer_and_scores():
    context = "The Eiffel Tower was built in 1889 in Paris."
    data = squad_dict(context, [("When was the Eiffel Tower built?", "1889"), ("Where is it?", "in Paris")])
    with tempfile.TemporaryDirectory() as tmp:
        tok = WordPiece.from_vocab_file(make_vocab(tmp))
    examples = preprocess.read_squad(data)
    features = preprocess.squad_features(examples, tok)
    results = {}
    for index, f in enumerate(features):
        target = "1889" if examples[f.example_index].qas_id == "q0" else "paris"
        position = f.tokens.index(target)
        logits = np.full((2, 384), -5.0, dtype=np.float16)
        logits[0, position] = logits[1, position] = 5.0
        logits[0, 0] = logits[1, 0] = 9.0  # [CLS] is not in the paragraph: never an answer
        results[index] = logits.reshape(-1)
    assert preprocess.best_answer(examples[0], [features[0]], [results[0][:384]], [results[0][384:]]) == "1889"
    scores = accuracy.squad_scores(results, examples, features)
    assert scores["questions"] == 2 and scores["exact_match"] == 0.5  # "Paris." vs "in Paris"
    assert abs(scores["f1"] - (1 + 2 * 0.5 * 1 / 1.5) / 2) < 1e-9  # "paris" vs "in paris": P=1, R=1/2
    assert accuracy.f1_score("The Tower", "tower") == 1.0


def test_accuracy_log_reading_and_top1():
    logits = [np.eye(4, dtype=np.float16)[i % 4] for i in range(6)]
    entries = [{"seq_id": i, "qsl_idx": i, "data": l.tobytes().hex().upper()} for i, l in enumerate(logits)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mlperf_log_accuracy.json")
        with open(path, "w") as f:
            json.dump(entries, f)
        results = accuracy.read_log(path)
    assert sorted(results) == list(range(6)) and results[5].dtype == np.float16
    assert accuracy.top1(results, [0, 1, 2, 3, 0, 0]) == {"samples": 6, "top1": 5 / 6}


# ---------------------------------------------------------------- settings


def test_user_conf_parsing_and_wildcards():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "user.conf")
        with open(path, "w") as f:
            f.write("# comment\nresnet50.Offline.target_qps = 4000 # trailing\n*.Server.target_qps = 100\n\nbert.*.min_duration = 1000\n")
        entries = settings.parse_conf(path)
        with open(path, "w") as f:
            f.write("resnet50.Offline target_qps = 4000\n")
        try:
            settings.parse_conf(path)
        except ValueError as err:
            assert "user.conf:1" in str(err)
        else:
            raise AssertionError("a malformed line must fail")
    assert ("resnet50", "Offline", "target_qps", "4000") in entries
    assert settings.user_sets(entries, "resnet50", "Offline", "target_qps")
    assert not settings.user_sets(entries, "bert", "Offline", "target_qps")
    assert settings.user_sets(entries, "bert", "Server", "target_qps")
    assert settings.user_sets(entries, "bert", "Offline", "min_duration")


def test_targets_from_calibration():
    batch_ms = {1: 2.0, 8: 4.0, 16: 6.0, 64: 16.0, 256: 70.0}
    t = settings.derive_targets(batch_ms, server_latency_ns=15_000_000, samples_per_query=8)
    assert t["offline_batch"] == 64 and abs(t["offline_qps"] - 4000) < 1e-9
    assert t["server_batch"] == 16  # 64 takes 16 ms > 15 ms / 2
    assert abs(t["server_qps"] - settings.SERVER_LOAD * 16 / 6.0 * 1000) < 1e-9
    assert t["single_stream_latency_ms"] == 2.0 and t["multi_stream_latency_ms"] == 4.0
    # What an H100 measured for eager fp16 ResNet-50: a flat 6-7.5 ms up to batch 64.
    h100 = {1: 6.21, 8: 7.47, 16: 7.72, 32: 6.96, 64: 7.49, 128: 13.87, 256: 29.58}
    t = settings.derive_targets(h100, 15_000_000, 8)
    assert t["server_batch"] == 64 and t["offline_batch"] == 128
    # Nothing fits the bound: the smallest batch is used.
    assert settings.derive_targets({4: 100.0}, 15_000_000, 8)["server_batch"] == 4
    # Samples per query above the largest measured batch: scaled linearly.
    assert settings.derive_targets({1: 1.0, 4: 2.0}, 15_000_000, 8)["multi_stream_latency_ms"] == 4.0


if __name__ == "__main__":
    failed = 0
    for name, fn in sorted((n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)):
        try:
            fn()
            print(f"ok   {name}")
        except _Skip as why:
            print(f"skip {name}: {why}")
        except Exception as err:  # report every failure, not only the first
            failed += 1
            print(f"FAIL {name}: {type(err).__name__}: {err}")
    print(f"{'FAILED' if failed else 'passed'}: {failed} failed")
    sys.exit(1 if failed else 0)
