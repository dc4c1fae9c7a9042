"""Issue 5: a saved model folder is a complete Hub repository; its card; `xlner push`; `push_to_hub`.

Everything runs offline: Hub calls are monkeypatched (and HF_HUB_OFFLINE=1 from conftest stops
any that would slip through). The model is a tiny Japanese tagger trained here for a few hundred
steps on real data, so that it tags its training sentences exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import EntryNotFoundError

from hub_cards.model_card import build_model_card, write_model_card
from hub_cards.push import PushError, export_hub_folder, hub_files, push_hub_folder
from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.cli import main
from modeling_xlner.training.data import boundary_ceiling, spans_to_word_tags, word_tags_to_spans
from modeling_xlner.training.options import TrainingOptions
from modeling_xlner.training.results import Results, TransferRecord


REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "xlner-test/tiny-ja"
REMOTE_CODE = {
    "configuration_xlner.py", "modeling_xlner.py", "transfer_xlner.py", "pipeline_xlner.py",
    "tokenization_xlner.py", "segmentation.py", "decoding_xlner.py", "loading_xlner.py", "lstm_xlner.py", "crf_xlner.py",
}  # fmt: skip
MODEL_FILES = {"config.json", "model.safetensors", "tokenizer_config.json", "word_vocab.json", "bigram_vocab.json"}
SMALL = dict(
    word_embedding_dim=32, bigram_embedding_dim=16, shape_embedding_dim=8, char_hidden_size=16,
    context_hidden_size=32, dropout=0.1, word_dropout=0.0,
)  # fmt: skip


def _read_jsonl(path: Path, limit: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            entities = [{"start": e["span"][0], "end": e["span"][1], "type": e["type"]} for e in record["entities"]]
            rows.append({"text": record["text"], "entities": entities})
            if len(rows) == limit:
                break
    return rows


def _spans(entities) -> list[tuple[int, int, str]]:
    return [(e["start"], e["end"], e["type"]) for e in entities]


def _predict(model, tokenizer, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    encoding = tokenizer(texts, return_offsets_mapping=True, padding=True, return_tensors="pt")
    offsets = encoding.pop("offset_mapping").tolist()
    with torch.no_grad():
        best = model(**encoding).logits.argmax(-1).tolist()
    lengths = encoding["attention_mask"].sum(-1).tolist()
    return [
        word_tags_to_spans([tuple(o) for o in offsets[i][:n]], [model.config.id2label[j] for j in best[i][:n]])
        for i, n in enumerate(lengths)
    ]


def _scores(predicted: list[list[tuple]], gold: list[list[tuple]]) -> dict[str, float | int]:
    n_pred = sum(len(p) for p in predicted)
    n_gold = sum(len(g) for g in gold)
    n_correct = sum(len(set(p) & set(g)) for p, g in zip(predicted, gold))
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_gold": n_gold, "n_pred": n_pred}


def _tiny_results(labels, config, corpus, splits, scores, ceilings, unrepresentable, loss) -> Results:
    """A results.json as xlner train writes it (one epoch of a hand-written loop stands for the Trainer)."""
    train, validation, test = splits
    return Results.from_dict(
        {
            "language": "ja",
            "labels": labels,
            "data": {"train_sentences": len(train), "validation_sentences": len(validation),
                     "train_unrepresentable_entities": unrepresentable, "test_sentences": len(test)},
            "boundary_ceiling": ceilings,
            "validation": scores["validation"],
            "test": scores["test"],
            "best_epoch": 1,
            "epochs_trained": 1,
            "seconds_per_epoch": 1.5,
            "learning_curve": [{"epoch": 1, "train_loss": loss, "validation_precision": scores["validation"]["precision"],
                                "validation_recall": scores["validation"]["recall"], "validation_f1": scores["validation"]["f1"],
                                "seconds": 1.5}],
            "seed": 0,
            "threads": 1,
            "processes": 1,
            "options": dataclasses.asdict(TrainingOptions(batch_size=16, learning_rate=1e-2, seed=0)),
            "model_config": {key: getattr(config, key) for key in SMALL},
            "train_file": str(corpus / "train.jsonl"),
            "validation_file": str(corpus / "validation.jsonl"),
            "test_file": str(corpus / "test.jsonl"),
            "dropped_overlapping_entities": 0,
        }
    )  # fmt: skip


@pytest.fixture(scope="session")
def tiny_ja(shared_data, tmp_path_factory) -> SimpleNamespace:
    """A tiny Japanese model saved with its tokenizer and a results.json of real (small) evaluations.

    Also returns the training sentences it tags exactly right (`known`): what the model must
    reproduce when loaded elsewhere.
    """
    corpus = shared_data / "ner-wikipedia-ja"
    train = _read_jsonl(corpus / "train.jsonl", 100)
    validation = _read_jsonl(corpus / "validation.jsonl", 40)
    test = _read_jsonl(corpus / "test.jsonl", 40)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = XLNerTokenizer.from_corpus([row["text"] for row in train], language="ja")
        types = sorted({e["type"] for row in train for e in row["entities"]})
        labels = ["O"] + [f"{prefix}-{name}" for name in types for prefix in ("B", "I")]
        label2id = {label: i for i, label in enumerate(labels)}
        config = XLNerConfig(
            word_vocab_size=tokenizer.vocab_size,
            bigram_vocab_size=tokenizer.bigram_vocab_size,
            id2label=dict(enumerate(labels)),
            language="ja",
            **SMALL,
        )
        torch.manual_seed(0)
        model = XLNerForTokenClassification(config)
        encoding = tokenizer([row["text"] for row in train], return_offsets_mapping=True)
        features, unrepresentable = [], 0
        for i, row in enumerate(train):
            tags, missed = spans_to_word_tags(encoding["offset_mapping"][i], row["entities"])
            unrepresentable += missed
            features.append({key: encoding[key][i] for key in ("input_ids", "char_ids", "shape_ids")} | {"labels": [label2id[t] for t in tags]})
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        rng = random.Random(0)
        model.train()
        for _ in range(160):
            loss = model(**tokenizer.pad(rng.sample(features, 16), return_tensors="pt")).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()

        directory = tmp_path_factory.mktemp("tiny_ja") / "model"
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)

        predicted_train = _predict(model, tokenizer, [row["text"] for row in train])
        known = [
            (row["text"], _spans(row["entities"]))
            for row, predicted in zip(train, predicted_train)
            if len(row["entities"]) >= 2 and predicted == _spans(row["entities"])
        ]
        assert known, "the tiny model should tag some training sentences exactly"

        scores, ceilings = {}, {}
        for name, rows in (("validation", validation), ("test", test)):
            texts = [row["text"] for row in rows]
            scores[name] = _scores(_predict(model, tokenizer, texts), [_spans(row["entities"]) for row in rows])
            offsets = tokenizer(texts, return_offsets_mapping=True)["offset_mapping"]
            ceilings[name] = boundary_ceiling(offsets, [row["entities"] for row in rows])
        results = _tiny_results(labels, config, corpus, (train, validation, test), scores, ceilings, unrepresentable, loss.item())
        results.save(directory / "results.json")
    finally:
        torch.set_num_threads(threads)
    return SimpleNamespace(directory=directory, results=results, known=known[:3], labels=labels)


@pytest.fixture(scope="session")
def exported(tiny_ja, tmp_path_factory) -> Path:
    """`xlner push --dry-run`: the folder that would be uploaded."""
    output = tmp_path_factory.mktemp("export") / "tiny-ja"
    main(["push", "--model", str(tiny_ja.directory), "--repo-id", REPO_ID, "--dry-run", str(output)])
    return output


# ---------------------------------------------------------------------------------- isolation


def _site_dirs() -> list[str]:
    """Site-packages folders of this interpreter (CI's `.venv` is inside the repository, so its
    site-packages is too), minus the repository's own source folder; NO_XLNER_CHECK proves the rest."""
    paths = site.getsitepackages() + [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return [p for p in dict.fromkeys(paths) if Path(p).is_dir() and Path(p).resolve() != REPO_ROOT.resolve()]


def run_without_xlner(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `script` in a Python that cannot import the xlner package.

    xlner is installed editable: a ``.pth`` file in site-packages installs a meta-path finder that
    maps ``modeling_xlner``, ``tokenization`` and ``hub_cards`` to the repository. ``-S`` skips the
    `site` module, so no ``.pth`` file is processed and the finder never exists; ``-I`` ignores
    PYTHON* variables and keeps the current and script folders off ``sys.path``. The script then
    gets the site-packages folders (the installed third-party packages) on ``sys.path`` by hand.
    `cwd` must be outside the repository.
    """
    prelude = f"import sys\nsys.path.extend({_site_dirs()!r})\n"
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "HF_", "TRANSFORMERS_"))
    }
    environment |= {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(cwd / "hf_home"),
        "HF_MODULES_CACHE": str(cwd / "hf_modules"),
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(script), *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


NO_XLNER_CHECK = """
import importlib.util
assert sys.flags.no_site and sys.flags.isolated
for name in sys.modules:
    if name.startswith("__editable__") or name in ("modeling_xlner", "tokenization", "hub_cards"):
        raise SystemExit(f"{name} already imported")
for name in ("modeling_xlner", "tokenization", "hub_cards"):
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"{name} is importable: the isolation does not work")
    assert importlib.util.find_spec(name) is None
assert not any("editable" in type(finder).__name__.lower() for finder in sys.meta_path), sys.meta_path
"""


def test_isolated_python_cannot_import_xlner(tmp_path):
    """The method, checked: the editable install is what `-S` switches off, and nothing else is lost."""
    probe = "import importlib.util; print(importlib.util.find_spec('modeling_xlner').origin)"
    normal = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert normal.returncode == 0 and str(REPO_ROOT) in normal.stdout, "control: the package is installed"
    isolated = run_without_xlner(NO_XLNER_CHECK + "import fugashi, unidic_lite, pykakasi, safetensors\nprint('ok')", cwd=tmp_path)
    assert isolated.returncode == 0, isolated.stderr[-3000:]
    assert isolated.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------- the folder


def test_saved_folder_is_a_complete_hub_repository(tiny_ja):
    config = json.loads((tiny_ja.directory / "config.json").read_text(encoding="utf-8"))
    assert set(config["auto_map"]) >= {"AutoConfig", "AutoModel", "AutoModelForTokenClassification"}
    files = set(hub_files(tiny_ja.directory))
    assert files == MODEL_FILES | REMOTE_CODE
    assert not (tiny_ja.directory / "pytorch_model.bin").exists()


def test_dry_run_writes_exactly_the_upload_folder(tiny_ja, exported):
    assert {path.name for path in exported.iterdir()} == MODEL_FILES | REMOTE_CODE | {"README.md"}
    assert all(path.is_file() for path in exported.iterdir())
    for name in MODEL_FILES | REMOTE_CODE:
        assert (exported / name).read_bytes() == (tiny_ja.directory / name).read_bytes(), name
    assert not list(exported.parent.glob(".*partial*"))


def test_dry_run_leaves_out_training_leftovers(tiny_ja, tmp_path):
    model_dir = tmp_path / "run"
    shutil.copytree(tiny_ja.directory, model_dir)
    (model_dir / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    (model_dir / "checkpoints" / "checkpoint-10" / "model.safetensors").write_bytes(b"old")
    (model_dir / "learning_curve.png").write_bytes(b"png")
    (model_dir / "training_args.bin").write_bytes(b"bin")
    (model_dir / "train.log").write_text("epoch 1\n")
    (model_dir / "README.md").write_text("a stale card\n")
    (model_dir / "runs").mkdir()  # e.g. tensorboard logs
    names = export_hub_folder(model_dir, tmp_path / "out", repo_id=REPO_ID)
    assert set(names) == MODEL_FILES | REMOTE_CODE | {"README.md"}
    assert {path.name for path in (tmp_path / "out").iterdir()} == set(names)
    assert (tmp_path / "out" / "README.md").read_text(encoding="utf-8") != "a stale card\n"


def test_dry_run_failures_leave_nothing_behind(tiny_ja, tmp_path):
    incomplete = tmp_path / "incomplete"
    shutil.copytree(tiny_ja.directory, incomplete)
    (incomplete / "word_vocab.json").unlink()
    (incomplete / "model.safetensors").rename(incomplete / "pytorch_model.bin")
    target = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(SystemExit) as error:
        main(["push", "--model", str(incomplete), "--repo-id", REPO_ID, "--dry-run", str(target)])
    assert "lacks: model.safetensors (the weights are in pytorch_model.bin" in str(error.value)
    assert "word_vocab.json" in str(error.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["incomplete"]  # not even the parents

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not an empty folder"):
        main(["push", "--model", str(tiny_ja.directory), "--repo-id", REPO_ID, "--dry-run", str(occupied)])
    assert [path.name for path in occupied.iterdir()] == ["keep.txt"]

    with pytest.raises(SystemExit, match="invalid --repo-id"):
        main(["push", "--model", str(tiny_ja.directory), "--repo-id", "not a repo id", "--dry-run", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_exported_folder_runs_without_xlner(tiny_ja, exported, tmp_path):
    """The dry-run folder loads and tags Japanese with only transformers, torch, fugashi, unidic-lite, pykakasi."""
    readme = (exported / "README.md").read_text(encoding="utf-8")
    usage = re.search(r"### Model and tokenizer.*?```python\n(.*?)```", readme, re.DOTALL).group(1)
    assert f'model_id = "{REPO_ID}"' in usage
    script = NO_XLNER_CHECK + textwrap.dedent(
        """
        import json
        from transformers import pipeline

        folder, source_dirs, texts, usage, repo_id = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), *sys.argv[4:]
        ner = pipeline("token-classification", model=folder, trust_remote_code=True, aggregation_strategy="simple")
        by_pipeline = [[(e["start"], e["end"], e["entity_group"], e["word"]) for e in ner(text)] for text in texts]
        by_card = []
        for text in texts:  # the card's "Model and tokenizer" example, on this folder and text
            code = usage.replace('model_id = "%s"' % repo_id, "model_id = %r" % folder)
            code = "\\n".join("text = %r" % text if line.startswith("text = ") else line for line in code.splitlines())
            namespace = {}
            exec(code, namespace)
            by_card.append([(e["start"], e["end"], e["type"], e["text"]) for e in namespace["entities"]])
        classes = [type(ner).__module__, type(ner.model).__module__, type(ner.tokenizer).__module__]

        # Without xlner, model.push_to_hub falls back to transformers' own (default card), code files included.
        from huggingface_hub import HfApi, ModelCard
        from huggingface_hub.errors import EntryNotFoundError

        def no_card(*args, **kwargs):
            raise EntryNotFoundError("no README.md yet")

        uploaded = {}
        HfApi.create_repo = lambda self, repo_id, **kwargs: type("Url", (), {"repo_id": repo_id})()
        HfApi.create_commit = lambda self, repo_id, operations, **kwargs: uploaded.update(
            {op.path_in_repo: open(op.path_or_fileobj, "rb").read() for op in operations}
        )
        ModelCard.load = no_card
        ner.model.push_to_hub(repo_id)
        pushed = {"files": sorted(uploaded), "readme": uploaded["README.md"].decode("utf-8")}
        loaded_from_repo = sorted(
            name for name, module in list(sys.modules.items())
            if (getattr(module, "__file__", None) or "").startswith(tuple(source_dirs))
        )
        print(json.dumps({"pipeline": by_pipeline, "card": by_card, "classes": classes, "from_repo": loaded_from_repo, "pushed": pushed}))
        """
    )
    texts = [text for text, _ in tiny_ja.known]
    # The repository's own code folders (not its .venv, where CI's third-party packages live).
    source_dirs = [str(REPO_ROOT / name) + os.sep for name in ("modeling_xlner", "tokenization", "hub_cards")]
    completed = run_without_xlner(
        script, str(exported), json.dumps(source_dirs), json.dumps(texts), usage, REPO_ID, cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert answer["from_repo"] == []
    assert all(module.startswith("transformers_modules.") for module in answer["classes"]), answer["classes"]
    assert answer["pushed"]["files"] == sorted(
        {"config.json", "model.safetensors", "README.md", "configuration_xlner.py", "modeling_xlner.py",
         "transfer_xlner.py", "pipeline_xlner.py", "decoding_xlner.py", "loading_xlner.py", "lstm_xlner.py", "crf_xlner.py"}
    )  # fmt: skip
    assert "library_name: transformers" in answer["pushed"]["readme"]
    for (text, gold), by_pipeline, by_card in zip(tiny_ja.known, answer["pipeline"], answer["card"]):
        expected = [[start, end, kind, text[start:end]] for start, end, kind in gold]
        assert by_pipeline == expected
        assert by_card == expected


# ---------------------------------------------------------------------------------- the card


def test_card_metadata_holds_the_results(tiny_ja, exported):
    card = ModelCard.load(exported / "README.md")
    data = card.data
    assert data.language == "ja"
    assert data.pipeline_tag == "token-classification"
    assert data.library_name == "transformers"
    assert data.license == "cc-by-sa-3.0"
    assert data.datasets == ["stockmark/ner-wikipedia-dataset"]
    assert {"xlner", "ner", "custom_code"} <= set(data.tags)
    assert data.model_name == REPO_ID
    reported = {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    expected = {
        (split, metric): getattr(getattr(tiny_ja.results, split), metric)
        for split in ("validation", "test")
        for metric in ("precision", "recall", "f1")
    }
    assert reported == expected
    assert all(r.task_type == "token-classification" for r in data.eval_results)
    text = card.text
    for label in tiny_ja.labels:
        assert f"`{label}`" in text
    ceiling = tiny_ja.results.boundary_ceiling["test"]
    assert f"{ceiling.n_representable} of {ceiling.n_gold} gold entities" in text
    assert "trust_remote_code=True" in text and 'pipeline("token-classification"' in text
    assert f"| train sentences | {tiny_ja.results.data.train_sentences} |" in text
    assert "| batch size | 16 |" in text and "| best epoch (validation F1) | 1 |" in text


def test_card_of_a_transferred_model(tiny_ja, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub_cache"))
    results = dataclasses.replace(
        tiny_ja.results,
        transfer=TransferRecord(
            source="/runs/en_v1",
            modules=["char", "head"],
            rows_copied={"char": [120, 400], "head": [9, 9]},
            label_map={"人名": "PER", "地名": "LOC"},
        ),
    )
    local_source = build_model_card(tiny_ja.directory, results=results, repo_id=REPO_ID)
    assert local_source.data.base_model is None  # a local folder is not a Hub model
    assert "cross-lingual-transfer" in local_source.data.tags
    assert "char and head modules were copied from the XLNer model `en_v1`" in local_source.text
    assert "/runs" not in local_source.text  # no local paths in a public card
    assert "| `char` | 120 of 400 |" in local_source.text and "| `head` | 9 of 9 |" in local_source.text
    assert "`人名` ← `PER`" in local_source.text

    # "owner/name" may be a relative folder as well: a Hub id only if it came through the Hub cache.
    results.transfer.source = "xlner-test/tiny-en"
    assert build_model_card(tiny_ja.directory, results=results, repo_id=REPO_ID).data.base_model is None
    (tmp_path / "hub_cache" / "models--xlner-test--tiny-en" / "snapshots" / ("0" * 40)).mkdir(parents=True)
    card = build_model_card(tiny_ja.directory, results=results, repo_id=REPO_ID)
    assert card.data.base_model == "xlner-test/tiny-en"
    assert card.data.base_model_relation == "finetune"
    assert "[xlner-test/tiny-en](https://huggingface.co/xlner-test/tiny-en)" in card.text
    given = build_model_card(tiny_ja.directory, results=results, repo_id=REPO_ID, base_model="someone/en-model")
    assert given.data.base_model == "someone/en-model"
    # Round trip through the file: what the Hub will parse.
    path = tmp_path / "README.md"
    card.save(path)
    assert ModelCard.load(path).data.base_model == "xlner-test/tiny-en"


def _model_folder_without_results(tiny_ja, folder: Path) -> Path:
    shutil.copytree(tiny_ja.directory, folder)
    (folder / "results.json").unlink()
    return folder


def test_card_of_a_transferred_model_without_results(tiny_ja, tmp_path):
    """Without results.json the provenance comes from config.json's `transferred_from`: the same record."""
    folder = _model_folder_without_results(tiny_ja, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    record = {"source": "/runs/en_v1", "modules": ["char", "head"], "rows_copied": {"char": [120, 400], "head": [9, 9]}}
    (folder / "config.json").write_text(json.dumps(config | {"transferred_from": record}), encoding="utf-8")
    text = build_model_card(folder, repo_id=REPO_ID).text
    assert "char and head modules were copied from the XLNer model `en_v1`" in text and "| `char` | 120 of 400 |" in text
    assert "## Evaluation" not in text and "←" not in text  # no results, no label map


def test_card_with_missing_or_bad_results(tiny_ja, tmp_path):
    bare = build_model_card(_model_folder_without_results(tiny_ja, tmp_path / "bare"), repo_id=REPO_ID)
    assert bare.data.eval_results is None and "model-index" not in str(bare)
    assert "## Evaluation" not in bare.text and "## Intended use and limitations" in bare.text
    assert "| Data | Count |" not in bare.text and "cross-lingual-transfer" not in bare.data.tags
    # Results of the wrong shape are an error naming the file and the field, not a quietly thinner card.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tiny_ja.results.to_dict() | {"validation": {"f1": "high"}}), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}: missing field validation\.precision"):
        build_model_card(tiny_ja.directory, results=bad, repo_id=REPO_ID)
    with pytest.raises(FileNotFoundError, match="no such results file"):
        build_model_card(tiny_ja.directory, results=tmp_path / "absent.json")
    written = write_model_card(tiny_ja.directory, output=tmp_path / "README.md")
    assert ModelCard.load(written).data.eval_results  # default: the folder's results.json
    assert ModelCard.load(write_model_card(tiny_ja.directory, output=tmp_path / "R2.md", results=tiny_ja.results)).content == ModelCard.load(written).content
    with pytest.raises(FileNotFoundError):
        build_model_card(tmp_path)


# ---------------------------------------------------------------------------------- push


@pytest.fixture
def fake_hub(monkeypatch):
    """Every Hub call that a push makes, recorded; uploaded files are read at call time."""
    calls = SimpleNamespace(create_repo=[], create_branch=[], upload_folder=[], create_commit=[])

    def create_repo(self, repo_id, **kwargs):
        calls.create_repo.append({"repo_id": repo_id, **kwargs})
        return SimpleNamespace(repo_id=repo_id)

    def create_branch(self, repo_id, **kwargs):
        calls.create_branch.append({"repo_id": repo_id, **kwargs})

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        files = {path.name: path.read_bytes() for path in Path(folder_path).iterdir()}
        assert all(path.is_file() for path in Path(folder_path).iterdir())
        calls.upload_folder.append({"repo_id": repo_id, "files": files, **kwargs})
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/0")

    def create_commit(self, repo_id, operations, **kwargs):
        files = {}
        for operation in operations:
            source = operation.path_or_fileobj
            files[operation.path_in_repo] = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
        calls.create_commit.append({"repo_id": repo_id, "files": files, **kwargs})
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/0")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    return calls


def _no_push_leftovers(tmp_dir: Path) -> bool:
    return not any(path.name.startswith("xlner-push-") for path in tmp_dir.iterdir())


def test_xlner_push_uploads_the_dry_run_folder(tiny_ja, exported, fake_hub, monkeypatch, tmp_path, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the fake hub is reachable
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    main(["push", "--model", str(tiny_ja.directory), "--repo-id", REPO_ID, "--private", "--revision", "v1",
          "--commit-message", "first model"])  # fmt: skip
    assert fake_hub.create_repo == [{"repo_id": REPO_ID, "token": "hf_fake_token", "private": True, "exist_ok": True}]
    assert fake_hub.create_branch == [{"repo_id": REPO_ID, "branch": "v1", "token": "hf_fake_token", "exist_ok": True}]
    (upload,) = fake_hub.upload_folder
    assert upload["revision"] == "v1" and upload["commit_message"] == "first model"
    assert upload["files"] == {path.name: path.read_bytes() for path in exported.iterdir()}
    assert json.loads(capsys.readouterr().out)["commit_url"].startswith("https://huggingface.co/")
    assert _no_push_leftovers(tmp_path)


def test_xlner_push_errors_are_clear_and_leave_nothing(tiny_ja, fake_hub, monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub import constants

    before = sorted(path.name for path in tiny_ja.directory.iterdir())
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    command = ["push", "--model", str(tiny_ja.directory), "--repo-id", REPO_ID]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SystemExit, match="HF_HUB_OFFLINE is set.*--dry-run"):
        main(command)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(SystemExit, match="no Hugging Face token: set HF_TOKEN or run `hf auth login`"):
        main(command)

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_fake_token")

    def unreachable(self, repo_id, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(HfApi, "create_repo", unreachable)
    with pytest.raises(SystemExit, match=f"pushing to {REPO_ID} failed: ConnectionError: Name or service not known"):
        main(command)
    with pytest.raises(PushError):
        push_hub_folder(tiny_ja.directory, REPO_ID)
    assert fake_hub.upload_folder == []
    assert _no_push_leftovers(tmp_path)
    assert sorted(path.name for path in tiny_ja.directory.iterdir()) == before


def test_model_push_to_hub_carries_code_and_generated_card(tiny_ja, fake_hub, monkeypatch, tmp_path):
    """`model.push_to_hub` = save_pretrained into a temporary folder, then the path of `xlner push`."""
    from huggingface_hub import constants

    def no_card_download(*args, **kwargs):
        raise AssertionError("the generated card must not need the Hub's card")

    monkeypatch.setattr(ModelCard, "load", no_card_download)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the fake hub is reachable
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    model = XLNerForTokenClassification.from_pretrained(tiny_ja.directory)
    model.push_to_hub(REPO_ID, commit_message="model only", private=True)
    assert fake_hub.create_repo == [{"repo_id": REPO_ID, "token": "hf_fake_token", "private": True, "exist_ok": True}]
    (upload,) = fake_hub.upload_folder
    assert upload["commit_message"] == "model only" and fake_hub.create_commit == []
    assert set(upload["files"]) == {
        "config.json", "model.safetensors", "README.md",
        "configuration_xlner.py", "modeling_xlner.py", "transfer_xlner.py", "pipeline_xlner.py",
        "decoding_xlner.py", "loading_xlner.py", "lstm_xlner.py", "crf_xlner.py",
    }  # fmt: skip
    assert upload["files"]["modeling_xlner.py"] == Path(sys.modules[type(model).__module__].__file__).read_bytes()
    card = ModelCard(upload["files"]["README.md"].decode("utf-8"))
    reported = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert reported[("test", "f1")] == tiny_ja.results.test.f1  # from the folder it was loaded from
    assert card.data.model_name == REPO_ID

    # With the tokenizer: the same files as `xlner push` of the saved folder, in one upload.
    tokenizer = XLNerTokenizer.from_pretrained(tiny_ja.directory)
    model.push_to_hub(REPO_ID, tokenizer=tokenizer, tags=["demo"])
    together = fake_hub.upload_folder[-1]["files"]
    assert set(together) == MODEL_FILES | REMOTE_CODE | {"README.md"}
    # (A reloaded tokenizer saves a few loading flags more in tokenizer_config.json: transformers' doing.)
    for name in (MODEL_FILES | REMOTE_CODE) - {"tokenizer_config.json"}:
        assert together[name] == (tiny_ja.directory / name).read_bytes(), name
    assert "demo" in ModelCard(together["README.md"].decode("utf-8")).data.tags

    # Loaded from a folder without results.json: no results in the card.
    bare = XLNerForTokenClassification.from_pretrained(_model_folder_without_results(tiny_ja, tmp_path / "bare"))
    bare.push_to_hub(REPO_ID, tokenizer=tokenizer, results=None)
    assert ModelCard(fake_hub.upload_folder[-1]["files"]["README.md"].decode("utf-8")).data.eval_results is None
    assert _no_push_leftovers(tmp_path)


def test_tokenizer_push_to_hub_carries_code_and_keeps_the_card(tiny_ja, exported, fake_hub, monkeypatch):
    import transformers.utils.hub

    hub_card = ModelCard.load(exported / "README.md")
    monkeypatch.setattr(transformers.utils.hub.ModelCard, "load", lambda *args, **kwargs: hub_card)
    tokenizer = XLNerTokenizer.from_pretrained(tiny_ja.directory)
    tokenizer.push_to_hub(REPO_ID)
    files = fake_hub.create_commit[-1]["files"]
    assert {"tokenizer_config.json", "word_vocab.json", "bigram_vocab.json", "tokenization_xlner.py", "segmentation.py"} <= set(files)
    assert files["segmentation.py"] == Path(sys.modules["tokenization.segmentation"].__file__).read_bytes()
    assert ModelCard(files["README.md"].decode("utf-8")).data.eval_results == hub_card.data.eval_results

    def missing(*args, **kwargs):
        raise EntryNotFoundError("no README.md")

    monkeypatch.setattr(transformers.utils.hub.ModelCard, "load", missing)
    tokenizer.push_to_hub(REPO_ID)  # a new repository: transformers' default card, no network needed
    assert "README.md" in fake_hub.create_commit[-1]["files"]


def test_card_without_a_repo_id_names_no_local_path(tiny_ja, tmp_path):
    """The README.md written into a training folder travels with it: no path of this machine in it."""
    folder = tmp_path / "copied"
    shutil.copytree(tiny_ja.directory, folder)
    text = str(build_model_card(folder))
    assert str(folder) not in text and str(tmp_path) not in text and str(Path.home()) + "/" not in text
    assert 'model="YOUR-NAME/YOUR-MODEL"' in text and "Replace `YOUR-NAME/YOUR-MODEL`" in text
    assert "Replace `" not in str(build_model_card(folder, repo_id=REPO_ID))
