"""Which source type a zero-shot model gives each gold target type, on exact spans (`-`: no span there).

Command, from the repository root (a zero-shot folder of `xlner transfer --zero-shot`):

    python benchmarks/zero_shot_confusion.py runs/zs-valid ../shared/data/ner-wikipedia-ja/validation.jsonl
"""

from __future__ import annotations

import argparse
from collections import Counter

from modeling_xlner import XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.training.data import load_data
from modeling_xlner.training.evaluation import predict_split, tagging_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="the zero-shot model folder")
    parser.add_argument("data", help="span JSON lines with gold target types")
    args = parser.parse_args()
    model, tokenizer = XLNerForTokenClassification.from_pretrained(args.model), XLNerTokenizer.from_pretrained(args.model)
    dataset = load_data(args.data)
    predicted_types = sorted({label.split("-", 1)[1] for label in model.config.label2id if label != "O"})
    counts: Counter = Counter()
    for example, predictions in zip(dataset, predict_split(tagging_pipeline(model, tokenizer), dataset)):
        spans = {tuple(map(int, p.split(":")[:2])): p.split(":")[2] for p in predictions}
        for entity in example["entities"]:
            counts[entity["type"], spans.get((entity["start"], entity["end"]), "-")] += 1
    for gold in sorted({gold for gold, _ in counts}):
        row = {name: counts[gold, name] for name in [*predicted_types, "-"]}
        print(gold, sum(row.values()), row)


if __name__ == "__main__":
    main()
