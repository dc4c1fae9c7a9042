"""Probes of voting teachers (self-training, modeling_xlner/training/self_training.py) on existing teacher folders.

    python benchmarks/teacher_vote_probe.py score --split validation TEACHER ...
        the test or validation F1 (exact span and type) of each teacher alone and of the vote of the first 3, 5, ...
        of them, for each least number of votes an entity needs (overlaps go to the entity with more votes)
    python benchmarks/teacher_vote_probe.py student-data --gold GOLD.jsonl --output D --mode MODE TEACHER ...
        D/student_train.jsonl from the teachers' majority on the training texts besides GOLD's, as `self_train`
        writes it (MODE majority), or: partial (disputed spans unlabelled), agreed (only the texts where every
        span some teacher finds has a majority), gold-x4 (the gold records four times), every (each teacher's
        tags as a record of its own, the gold records as many times: the student's loss is then its mean over
        the teachers); then train the student
        with `xlner transfer ... --train D/student_train.jsonl`

Teachers' tags are cached in D/../tags-*.json (student-data) or --cache (score): tagging 4,000 texts takes a minute.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

from modeling_xlner.training.data import load_data
from modeling_xlner.training.self_training import majority_entities, pseudo_labels, read_unlabeled_texts, span_records, write_student_data

STOCKMARK = "../shared/data/ner-wikipedia-ja"
Span = tuple[int, int, str]


def cached_tags(teacher: str, texts: list[str], cache: Path) -> list[dict]:
    key = hashlib.sha1(("\n".join(texts) + "\0" + str(Path(teacher).resolve())).encode()).hexdigest()[:16]
    path = cache / f"tags-{key}.json"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(pseudo_labels(teacher, texts), ensure_ascii=False), encoding="utf-8")
    return json.loads(path.read_text(encoding="utf-8"))


def spans(record: dict) -> set[Span]:
    return {(entity["span"][0], entity["span"][1], entity["type"]) for entity in record["entities"]}


def least_votes(taggings: list[list[dict]], needed: int) -> list[set[Span]]:
    """Per text, the spans at least `needed` taggings find, more votes first, overlaps left out."""
    chosen_per_text = []
    for records in zip(*taggings):
        votes = Counter(span for record in records for span in spans(record))
        chosen: list[Span] = []
        for span, count in sorted(votes.items(), key=lambda item: -item[1]):
            if count >= needed and all(span[1] <= other[0] or other[1] <= span[0] for other in chosen):
                chosen.append(span)
        chosen_per_text.append(set(chosen))
    return chosen_per_text


def prf(predicted: list[set[Span]], gold: list[set[Span]]) -> str:
    hits = sum(len(p & g) for p, g in zip(predicted, gold))
    precision, recall = hits / max(sum(map(len, predicted)), 1), hits / max(sum(map(len, gold)), 1)
    return f"P {precision:.3f} R {recall:.3f} F1 {2 * precision * recall / max(precision + recall, 1e-9):.3f}"


def score(args: argparse.Namespace) -> None:
    gold_records = span_records(load_data(f"{args.data_dir}/{args.split}.jsonl"))
    gold, texts = [spans(r) for r in gold_records], [r["text"] for r in gold_records]
    taggings = [cached_tags(teacher, texts, Path(args.cache)) for teacher in args.teachers]
    for teacher, tagging in zip(args.teachers, taggings):
        print(f"{teacher}: {prf([spans(r) for r in tagging], gold)}")
    for size in range(3, len(taggings) + 1, 2):
        for needed in range(1, size + 1):
            print(f"first {size}, at least {needed} votes: {prf(least_votes(taggings[:size], needed), gold)}")


def student_data(args: argparse.Namespace) -> None:
    gold = [json.loads(line) for line in open(args.gold, encoding="utf-8") if line.strip()]
    texts, _ = read_unlabeled_texts(f"{args.data_dir}/train.jsonl", skip={record["text"] for record in gold})
    output = Path(args.output)
    taggings = [cached_tags(teacher, texts, output.parent) for teacher in args.teachers]
    tagged = majority_entities(taggings, mark_disputed=args.mode == "partial")
    if args.mode == "agreed":
        undisputed = [all(2 * c > len(taggings) for c in Counter(s for t in taggings for s in spans(t[i])).values()) for i in range(len(texts))]
        tagged = [record for record, keep in zip(tagged, undisputed) if keep]
    if args.mode == "every":
        tagged = [record for records in zip(*taggings) for record in records]
    output.mkdir(parents=True, exist_ok=True)
    copies = {"gold-x4": 4, "every": len(taggings)}.get(args.mode, 1)
    write_student_data(output / "student_train.jsonl", gold * copies, tagged)
    print(f"{len(tagged)} tagged texts, {sum(len(r['entities']) for r in tagged)} entities -> {output / 'student_train.jsonl'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=STOCKMARK)
    commands = parser.add_subparsers(dest="command", required=True)
    scoring = commands.add_parser("score")
    scoring.add_argument("--split", choices=("validation", "test"), default="validation")
    scoring.add_argument("--cache", default="runs/vote-probe-cache")
    scoring.add_argument("teachers", nargs="+")
    scoring.set_defaults(run=score)
    writing = commands.add_parser("student-data")
    writing.add_argument("--gold", required=True, help="the labelled subset (a voting run's gold.jsonl)")
    writing.add_argument("--output", required=True)
    writing.add_argument("--mode", choices=("majority", "partial", "agreed", "gold-x4", "every"), default="majority")
    writing.add_argument("teachers", nargs="+")
    writing.set_defaults(run=student_data)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
