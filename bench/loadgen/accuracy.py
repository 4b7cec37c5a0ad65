#!/usr/bin/env python3
"""Score an accuracy-mode run on the real datasets, from LoadGen's mlperf_log_accuracy.json.

    python3 bench/loadgen/accuracy.py resnet50 DIR/mlperf_log_accuracy.json --val-map val_map.txt [--qsl-size N]
    python3 bench/loadgen/accuracy.py bert DIR/mlperf_log_accuracy.json --squad-json dev-v1.1.json --vocab vocab.txt [--qsl-size N]

ResNet-50: top-1 against the labels of val_map.txt. BERT: exact match and F1
over the questions (the SQuAD v1.1 measures), from the best span of each
question's features. Each entry holds the SUT's fp16 logits (see sut.py).
Pass the same --qsl-size as the run. numpy only (no torch, no GPU).
"""

import argparse
import collections
import json
import os
import re
import string
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocess  # noqa: E402


def read_log(path):
    """mlperf_log_accuracy.json -> {qsl_idx: fp16 array} (the last answer for a sample wins)."""
    with open(path) as f:
        entries = json.load(f)
    return {e["qsl_idx"]: np.frombuffer(bytes.fromhex(e["data"]), dtype="<f2") for e in entries}


def top1(results, labels):
    hits = sum(int(np.argmax(v) == labels[i]) for i, v in results.items())
    return {"samples": len(results), "top1": hits / len(results) if results else float("nan")}


def _normalize(text):
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1_score(prediction, truth):
    pred, gold = _normalize(prediction).split(), _normalize(truth).split()
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_scores(results, examples, features, seq=preprocess.MAX_SEQ_LENGTH):
    by_example = collections.defaultdict(list)
    for index, feature in enumerate(features):
        if index in results:
            by_example[feature.example_index].append(index)
    exact = f1 = 0.0
    for example_index, indices in by_example.items():
        example = examples[example_index]
        logits = [results[i].astype(np.float32).reshape(2, seq) for i in indices]
        answer = preprocess.best_answer(example, [features[i] for i in indices], [l[0] for l in logits], [l[1] for l in logits])
        truths = example.answers or [""]
        exact += max(float(_normalize(answer) == _normalize(t)) for t in truths)
        f1 += max(f1_score(answer, t) for t in truths)
    n = len(by_example)
    return {"questions": n, "exact_match": exact / n if n else float("nan"), "f1": f1 / n if n else float("nan")}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", choices=["resnet50", "bert"])
    p.add_argument("log")
    p.add_argument("--val-map")
    p.add_argument("--squad-json")
    p.add_argument("--vocab")
    p.add_argument("--qsl-size", type=int, default=0)
    args = p.parse_args(argv)
    results = read_log(args.log)
    if args.model == "resnet50":
        if not args.val_map:
            p.error("resnet50 needs --val-map")
        labels = [label for _, label in preprocess.read_val_map(args.val_map)]
        scores = top1(results, labels)
    else:
        if not args.squad_json or not args.vocab:
            p.error("bert needs --squad-json and --vocab")
        from wordpiece import WordPiece

        examples = preprocess.read_squad(args.squad_json)
        features = preprocess.squad_features(examples, WordPiece.from_vocab_file(args.vocab))
        if args.qsl_size:
            features = features[: args.qsl_size]
        scores = squad_scores(results, examples, features)
    print(json.dumps(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
