"""Teacher-student self-training (modeling_xlner/training/self_training.py): unlabelled texts, the teacher's tags,
the student's data and start, errors, and the reproduce method."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.cli import main
from modeling_xlner.training import reproduce as reproduce_module
from modeling_xlner.training import self_training
from modeling_xlner.training.data import DataFormatError
from modeling_xlner.training.options import TrainingOptions
from modeling_xlner.training.reproduce import Plan, Run, plan_runs
from modeling_xlner.training.results import Results
from modeling_xlner.training.self_training import majority_entities, pseudo_labels, read_unlabeled_texts, self_train

from test_reproduce import _method_context, _trained
from test_training_transfer import JA_RECORDS, write_span_data
from test_transfer import JA_LABELS, SMALL, english_dir  # noqa: F401 (fixture)

TINY_RUN = ["--epochs", "1", "--batch-size", "2", "--vectors", "none", "--seed", "3"]
TINY_MODEL = [f"{key}={value}" for key, value in SMALL.items()]


def _train_and_texts(tmp_path: Path, unlabeled: list[str]) -> tuple[str, Path]:
    """JA_RECORDS as a span training file, and `unlabeled` as a text file, one a line."""
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"{text}\n" for text in unlabeled), encoding="utf-8")
    return write_span_data(tmp_path / "train.jsonl", JA_RECORDS), texts


def forced_teacher(directory: Path, label: str) -> Path:
    """A tiny Japanese softmax model that tags every word `label`: its head is zero but for that label's bias."""
    texts = [text for text, _ in JA_RECORDS]
    tokenizer = XLNerTokenizer.from_corpus(texts, language="ja")
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size, bigram_vocab_size=tokenizer.bigram_vocab_size, use_crf=False,
        pos_vocab_size=tokenizer.pos_vocab_size, id2label=dict(enumerate(JA_LABELS)), language="ja", **SMALL,
    )  # fmt: skip
    model = XLNerForTokenClassification(config)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.bias[config.label2id[label]] = 10.0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_a_teacher_that_tags_every_word_as_a_name_tiles_each_text_with_names(tmp_path):
    teacher = forced_teacher(tmp_path / "names", "B-人名")
    texts = ["佐藤さんは大阪へ行った。", "New York と 京都"]
    for text, record in zip(texts, pseudo_labels(teacher, texts)):
        entities = record["entities"]
        assert record["text"] == text and entities
        assert all(e["type"] == "人名" and e["name"] == text[e["span"][0] : e["span"][1]] for e in entities)
        # One entity per word, in order, together covering every character but the spaces.
        assert all(a["span"][1] <= b["span"][0] for a, b in zip(entities, entities[1:]))
        assert "".join(e["name"] for e in entities) == text.replace(" ", "")


def test_a_teacher_that_tags_everything_outside_gives_texts_without_entities(tmp_path):
    teacher = forced_teacher(tmp_path / "outside", "O")
    assert pseudo_labels(teacher, ["佐藤さんは大阪へ行った。", "京都"]) == [
        {"text": "佐藤さんは大阪へ行った。", "entities": []}, {"text": "京都", "entities": []},
    ]  # fmt: skip


def test_unlabelled_texts_from_text_and_json_lines_without_blanks_repeats_or_training_texts(tmp_path):
    plain = tmp_path / "texts.txt"
    plain.write_text("東京は晴れ。\n\n大阪は雨。\n東京は晴れ。\n学習文。\n", encoding="utf-8")
    assert read_unlabeled_texts(plain, skip={"学習文。"}) == (["東京は晴れ。", "大阪は雨。"], 3)
    lines = tmp_path / "texts.jsonl"
    lines.write_text(
        '{"text": "京都", "entities": [{"name": "京都", "span": [0, 2], "type": "地名"}]}\n\n{"text": "奈良"}\n', encoding="utf-8"
    )
    assert read_unlabeled_texts(lines) == (["京都", "奈良"], 0)  # labels are not read


def test_bad_unlabelled_files_name_the_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt: no such data file"):
        read_unlabeled_texts(tmp_path / "missing.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "京都"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.jsonl, line 2: invalid JSON"):
        read_unlabeled_texts(bad)
    bad.write_text('{"text": "京都"}\n\n{"title": "奈良"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.jsonl, line 3: expected an object with a string 'text'"):
        read_unlabeled_texts(bad)


def test_self_training_refuses_word_data_and_nothing_to_tag(tmp_path):
    conll = tmp_path / "train.txt"
    conll.write_text("Tokyo B-LOC\n\nSony B-ORG\n", encoding="utf-8")
    texts = tmp_path / "texts.txt"
    texts.write_text("京都\n", encoding="utf-8")
    never = lambda *args: pytest.fail("no stage may run")  # noqa: E731
    with pytest.raises(ValueError, match="train.txt: self-training .* must be span JSON"):
        self_train(never, str(conll), tmp_path / "out", TrainingOptions(unlabeled_data=str(texts)))
    train = write_span_data(tmp_path / "train.jsonl", JA_RECORDS)
    (tmp_path / "same.txt").write_text("\n".join(text for text, _ in JA_RECORDS) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="same.txt: no unlabelled text besides the training texts"):
        self_train(never, train, tmp_path / "out", TrainingOptions(unlabeled_data=str(tmp_path / "same.txt")))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_xlner_train_with_unlabelled_data_trains_a_teacher_then_a_student_on_gold_and_tags(tmp_path):
    train = write_span_data(tmp_path / "train.jsonl", JA_RECORDS)
    gold_by_text = {record["text"]: record for record in _records(Path(train))}
    # The training file itself as the unlabelled data, as `xlner reproduce` does: the two texts outside the
    # seeded subset of 2 are tagged, the subset's are not, and a new text is tagged too.
    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text(Path(train).read_text(encoding="utf-8") + '{"text": "鈴木一郎は京都に住む。"}\n', encoding="utf-8")
    output = tmp_path / "student"
    main([
        "train", "--lang", "ja", "--train", train, "--validation", train, "--test", train, "--output-dir", str(output),
        "--max-train-samples", "2", "--unlabeled-data", str(unlabeled), *TINY_RUN, "--set", *TINY_MODEL,
    ])  # fmt: skip
    teacher = Results.load(output / "teacher" / "results.json")
    assert teacher.data.train_sentences == 2 and teacher.self_training is None
    records = _records(output / "student_train.jsonl")
    gold, tagged = records[:2], records[2:]
    assert all(record == {"text": r["text"], "entities": gold_by_text[r["text"]]["entities"]} for r, record in zip(gold, gold))
    assert {r["text"] for r in tagged} == set(gold_by_text) - {r["text"] for r in gold} | {"鈴木一郎は京都に住む。"}
    assert all(e["name"] == r["text"][e["span"][0] : e["span"][1]] for r in tagged for e in r["entities"])
    student = Results.load(output / "results.json")
    record = student.self_training
    assert student.data.train_sentences == 5 and (record.gold_texts, record.tagged_texts, record.texts_left_out) == (2, 3, 2)
    assert record.tagged_entities == sum(len(r["entities"]) for r in tagged)
    assert record.teacher == str(output / "teacher") and record.teacher_test_f1 == teacher.test.f1
    assert student.options["unlabeled_data"] == str(unlabeled) and student.options["max_train_samples"] == 2


def test_a_transferred_student_starts_from_the_source_as_its_teacher_did(english_dir, tmp_path):  # noqa: F811
    train, texts = _train_and_texts(tmp_path, ["鈴木一郎は京都に住む。", "パナソニックは大阪の会社だ。"])
    output = tmp_path / "student"
    main([
        "transfer", "--source", str(english_dir), "--modules", "char,classifier", "--shared-bigrams", "--lang", "ja",
        "--train", train, "--validation", train, "--output-dir", str(output), "--unlabeled-data", str(texts), *TINY_RUN,
    ])  # fmt: skip
    teacher, student = Results.load(output / "teacher" / "results.json"), Results.load(output / "results.json")
    for record in (teacher.transfer, student.transfer):
        assert record.source == str(english_dir) and record.modules == ["char", "context", "head"]
    assert student.transfer.rows_copied["head"] == teacher.transfer.rows_copied["head"]
    assert student.data.train_sentences == len(JA_RECORDS) + 2 and student.self_training.tagged_texts == 2


def test_xlner_transfer_mixes_copied_and_scratch_teachers(english_dir, tmp_path):  # noqa: F811
    train, texts = _train_and_texts(tmp_path, ["鈴木一郎は京都に住む。"])
    output = tmp_path / "student"
    main([
        "transfer", "--source", str(english_dir), "--modules", "char,classifier", "--shared-bigrams", "--lang", "ja",
        "--train", train, "--validation", train, "--output-dir", str(output), "--unlabeled-data", str(texts),
        "--self-training-teachers", "3", "--self-training-scratch-teachers", "1", *TINY_RUN,
    ])  # fmt: skip
    teachers = [Results.load(output / name / "results.json") for name in ("teacher", "teacher-2", "teacher-3")]
    assert [t.transfer is not None and t.transfer.source == str(english_dir) for t in teachers] == [True, True, False]
    assert [t.seed for t in teachers] == [3, 103, 203]
    student = Results.load(output / "results.json")
    assert student.transfer.source == str(english_dir) and student.self_training.scratch_teachers == 1


def test_reproduce_self_training_reuses_its_teacher_run_and_tags_the_training_split(tmp_path, monkeypatch):
    import modeling_xlner.training.transfer as training

    transfers, students = [], []

    def fake_transfer(source, language, train, validation, output, options, transfer_options, test):
        transfers.append(Path(output))
        Path(output).mkdir(parents=True)
        return Results.from_dict(_trained(0.6, 0.6))

    def fake_self_train(stage, train_source, output_dir, options, teacher_dir=None, scratch_stage=None, teachers_dir=None):
        students.append((train_source, Path(output_dir), options.unlabeled_data, Path(teacher_dir)))
        Path(output_dir).mkdir(parents=True)
        return Results.from_dict(_trained(0.7, 0.7))

    monkeypatch.setattr(training, "transfer", fake_transfer)
    monkeypatch.setattr(self_training, "self_train", fake_self_train)
    run = Run("char+classifier", 250, 2, transfer_method="self-training")
    assert reproduce_module.teacher_stage(run) == Run("char+classifier", 250, 2)
    assert reproduce_module.teacher_stage(Run("scratch", 250, 2, transfer_method="self-training")) == Run("scratch", 250, 2)
    context = _method_context(tmp_path)
    results = reproduce_module._run_one(run, context)
    teacher_dir = tmp_path / "runs" / "char+classifier__n250__seed2"
    assert transfers == [teacher_dir]  # the teacher is the plain copy run, trained first
    assert students == [(context.data["ja"]["train"], tmp_path / "runs" / run.name, context.data["ja"]["train"], teacher_dir)]
    assert results.run.transfer_method == "self-training"


def test_self_training_runs_for_scratch_too_and_after_the_rest():
    assert Run.from_name("scratch__n250__seed1__self-training") == Run("scratch", 250, 1, transfer_method="self-training")
    with pytest.raises(ValueError, match="a scratch run transfers nothing"):
        Run.from_name("scratch__n250__seed1__joint")
    plan = Plan(recipes=("best",), sizes=(250,), seeds=(1,), combinations=("char+classifier",), transfer_methods=("copy", "self-training"), full_set=False, ablation_size=None)
    assert [run.name for run in plan_runs(plan)] == [
        "scratch__n250__seed1", "scratch__n250__seed1__self-training", "char+classifier__n250__seed1",
        "char+classifier__n250__seed1__self-training",
    ]  # fmt: skip


def test_a_zero_shot_student_learns_the_teachers_tags_without_a_target_label(tmp_path):
    from modeling_xlner.training.options import TransferOptions
    from modeling_xlner.training.transfer import transfer
    from test_joint import save_english_model

    source = save_english_model(tmp_path / "en", crf=True)
    model = XLNerForTokenClassification.from_pretrained(source)
    with torch.no_grad():  # spread the random head's scores, so that the teacher tags some entities
        model.head.weight.mul_(20.0)
    model.save_pretrained(source)
    # Labels the zero-shot runs must never read: a type no label map knows would fail the student.
    train = write_span_data(tmp_path / "train.jsonl", [(text, [(text[:2], "未知の型")]) for text, _ in JA_RECORDS])
    test = write_span_data(tmp_path / "test.jsonl", JA_RECORDS)
    options = TrainingOptions(unlabeled_data=train, vectors=None, epochs=1, batch_size=2, seed=1)
    record = transfer(
        str(source), "ja", train, train, tmp_path / "out", options,
        TransferOptions(modules="char,classifier", shared_bigrams=True, zero_shot=True), test,
    )  # fmt: skip
    tagged = _records(tmp_path / "out" / "student_train.jsonl")
    assert [r["text"] for r in tagged] == [text for text, _ in JA_RECORDS]  # every text, tagged by the teacher
    assert {e["type"] for r in tagged for e in r["entities"]} <= {"PER", "LOC", "ORG", "MISC"}
    assert record["self_training"]["tagged_entities"] == sum(len(r["entities"]) for r in tagged) > 0
    teacher = json.loads((tmp_path / "out" / "teacher" / "zero_shot.json").read_text(encoding="utf-8"))
    assert record["teacher"]["test"] == teacher["test"] and "self_training" not in teacher
    saved = json.loads((tmp_path / "out" / "zero_shot.json").read_text(encoding="utf-8"))
    assert saved["test"] == record["test"] and saved["type_map"]["人名"] == "PER"
    student = XLNerForTokenClassification.from_pretrained(tmp_path / "out").config
    assert {label.split("-", 1)[-1] for label in student.id2label.values()} <= {"O", "PER", "LOC", "ORG", "MISC"}
    assert Results.load(tmp_path / "out" / "results.json").transfer.source == str(source)


def _train_self_trained(tmp_path: Path, unlabeled: list[str], *flags: str) -> Path:
    """`xlner train` of a tiny Japanese model on JA_RECORDS with these unlabelled texts and flags; its output folder."""
    train, texts = _train_and_texts(tmp_path, unlabeled)
    output = tmp_path / "student"
    main([
        "train", "--lang", "ja", "--train", train, "--validation", train, "--output-dir", str(output),
        "--unlabeled-data", str(texts), *flags, *TINY_RUN, "--set", *TINY_MODEL,
    ])  # fmt: skip
    return output


def test_a_second_round_student_learns_from_the_first_student(tmp_path):
    output = _train_self_trained(tmp_path, ["鈴木一郎は京都に住む。"], "--self-training-rounds", "2")
    first, last = Results.load(output / "student-1" / "results.json"), Results.load(output / "results.json")
    assert (first.self_training.round, first.self_training.teacher) == (1, str(output / "teacher"))
    assert (last.self_training.round, last.self_training.teacher) == (2, str(output / "student-1"))
    assert last.self_training.teacher_validation_f1 == first.validation.f1
    assert _records(output / "student_train.jsonl")[:4] == _records(output / "student-1" / "student_train.jsonl")[:4]  # same gold
    with pytest.raises(ValueError, match="self_training_rounds must be 1 or more, got 0"):
        TrainingOptions(self_training_rounds=0)


def _tagging(*records: tuple[str, list[tuple[int, int, str]]]) -> list[dict]:
    return [{"text": text, "entities": [{"name": text[a:b], "span": [a, b], "type": kind} for a, b, kind in spans]} for text, spans in records]


def test_the_vote_keeps_the_entities_more_than_half_of_the_teachers_find():
    first = _tagging(("佐藤は大阪へ", [(0, 2, "人名"), (3, 5, "地名")]), ("京都", []))
    second = _tagging(("佐藤は大阪へ", [(0, 2, "人名"), (3, 5, "施設名")]), ("京都", [(0, 2, "地名")]))
    third = _tagging(("佐藤は大阪へ", [(0, 3, "人名")]), ("京都", [(0, 2, "地名")]))
    # By hand: 佐藤 人名 has 2 votes of 3; 大阪 has one per type; 佐藤は one; 京都 地名 two.
    assert majority_entities([first, second, third]) == _tagging(("佐藤は大阪へ", [(0, 2, "人名")]), ("京都", [(0, 2, "地名")]))
    # Two teachers: one vote of two is no majority.
    assert majority_entities([first, second]) == _tagging(("佐藤は大阪へ", [(0, 2, "人名")]), ("京都", []))
    assert majority_entities([second]) == second
    with pytest.raises(ValueError):  # taggings of different texts cannot be voted on
        majority_entities([first, first[:1]])


def test_voting_teachers_train_on_the_gold_subset_with_other_seeds_and_the_student_learns_their_majority(tmp_path):
    unlabeled = ["鈴木一郎は京都に住む。", "パナソニックは大阪の会社だ。"]
    output = _train_self_trained(tmp_path, unlabeled, "--max-train-samples", "2", "--self-training-teachers", "3")
    teachers = [output / "teacher", output / "teacher-2", output / "teacher-3"]
    assert [Results.load(folder / "results.json").seed for folder in teachers] == [3, 103, 203]
    assert [Results.load(folder / "results.json").data.train_sentences for folder in teachers] == [2, 2, 2]
    student_records = _records(output / "student_train.jsonl")
    assert _records(output / "gold.jsonl") == student_records[:2]  # the first teacher's subset, nothing else
    record = Results.load(output / "results.json").self_training
    assert record.voting_teachers == [str(folder) for folder in teachers] and record.teacher == str(teachers[0])
    assert record.voting_teachers_test_f1 == [None, None, None]  # no --test
    # The definition, checked entity by entity against each teacher's own tags through the pipeline.
    tagged_texts = [r["text"] for r in student_records[2:]]
    found = [[{(*e["span"], e["type"]) for e in r["entities"]} for r in pseudo_labels(folder, tagged_texts)] for folder in teachers]
    candidates = [set().union(*(teacher[index] for teacher in found)) for index in range(len(tagged_texts))]
    assert any(candidates), "the tiny teachers tag something, so that the vote has something to drop"
    for index, student_record in enumerate(student_records[2:]):
        learnt = {(*e["span"], e["type"]) for e in student_record["entities"]}
        assert learnt == {span for span in candidates[index] if sum(span in teacher[index] for teacher in found) >= 2}
    with pytest.raises(ValueError, match="self_training_teachers must be 1 or more, got 0"):
        TrainingOptions(self_training_teachers=0)


def test_two_teachers_of_three_that_tag_every_word_as_a_name_outvote_the_first(tmp_path):
    train, texts = _train_and_texts(tmp_path, ["鈴木一郎は京都に住む。", "パナソニックは大阪の会社だ。"])
    labels = {1: "O", 101: "B-人名", 201: "B-人名"}  # by seed: the first teacher, the run's own, finds nothing
    student_files = []

    def stage(train_file: str, output: Path, options: TrainingOptions) -> Results:
        if output.name.startswith("teacher"):
            forced_teacher(output, labels[options.seed])
        else:
            student_files.append(train_file)
        Results.from_dict(_trained(0.5, 0.5)).save(output / "results.json")
        return Results.from_dict(_trained(0.5, 0.5))

    options = TrainingOptions(unlabeled_data=str(texts), max_train_samples=2, seed=1, self_training_teachers=3)
    self_train(stage, train, tmp_path / "out", options)
    tagged = _records(Path(student_files[0]))[2:]
    # The oracle is the text itself: two teachers of three tile it with one name per word, so the student does.
    assert [r["text"] for r in tagged] == ["鈴木一郎は京都に住む。", "パナソニックは大阪の会社だ。"]
    for record in tagged:
        assert {e["type"] for e in record["entities"]} == {"人名"}
        assert "".join(e["name"] for e in record["entities"]) == record["text"]


def test_mixed_teachers_the_last_ones_train_from_scratch_and_three_of_five_outvote_the_copies(tmp_path):
    train, texts = _train_and_texts(tmp_path, ["鈴木一郎は京都に住む。"])
    # By seed: the run's own teacher and the next copied one find nothing; the third copied one and both
    # scratch teachers call every word a name, so 3 of 5 do.
    labels = {1: "O", 101: "O", 201: "B-人名", 301: "B-人名", 401: "B-人名"}
    trained, student_files = [], []

    def stages(start: str):
        def stage(train_file: str, output: Path, options: TrainingOptions) -> Results:
            if output.name.startswith("teacher"):
                trained.append((output.name, start, options.seed))
                forced_teacher(output, labels[options.seed])
            else:
                student_files.append((start, train_file))
            Results.from_dict(_trained(0.5, 0.5)).save(output / "results.json")
            return Results.from_dict(_trained(0.5, 0.5))
        return stage

    options = TrainingOptions(unlabeled_data=str(texts), max_train_samples=2, seed=1, self_training_teachers=5, self_training_scratch_teachers=2)
    results = self_train(stages("copy"), train, tmp_path / "out", options, scratch_stage=stages("scratch"))
    assert trained == [
        ("teacher", "copy", 1), ("teacher-2", "copy", 101), ("teacher-3", "copy", 201),
        ("teacher-4", "scratch", 301), ("teacher-5", "scratch", 401),
    ]  # fmt: skip
    assert [start for start, _ in student_files] == ["copy"]  # the student starts as the run does
    (record,) = _records(Path(student_files[0][1]))[2:]
    assert {e["type"] for e in record["entities"]} == {"人名"} and "".join(e["name"] for e in record["entities"]) == record["text"]
    assert results.self_training.scratch_teachers == 2 and len(results.self_training.voting_teachers) == 5
    # Two name-callers of five are no majority: with the last scratch teacher silent too, the text has no entity.
    labels[401] = "O"
    student_files.clear()
    self_train(stages("copy"), train, tmp_path / "out2", options, scratch_stage=stages("scratch"))
    assert _records(Path(student_files[0][1]))[2]["entities"] == []
    # Run again into the first folder, with the gold texts three times: the teachers are kept, not trained again.
    trained.clear(), student_files.clear()
    self_train(stages("copy"), train, tmp_path / "out", replace(options, self_training_gold_copies=3), scratch_stage=stages("scratch"))
    assert trained == []
    records = _records(Path(student_files[0][1]))
    assert [r["text"] for r in records[:6]] == [r["text"] for r in records[:2]] * 3 and records[6]["text"] == "鈴木一郎は京都に住む。"
    assert len(records) == 7 and records[6]["entities"]  # the kept teachers still vote the names in
    with pytest.raises(ValueError, match="self_training_gold_copies must be 1 or more, got 0"):
        TrainingOptions(self_training_gold_copies=0)


def test_mixed_teachers_need_a_transfer_run_and_fewer_than_the_teachers(tmp_path):
    train, texts = _train_and_texts(tmp_path, ["鈴木一郎は京都に住む。"])
    options = TrainingOptions(unlabeled_data=str(texts), max_train_samples=2, self_training_teachers=3, self_training_scratch_teachers=1)
    with pytest.raises(ValueError, match="starts from scratch, and so do its teachers"):
        self_train(lambda *args: None, train, tmp_path / "out", options)  # no scratch stage: xlner train
    for scratch in (3, -1):
        with pytest.raises(ValueError, match=f"self_training_scratch_teachers must be from 0 to self_training_teachers - 1 \\(2\\).*got {scratch}"):
            TrainingOptions(self_training_teachers=3, self_training_scratch_teachers=scratch)
    with pytest.raises(SystemExit, match="xlner train: error: self_training_scratch_teachers: this run starts from scratch"):
        main(["train", "--lang", "ja", "--train", str(train), "--validation", str(train), "--output-dir", str(tmp_path / "cli"),
              "--unlabeled-data", str(texts), "--self-training-teachers", "3", "--self-training-scratch-teachers", "1", *TINY_RUN])
    assert not (tmp_path / "cli").exists()  # refused before any teacher trained


def _fake_self_train(monkeypatch, describe) -> list:
    """Replace `self_train` by a fake that records `describe(options, teacher run's folder name)` of each call."""
    asked = []

    def fake_self_train(stage, train_source, output_dir, options, teacher_dir=None, scratch_stage=None, teachers_dir=None):
        asked.append(describe(options, Path(teacher_dir).name))
        Path(output_dir).mkdir(parents=True)
        return Results.from_dict(_trained(0.7, 0.7))

    monkeypatch.setattr(self_training, "self_train", fake_self_train)
    return asked


def test_reproduce_voting_self_training_asks_for_three_teachers_and_has_no_zero_shot(tmp_path, monkeypatch):
    asked = _fake_self_train(monkeypatch, lambda options, teacher: (options.self_training_teachers, teacher))
    context = _method_context(tmp_path)
    teacher = tmp_path / "runs" / "scratch__n250__seed2"
    teacher.mkdir(parents=True)
    Results.from_dict(_trained(0.6, 0.6)).save(teacher / "results.json")  # done: kept, not trained again
    reproduce_module._run_one(Run("scratch", 250, 2, transfer_method="self-training+vote"), context)
    assert asked == [(3, "scratch__n250__seed2")]
    plan = Plan(recipes=("best",), sizes=(250,), seeds=(1,), combinations=("char+classifier",), transfer_methods=("self-training+vote",), zero_shot=True)
    assert reproduce_module.zero_shot_runs(plan) == []


def test_reproduce_mixed_vote_mixes_the_starts_of_a_transfer_run_only(tmp_path, monkeypatch):
    asked = _fake_self_train(monkeypatch, lambda options, teacher: (
        options.self_training_teachers, options.self_training_scratch_teachers, options.self_training_partial_labels,
        options.self_training_gold_copies, teacher,
    ))  # fmt: skip
    monkeypatch.setattr(reproduce_module, "transfer_setup", lambda run, context: ("source", None))
    context = _method_context(tmp_path)
    for name in ("scratch__n250__seed2", "char+classifier__n250__seed2"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        Results.from_dict(_trained(0.6, 0.6)).save(tmp_path / "runs" / name / "results.json")
    for method in ("self-training+mixed-vote", "self-training+mixed-vote+partial", "self-training+mixed-vote+gold-x4"):
        reproduce_module._run_one(Run("char+classifier", 250, 2, transfer_method=method), context)
        reproduce_module._run_one(Run("scratch", 250, 2, transfer_method=method), context)
    assert asked == [
        (5, 2, False, 1, "char+classifier__n250__seed2"), (5, 0, False, 1, "scratch__n250__seed2"),
        (5, 2, True, 1, "char+classifier__n250__seed2"), (5, 0, True, 1, "scratch__n250__seed2"),
        (5, 2, False, 4, "char+classifier__n250__seed2"), (5, 0, False, 4, "scratch__n250__seed2"),
    ]  # fmt: skip
    plan = Plan(recipes=("best",), sizes=(250,), seeds=(1,), combinations=("char+classifier",), transfer_methods=("self-training+mixed-vote",), zero_shot=True)
    assert reproduce_module.zero_shot_runs(plan) == []
    assert {(r.method, r.transfer_method) for r in plan_runs(replace(plan, zero_shot=False))} >= {
        ("scratch", "self-training+mixed-vote"), ("char+classifier", "self-training+mixed-vote"), ("char+classifier", "copy"),
    }


def test_the_report_measures_gains_against_the_best_scratch_row_at_each_size():
    from modeling_xlner.training.reproduce import best_combinations, markdown_table, summarize
    from test_reproduce import _result

    results = [Results.from_dict(r) for r in [
        _result("scratch", 250, 1, 0.40, 0.40), _result("scratch", 500, 1, 0.50, 0.50),
        _result("scratch", 250, 1, 0.43, 0.43, transfer_method="self-training"),  # stronger at 250 only
        _result("scratch", 500, 1, 0.49, 0.49, transfer_method="self-training"),
        _result("char+classifier", 250, 1, 0.47, 0.47, transfer_method="self-training"),
        _result("char+classifier", 500, 1, 0.56, 0.56, transfer_method="self-training"),
    ]]  # fmt: skip
    summary = summarize(results) | {"ablation_size": None}
    lines = markdown_table(summary, best_combinations(summary)).splitlines()
    # By hand: 47 - 43 (self-trained scratch, the better at 250) and 56 - 50 (plain scratch, the better at 500).
    assert "Gain of char+classifier (self-training) over the best scratch row (best): n=250: +4.0, n=500: +6.0" in lines
    glance = lines[lines.index("## Recipes at a glance: scratch test F1 ×100, mean ± std over seeds") :]
    assert "| best | 40.0 (1 seed) | 50.0 (1 seed) |" in glance  # the recipe's own scratch, not the self-trained one
