"""Teacher-student self-training (`--unlabeled-data`): a trained model teaches a second one on unlabelled text.

The run first trains as it would without the option (the teacher, in OUTPUT_DIR/teacher). The teacher
tags the unlabelled target texts through the pipeline, the one path from text to entities; those texts
with its entities join the labelled training subset in OUTPUT_DIR/student_train.jsonl, and a second run
(the student) starts exactly as the teacher did (from scratch, or from the same source modules) and
trains on that file. This is how cross-lingual NER distils a transferred teacher into a target-language
student (Wu et al., ACL 2020); here the teacher has also seen the labelled sentences. Validation, early
stopping and the test score are the student's own, on the usual files. With several teachers (the same
labelled texts, other seeds), the student learns the entities that a majority of them find; a transfer run's
teachers may mix the two starts (some copied from the source, some from scratch), whose mistakes differ more
than those of seeds alone.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import datasets

from tokenization.tokenization_xlner import XLNerTokenizer

from ..modeling_xlner import XLNerForTokenClassification
from .data import is_span_data, load_data, read_texts
from .evaluation import headline, score_split, tagging_pipeline
from .options import TrainingOptions
from .results import Results, SelfTrainingRecord
from .trainer import take_train_samples
from .zero_shot import collapse_types

logger = logging.getLogger(__name__)

TEACHER_DIR = "teacher"  # OUTPUT_DIR/teacher: the first run, whose tags the student learns from
STUDENT_TRAIN_FILE = "student_train.jsonl"  # OUTPUT_DIR/student_train.jsonl: gold subset, then tagged texts
STUDENT_VALIDATION_FILE = "student_validation.jsonl"  # zero-shot: the validation texts as the teacher tags them
GOLD_FILE = "gold.jsonl"  # OUTPUT_DIR/gold.jsonl: the labelled subset, which the voting teachers after the first train on
TEACHER_SEED_STEP = 100  # voting teacher j (from 0) trains with seed SEED + 100 j

# One stage of a run: (training file, output folder, options) -> its results. The teacher and the student
# are the same stage on different data, so `train` and `transfer` both self-train through this.
Stage = Callable[[str, Path, TrainingOptions], Results]
# Zero-shot's student stage also takes its validation file (the validation texts as the teacher tags them).
ValidatedStage = Callable[[str, Path, TrainingOptions, str], Results]


def read_unlabeled_texts(path: str | Path, skip: set[str] = frozenset()) -> tuple[list[str], int]:
    """The texts of `path` (a .txt file, one text per line, or span JSON(L) whose labels are not read), without
    blank ones, repeats and those in `skip`; returns (texts, how many were left out)."""
    raw = read_texts(path)
    texts = list(dict.fromkeys(text for text in raw if text.strip() and text not in skip))
    return texts, len(raw) - len(texts)


def pseudo_labels(teacher_dir: str | Path, texts: list[str], batch_size: int = 128) -> list[dict]:
    """Span records (`{"text", "entities": [{"name", "span", "type"}]}`) of the teacher's entities in `texts`."""
    model = XLNerForTokenClassification.from_pretrained(teacher_dir)
    pipe = tagging_pipeline(model, XLNerTokenizer.from_pretrained(teacher_dir))
    found = pipe(texts, aggregation_strategy="simple", batch_size=batch_size, chunk_size=max(len(texts), 1))
    return [_span_record(text, [(e["start"], e["end"], e["entity_group"]) for e in entities]) for text, entities in zip(texts, found)]


def majority_entities(taggings: list[list[dict]], mark_disputed: bool = False) -> list[dict]:
    """Span records of the entities (same start, end and type) found by more than half of the taggings of the same texts.

    Two such entities never overlap: each has a majority, so some tagging would hold both, and one tagging's
    entities do not overlap. With `mark_disputed`, a record also lists as `unlabeled` the spans that some
    taggings but not a majority hold: their words outside the majority's entities are then not taught as outside.
    """
    voted = []
    for records in zip(*taggings, strict=True):
        votes = Counter((*entity["span"], entity["type"]) for record in records for entity in record["entities"])
        voted.append(_span_record(records[0]["text"], sorted(span for span, count in votes.items() if 2 * count > len(taggings))))
        disputed = sorted({(start, end) for (start, end, _), count in votes.items() if 2 * count <= len(taggings)})
        if mark_disputed and disputed:
            voted[-1]["unlabeled"] = [list(span) for span in disputed]
    return voted


def span_records(dataset: datasets.Dataset) -> list[dict]:
    """A span dataset (as `load_data` gives it) back as span records."""
    return [
        _span_record(text, [(e["start"], e["end"], e["type"]) for e in entities])
        for text, entities in zip(dataset["text"], dataset["entities"])
    ]


def _span_record(text: str, spans: list[tuple[int, int, str]]) -> dict:
    return {"text": text, "entities": [{"name": text[start:end], "span": [start, end], "type": kind} for start, end, kind in spans]}


def write_student_data(path: Path, gold: list[dict], tagged: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in [*gold, *tagged]:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def self_train(
    stage: Stage, train_source: str, output_dir: str | Path, options: TrainingOptions,
    teacher_dir: str | Path | None = None, scratch_stage: Stage | None = None, teachers_dir: str | Path | None = None,
) -> Results:
    """Teacher (trained here into OUTPUT_DIR/teacher unless `teacher_dir` holds one), tags, student; the student's results.
    Teachers whose folder holds a results.json already are kept, so an interrupted run resumes with its student.

    The teacher's training subset (`max_train_samples`, `seed`) is the student's gold part, and its texts
    are not tagged again. With `self_training_teachers` K > 1, K - 1 more teachers train on that subset with other
    seeds, and the first student learns the entities more than half of the K find; the last
    `self_training_scratch_teachers` of them train through `scratch_stage` (a run from scratch), the others
    through `stage`, into `teachers_dir` (OUTPUT_DIR unless given: runs that differ only in how their students
    learn may share their teachers). With `self_training_rounds`
    R > 1, student r (in OUTPUT_DIR/student-r) teaches student r + 1, and the last one is OUTPUT_DIR's. Each
    student's results.json `self_training` records its teachers.
    """
    if options.self_training_scratch_teachers and scratch_stage is None:
        raise ValueError("self_training_scratch_teachers: this run starts from scratch, and so do its teachers; mix the starts with xlner transfer")
    output_dir = Path(output_dir)
    gold = take_train_samples(load_data(train_source), options.max_train_samples, options.seed)
    if not is_span_data(gold):
        raise ValueError(f"{train_source}: self-training writes the teacher's entities as character spans, so the training data must be span JSON(L), not word data")
    texts, left_out = read_unlabeled_texts(options.unlabeled_data, skip=set(gold["text"]))
    if not texts:
        raise ValueError(f"{options.unlabeled_data}: no unlabelled text besides the training texts: nothing for the teacher to tag")
    teacher_options, gold_records = replace(options, unlabeled_data=None), span_records(gold)
    if teacher_dir is None:
        teacher_dir = output_dir / TEACHER_DIR
        if not (teacher_dir / "results.json").exists():  # else trained before (an interrupted run): kept
            stage(train_source, teacher_dir, teacher_options)
    voting_dir = Path(teachers_dir) if teachers_dir is not None else output_dir
    teachers = [Path(teacher_dir), *_voting_teachers(stage, scratch_stage, gold_records, voting_dir, teacher_options)]
    rounds = options.self_training_rounds
    for round_number in range(1, rounds + 1):
        student_dir = output_dir if round_number == rounds else output_dir / f"student-{round_number}"
        results = _train_student(stage, gold_records, texts, teachers, student_dir, options)
        results.self_training.round, results.self_training.texts_left_out = round_number, left_out
        results.save(student_dir / "results.json")
        teachers = [student_dir]
    return results


def _voting_teachers(stage: Stage, scratch_stage: Stage | None, gold: list[dict], output_dir: Path, options: TrainingOptions) -> list[Path]:
    """The teachers after the first (`self_training_teachers` - 1), trained on the first one's labelled subset
    (`output_dir`/gold.jsonl) with seeds SEED + 100, SEED + 200, ... into `output_dir`/teacher-2, teacher-3, ...;
    the last `self_training_scratch_teachers` of them through `scratch_stage`. A folder that holds a results.json
    already is kept."""
    if options.self_training_teachers == 1:
        return []
    output_dir.mkdir(parents=True, exist_ok=True)
    gold_file = output_dir / GOLD_FILE
    write_student_data(gold_file, gold, [])
    folders, first_scratch = [], options.self_training_teachers - options.self_training_scratch_teachers + 1
    for number in range(2, options.self_training_teachers + 1):
        folders.append(output_dir / f"{TEACHER_DIR}-{number}")
        if (folders[-1] / "results.json").exists():  # trained before (an interrupted run): kept, as reproduce keeps runs
            continue
        seed = options.seed + TEACHER_SEED_STEP * (number - 1)
        (scratch_stage if number >= first_scratch else stage)(str(gold_file), folders[-1], replace(options, seed=seed, max_train_samples=None))
    return folders


def _train_student(stage: Stage, gold: list[dict], texts: list[str], teachers: list[Path], output_dir: Path, options: TrainingOptions) -> Results:
    """One student: the teachers tag `texts` (with several, by majority), and `stage` trains on `gold` and those tags
    into `output_dir` (results.json is saved by `self_train`, once its record is complete)."""
    taught = [Results.load(folder / "results.json") for folder in teachers]
    taggings = [pseudo_labels(folder, texts, options.eval_batch_size) for folder in teachers]
    tagged = majority_entities(taggings, mark_disputed=options.self_training_partial_labels)
    output_dir.mkdir(parents=True, exist_ok=True)
    student_file = output_dir / STUDENT_TRAIN_FILE
    write_student_data(student_file, gold * options.self_training_gold_copies, tagged)
    entities = sum(len(record["entities"]) for record in tagged)
    logger.info("Self-training: %d gold and %d tagged texts (%d entities) in %s", len(gold), len(tagged), entities, student_file)
    results = stage(str(student_file), output_dir, replace(options, unlabeled_data=None, max_train_samples=None))
    teacher_dir, teacher = teachers[0], taught[0]
    results.self_training = SelfTrainingRecord(
        teacher=str(teacher_dir),
        teacher_validation_f1=teacher.validation.f1,
        teacher_test_f1=teacher.test.f1 if teacher.test else None,
        unlabeled_file=str(options.unlabeled_data),
        gold_texts=len(gold),
        gold_copies=options.self_training_gold_copies,
        tagged_texts=len(tagged),
        tagged_entities=entities,
        texts_left_out=0,  # set by `self_train`, which read the unlabelled file
        voting_teachers=[str(folder) for folder in teachers] if len(teachers) > 1 else [],
        voting_teachers_test_f1=[result.test.f1 if result.test else None for result in taught] if len(teachers) > 1 else [],
        scratch_teachers=options.self_training_scratch_teachers if len(teachers) > 1 else 0,
        unlabeled_ranges=sum(len(record.get("unlabeled", [])) for record in tagged),
    )
    results.options = {**results.options, "unlabeled_data": options.unlabeled_data, "max_train_samples": options.max_train_samples}
    return results


def zero_shot_self_train(
    teach: Callable[[Path], dict], stage: ValidatedStage, validation_source: str, test_source: str, output_dir: str | Path,
    options: TrainingOptions, type_map: dict[str, str],
) -> dict:
    """Zero-shot self-training: no target labels at any step. `teach(folder)` builds and saves the zero-shot model
    (the teacher) and returns its record; the teacher tags the unlabelled texts and the validation texts (their
    labels unused), and the student trains on the first and stops early on the second. Returns zero_shot.json's
    record for the student, its test set scored with the types collapsed through `type_map`, the teacher's beside it.
    """
    if options.self_training_teachers > 1:
        raise ValueError("self_training_teachers: voting teachers train on labelled texts, and zero-shot has none: use 1")
    output_dir = Path(output_dir)
    texts, left_out = read_unlabeled_texts(options.unlabeled_data)
    teacher_dir = output_dir / TEACHER_DIR
    teacher = teach(teacher_dir)
    tagged = pseudo_labels(teacher_dir, texts, options.eval_batch_size)
    validation_texts, _ = read_unlabeled_texts(validation_source)
    output_dir.mkdir(parents=True, exist_ok=True)
    student_file, validation_file = output_dir / STUDENT_TRAIN_FILE, output_dir / STUDENT_VALIDATION_FILE
    write_student_data(student_file, [], tagged)
    write_student_data(validation_file, [], pseudo_labels(teacher_dir, validation_texts, options.eval_batch_size))
    student_options = replace(options, unlabeled_data=None, max_train_samples=None)
    results = stage(str(student_file), output_dir, student_options, str(validation_file))
    model = XLNerForTokenClassification.from_pretrained(output_dir)
    scores = score_split(tagging_pipeline(model, XLNerTokenizer.from_pretrained(output_dir)), collapse_types(load_data(test_source), type_map))
    return {
        **teacher,
        "test": headline(scores) | {"per_type": scores.get("per_type")},
        "teacher": {"output_dir": str(teacher_dir), "test": teacher["test"]},
        "self_training": {
            "unlabeled_file": str(options.unlabeled_data), "tagged_texts": len(tagged), "texts_left_out": left_out,
            "tagged_entities": sum(len(record["entities"]) for record in tagged), "best_epoch": results.best_epoch,
            "student_validation_f1_against_teacher": results.validation.f1,
        },
    }  # fmt: skip


__all__ = [
    "GOLD_FILE", "STUDENT_TRAIN_FILE", "STUDENT_VALIDATION_FILE", "TEACHER_DIR", "TEACHER_SEED_STEP", "majority_entities",
    "pseudo_labels", "read_unlabeled_texts", "self_train", "span_records", "zero_shot_self_train",
]  # fmt: skip
