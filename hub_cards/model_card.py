"""The model card (README.md) of a saved XLNer model, filled from its folder.

`build_model_card(model_dir)` reads three files of a folder written by `save_pretrained` (and
`xlner train` / `xlner transfer`) and renders `model_card.jinja` through
`huggingface_hub.ModelCard.from_template`:

- ``config.json``: ``language``, ``id2label``, ``transferred_from`` (``source``, ``modules``) and
  the size hyperparameters;
- ``tokenizer_config.json`` (optional): ``char_input``, ``word_input``, ``romaji_source``;
- ``results.json`` (optional, or passed in as a dict): see `RESULTS_KEYS`. Every key is optional:
  a missing or malformed one only leaves its part of the card out.

This is package code, not remote code: it is never copied into a model folder, and nothing in
the remote-code files imports it at module level.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData


TEMPLATE_PATH = Path(__file__).resolve().with_name("model_card.jinja")

# The results.json keys the card reads (nested keys with dots). Documented here so that the
# training code and the card stay in step.
RESULTS_KEYS = (
    "language",
    "labels",
    "dataset_name",
    "train_file",
    "validation.{precision,recall,f1,n_gold,n_pred}",
    "test.{precision,recall,f1,n_gold,n_pred}",
    "test.per_type.<type>.{precision,recall,f1,n_gold}",
    "data.<any count>  (train_sentences, validation_sentences, test_sentences, ...)",
    "boundary_ceiling.<split>.{n_gold,n_representable,recall_ceiling}  (or those three keys flat)",
    "best_epoch",
    "epochs_trained",
    "seconds_per_epoch",
    "seed",
    "options.{batch_size,learning_rate,epochs,max_train_samples}",
    "transfer.{source,modules,rows_copied,label_map}",
)

LANGUAGE_NAMES = {"en": "English", "ja": "Japanese"}

# Known training corpora: Hub dataset id, pretty name, the license of a model trained on them,
# and a note for the limitations section.
KNOWN_DATASETS = {
    "stockmark/ner-wikipedia-dataset": {
        "pretty": "Stockmark Wikipedia NER dataset (Japanese, v2)",
        "license": "cc-by-sa-3.0",
        "domain": "Japanese Wikipedia",
        "license_note": "The training data is licensed CC-BY-SA 3.0 (Stockmark Inc.); the model is shared under the same license.",
        "patterns": ("ner-wikipedia", "stockmark"),
    },
    "eriktks/conll2003": {
        "pretty": "CoNLL-2003 (English, Reuters news)",
        "license": "apache-2.0",
        "domain": "English newswire (Reuters, 1996-1997)",
        "license_note": "The CoNLL-2003 data comes from the Reuters corpus, which is licensed for research use; check its terms before commercial use.",
        "patterns": ("conll2003", "conll-2003", "conll_2003"),
    },
}
DEFAULT_LICENSE = "apache-2.0"

ENTITY_GLOSSES = {
    "PER": "person",
    "LOC": "location",
    "ORG": "organization",
    "MISC": "miscellaneous (nationalities, events, works, ...)",
    "人名": "person",
    "法人名": "corporation",
    "政治的組織名": "political organization",
    "その他の組織名": "other organization",
    "地名": "location",
    "施設名": "facility",
    "製品名": "product",
    "イベント名": "event",
}

EXAMPLES = {
    "en": "Peter Blackburn of the European Commission visited Brussels on Monday.",
    "ja": "山田太郎はソニーの東京本社で新型ウォークマンを発表した。",
}

SEGMENTATION = {
    "en": "English text is split on whitespace and punctuation, close to CoNLL tokenisation",
    "ja": "Japanese text is segmented into words by MeCab (fugashi) with the unidic-lite dictionary",
}

SPLIT_NAMES = ("validation", "test")
METRIC_NAMES = {"precision": "Precision", "recall": "Recall", "f1": "F1"}
# A Hub repo id ("owner/name"); a bare name is ambiguous with a local folder, so it is not taken.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# ---------------------------------------------------------------------------------- reading


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON file ({error})") from None
    return value if isinstance(value, dict) else None


def load_results(results: Mapping[str, Any] | str | os.PathLike | None, model_dir: Path | None) -> dict[str, Any]:
    """`results` as a dict: given as one, read from a path, or ``model_dir/results.json`` (``{}`` if none)."""
    if isinstance(results, Mapping):
        return dict(results)
    if results is not None:
        path = Path(results)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such results file")
        return _read_json(path) or {}
    if model_dir is not None:
        return _read_json(model_dir / "results.json") or {}
    return {}


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | int | None:
    """A finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _percent(value: float | int | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def is_hub_id(value: Any) -> bool:
    """Whether `value` has the form of a Hub repository id, "owner/name"."""
    return isinstance(value, str) and bool(_HUB_ID.match(value))


def downloaded_from_hub(source: Any) -> bool:
    """Whether the transfer source `source` was a Hub model (not a local folder).

    "runs/en" is both a relative path and a valid repo id, and results.json keeps the source as
    it was typed, so the form alone cannot tell. A Hub source was downloaded into the Hub cache
    of the machine that trained the model; a source is taken as a Hub id only when that cache
    holds it and no such local folder exists. Otherwise pass `base_model` explicitly.
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    if not is_hub_id(source) or Path(source).exists():
        return False
    cached = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=source, repo_type="model") / "snapshots"
    return cached.is_dir()


def _dataset(results: Mapping[str, Any], dataset: str | None) -> tuple[str | None, str | None]:
    """(Hub dataset id, pretty name) from an explicit id, results' dataset_name, or the train file's path."""
    if dataset:
        known = KNOWN_DATASETS.get(dataset, {})
        return dataset, known.get("pretty", dataset)
    name = _text(results.get("dataset_name"))
    if name and (name in KNOWN_DATASETS or is_hub_id(name)):
        return name, KNOWN_DATASETS.get(name, {}).get("pretty", name)
    train_file = _text(results.get("train_file")) or ""
    if train_file.startswith("hub:"):  # hub:ID[@CONFIG]:SPLIT
        hub_id = train_file[4:].rsplit(":", 1)[0].split("@", 1)[0]
        if hub_id:
            return hub_id, name or KNOWN_DATASETS.get(hub_id, {}).get("pretty", hub_id)
    lowered = (train_file + " " + (name or "")).lower()
    for dataset_id, known in KNOWN_DATASETS.items():
        if any(pattern in lowered for pattern in known["patterns"]):
            return dataset_id, known["pretty"]
    return None, name


def _entity_types(id2label: Mapping[Any, str]) -> list[str]:
    types: list[str] = []
    for _, label in sorted(id2label.items(), key=lambda item: int(item[0])):
        if isinstance(label, str) and label[:2] in ("B-", "I-") and label[2:] not in types:
            types.append(label[2:])
    return types


def _split_scores(results: Mapping[str, Any], split: str) -> dict[str, Any] | None:
    scores = _mapping(results.get(split))
    values = {key: _number(scores.get(key)) for key in METRIC_NAMES}
    if all(value is None for value in values.values()):
        return None
    counts = {key: _number(scores.get(key)) for key in ("n_gold", "n_pred")}
    return {"split": split, **values, **counts} | {f"{k}_text": _percent(v) for k, v in values.items()}


def _ceilings(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    ceiling = _mapping(results.get("boundary_ceiling"))
    per_split = {"evaluation data": ceiling} if "recall_ceiling" in ceiling else ceiling
    splits = ("test", "validation", "evaluation data")
    if not any(split in per_split for split in splits):
        splits = ("train",)  # only the training data's ceiling is known
    rows = []
    for split in splits:
        values = _mapping(per_split.get(split))
        recall_ceiling = _number(values.get("recall_ceiling"))
        n_gold, n_representable = _number(values.get("n_gold")), _number(values.get("n_representable"))
        if recall_ceiling is None or n_gold is None or n_representable is None:
            continue
        rows.append(
            {
                "split": split,
                "n_gold": n_gold,
                "n_representable": n_representable,
                "recall_ceiling": recall_ceiling,
                "recall_ceiling_text": f"{100 * recall_ceiling:.1f}%",
            }
        )
    return rows


def _rows(mapping: Mapping[str, Any], names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    keys = names if names is not None else list(mapping)
    rows = []
    for key in keys:
        value = mapping.get(key)
        if _number(value) is not None or _text(value) is not None:
            rows.append({"name": key.replace("_", " ") if names is None else key, "value": value})
    return rows


def _rows_copied(value: Any) -> list[dict[str, Any]]:
    rows = []
    for name, copied in _mapping(value).items():
        if _number(copied) is not None:
            text = str(copied)
        elif isinstance(copied, (list, tuple)) and len(copied) == 2 and all(_number(x) is not None for x in copied):
            text = f"{copied[0]} of {copied[1]}"
        elif isinstance(copied, (list, tuple)):
            text = str(len(copied))
        elif copied is None:
            text = "all"
        else:
            text = json.dumps(copied, ensure_ascii=False)
        rows.append({"name": name, "value": text})
    return rows


# ---------------------------------------------------------------------------------- the card


def build_model_card(
    model_dir: str | os.PathLike,
    *,
    results: Mapping[str, Any] | str | os.PathLike | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    base_model: str | None = None,
    dataset: str | None = None,
    tags: Sequence[str] = (),
) -> ModelCard:
    """The model card of the saved model in `model_dir`.

    Args:
        model_dir: a folder written by `save_pretrained` (config.json at least).
        results: the training results (dict or path); default ``model_dir/results.json`` if present.
        repo_id: the Hub repository the card is for (model name, and the id in the usage examples);
            default the folder's name.
        license: the model's license; default from the training data (CC-BY-SA 3.0 for the
            Stockmark Japanese data), else Apache-2.0.
        base_model: Hub id of the model the modules were transferred from, for the ``base_model``
            metadata; default the transfer source when `downloaded_from_hub` says it is a Hub model.
        dataset: Hub id of the training dataset, when it cannot be read from results.json.
        tags: extra tags.
    """
    model_dir = Path(model_dir)
    config = _read_json(model_dir / "config.json")
    if config is None:
        raise FileNotFoundError(f"{model_dir}: no config.json; not a saved model folder")
    tokenizer_config = _read_json(model_dir / "tokenizer_config.json") or {}
    results = load_results(results, model_dir)

    language = _text(config.get("language")) or _text(tokenizer_config.get("language")) or _text(results.get("language")) or "en"
    language_name = LANGUAGE_NAMES.get(language, language)
    id2label = _mapping(config.get("id2label"))
    labels = [label for _, label in sorted(id2label.items(), key=lambda item: int(item[0]))]
    entity_types = _entity_types(id2label)
    model_name = repo_id or model_dir.resolve().name
    model_id = repo_id or str(model_dir)

    dataset_id, dataset_pretty = _dataset(results, dataset)
    known = KNOWN_DATASETS.get(dataset_id or "", {})

    # Transfer provenance: results.json has the full record, config.json the short one.
    transfer_record = _mapping(results.get("transfer")) or _mapping(config.get("transferred_from"))
    transfer = None
    if transfer_record:
        source = _text(transfer_record.get("source"))
        modules = [m for m in transfer_record.get("modules") or [] if isinstance(m, str)]
        base_model = base_model or (source if downloaded_from_hub(source) else None)
        if base_model:
            source_text = f"[{base_model}](https://huggingface.co/{base_model})"
        elif source:  # a local folder: its name only, no local path in a public card
            source_text = f"the XLNer model `{Path(source).name}`"
        else:
            source_text = "another XLNer model"
        label_map = _mapping(transfer_record.get("label_map"))
        transfer = {
            "source": source,
            "source_text": source_text,
            "modules": modules or ["(unknown)"],
            "modules_text": " and ".join(", ".join(modules).rsplit(", ", 1)) if modules else "(unknown)",
            "rows": _rows_copied(transfer_record.get("rows_copied")),
            "label_map": [(k, v) for k, v in label_map.items() if isinstance(v, str)],
        }

    evaluation = [row for row in (_split_scores(results, split) for split in SPLIT_NAMES) if row]
    per_type_split = "test" if _mapping(_mapping(results.get("test")).get("per_type")) else "validation"
    per_type = []
    for name, scores in _mapping(_mapping(results.get(per_type_split)).get("per_type")).items():
        scores = _mapping(scores)
        values = {key: _number(scores.get(key)) for key in METRIC_NAMES}
        per_type.append({"name": name, "n_gold": _number(scores.get("n_gold"))} | {f"{k}_text": _percent(v) for k, v in values.items()})

    eval_results = []
    for row in evaluation:
        for metric, pretty in METRIC_NAMES.items():
            if row[metric] is None:
                continue
            eval_results.append(
                EvalResult(
                    task_type="token-classification",
                    task_name="Named-entity recognition",
                    dataset_type=dataset_id or "local",
                    dataset_name=dataset_pretty or "local data",
                    dataset_split=row["split"],
                    metric_type=metric,
                    metric_name=f"{pretty} ({row['split']}, span-level micro)",
                    metric_value=row[metric],
                )
            )

    data = _mapping(results.get("data"))
    data_rows = _rows(data)
    options = _mapping(results.get("options"))
    training_rows = _rows(
        {
            "epochs trained": results.get("epochs_trained"),
            "best epoch (validation F1)": results.get("best_epoch"),
            "seconds per epoch (CPU)": round(results["seconds_per_epoch"], 1)
            if _number(results.get("seconds_per_epoch")) is not None
            else None,
            "batch size": options.get("batch_size"),
            "learning rate": options.get("learning_rate"),
            "max. training samples": options.get("max_train_samples"),
            "seed": results.get("seed"),
        }
    )
    if language == "ja":
        training_rows += _rows(
            {f"tokenizer {key.replace('_', ' ')}": tokenizer_config.get(key) for key in ("char_input", "word_input", "romaji_source")}
        )
    hyperparameter_rows = _rows(
        config,
        [
            "word_vocab_size", "bigram_vocab_size", "word_embedding_dim", "bigram_embedding_dim",
            "shape_embedding_dim", "char_hidden_size", "context_hidden_size", "context_num_layers",
            "dropout", "word_dropout",
        ],
    )  # fmt: skip

    license = license or known.get("license") or DEFAULT_LICENSE
    card_tags = ["xlner", "ner", "named-entity-recognition", "bilstm", "custom_code"]
    if transfer:
        card_tags.append("cross-lingual-transfer")
    card_tags += [tag for tag in tags if tag not in card_tags]
    extra_metadata: dict[str, Any] = {}
    if base_model:
        extra_metadata["base_model_relation"] = "finetune"
    card_data = ModelCardData(
        language=language,
        license=license,
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=card_tags,
        datasets=[dataset_id] if dataset_id else None,
        metrics=list(METRIC_NAMES) if eval_results else None,
        base_model=base_model,
        model_name=model_name,
        eval_results=eval_results or None,
        **extra_metadata,
    )

    summary = (
        f"A compact bi-LSTM named-entity tagger for {language_name}, trained"
        + (f" on the {dataset_pretty}" if dataset_pretty else "")
        + (f", starting from the {transfer['modules_text']} of {transfer['source_text']}" if transfer else " from scratch")
        + ". Built with xlner (cross-lingual NER with module-by-module transfer)."
    )
    example_text = EXAMPLES.get(language, EXAMPLES["en"])
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        title=model_name.split("/")[-1],
        summary=summary,
        language=language,
        language_name=language_name,
        license=license,
        license_note=known.get("license_note"),
        dataset_id=dataset_id,
        dataset_pretty=dataset_pretty,
        dataset_link=f"https://huggingface.co/datasets/{dataset_id}" if dataset_id and is_hub_id(dataset_id) else None,
        domain=known.get("domain", "the training corpus"),
        segmentation=SEGMENTATION.get(language, SEGMENTATION["en"]),
        model_id=model_id,
        entity_types=[{"name": name, "gloss": ENTITY_GLOSSES.get(name, name)} for name in entity_types],
        entity_types_text=", ".join(f"`{name}`" for name in entity_types),
        labels=labels,
        labels_text=", ".join(f"`{label}`" for label in labels),
        shape_embedding=(_number(config.get("shape_embedding_dim")) or 0) > 0,
        evaluation=evaluation,
        evaluation_level="predicted character spans against gold character spans"
        if language == "ja"
        else "entities read from word-level IOB2 tags, as seqeval does",
        per_type=per_type,
        per_type_split=per_type_split,
        transfer=transfer,
        data_rows=data_rows,
        training_rows=training_rows,
        hyperparameter_rows=hyperparameter_rows,
        ceiling_rows=_ceilings(results),
        example_text=example_text,
        example_literal=json.dumps(example_text, ensure_ascii=False),
    )


def write_model_card(model_dir: str | os.PathLike, output: str | os.PathLike | None = None, **kwargs: Any) -> Path:
    """Build the card of `model_dir` (see `build_model_card`) and write it, atomically, to
    `output` (default ``model_dir/README.md``). Returns the path written."""
    card = build_model_card(model_dir, **kwargs)
    output = Path(output) if output is not None else Path(model_dir) / "README.md"
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=".README-", suffix=".md.tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(str(card))
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return output


__all__ = [
    "RESULTS_KEYS", "TEMPLATE_PATH", "build_model_card", "write_model_card", "load_results", "is_hub_id",
    "downloaded_from_hub",
]  # fmt: skip
