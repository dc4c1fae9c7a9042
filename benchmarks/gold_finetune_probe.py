"""Probe (issue 14): does a self-trained student gain from a last fine-tuning on its gold sentences alone?

The student of `xlner reproduce --transfer-methods self-training` learnt its gold subset among thousands of
texts its teacher tagged. This continues training that student (same vocabularies, every weight) on the gold
part of its student_train.jsonl only, with the usual validation, early stopping and test files, and prints the
student's and the fine-tuned model's test F1 side by side.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/gold_finetune_probe.py \
        runs/s24/runs/char+classifier__n250__seed1__self-training runs/gold-ft/c250s1 --learning-rate 1e-3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers import set_seed

from modeling_xlner.modeling_xlner import XLNerForTokenClassification
from modeling_xlner.training.options import TrainingOptions
from modeling_xlner.training.results import Results
from modeling_xlner.training.self_training import STUDENT_TRAIN_FILE
from modeling_xlner.training.trainer import read_training_data, run_training
from tokenization.tokenization_xlner import XLNerTokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("student", type=Path, help="a self-trained run's folder (results.json, student_train.jsonl, model)")
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    args = parser.parse_args()

    student = Results.load(args.student / "results.json")
    if student.self_training is None:
        raise SystemExit(f"{args.student}/results.json: not a self-trained run (no self_training record)")
    # student_train.jsonl is the gold subset first, then the tagged texts (self_training.write_student_data).
    gold_lines = (args.student / STUDENT_TRAIN_FILE).read_text(encoding="utf-8").splitlines()[: student.self_training.gold_texts]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    gold_file = args.output_dir / "gold.jsonl"
    gold_file.write_text("\n".join(gold_lines) + "\n", encoding="utf-8")

    options = TrainingOptions(seed=student.seed, learning_rate=args.learning_rate, tokenizer_options=student.options["tokenizer_options"])
    torch.set_num_threads(options.threads)
    set_seed(options.seed)
    stockmark = args.data_dir / "ner-wikipedia-ja"
    data = read_training_data(str(gold_file), str(stockmark / "validation.jsonl"), str(stockmark / "test.jsonl"), options)
    model = XLNerForTokenClassification.from_pretrained(args.student)
    model.train()
    tuned = run_training(model, XLNerTokenizer.from_pretrained(args.student), data, args.output_dir, options)
    summary = {
        "student": str(args.student), "learning_rate": args.learning_rate, "gold_texts": len(gold_lines),
        "student_test_f1": student.test.f1, "finetuned_test_f1": tuned.test.f1,
        "student_validation_f1": student.validation.f1, "finetuned_validation_f1": tuned.validation.f1, "best_epoch": tuned.best_epoch,
    }  # fmt: skip
    print(json.dumps(summary, indent=1))
    (args.output_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
