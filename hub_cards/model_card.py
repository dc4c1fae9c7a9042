"""The model card (README.md) of a saved XLNer model, filled from its folder.

`build_model_card(model_dir)` reads a folder written by `save_pretrained` (and `xlner train` /
`xlner transfer`) and renders `model_card.jinja` through `huggingface_hub.ModelCard.from_template`:

- ``config.json``: ``language``, ``id2label``, ``transferred_from`` (the transfer report) and
  the size hyperparameters;
- ``tokenizer_config.json`` (optional): ``char_input``, ``word_input``, ``romaji_source``;
- ``results.json`` (optional, or passed in as a `Results`): read through
  `modeling_xlner.training.results.Results`, the schema the trainer writes. Without results the
  card has no evaluation and training sections; malformed results are an error, not a quiet gap.

This is package code, not remote code: it is never copied into a model folder, and nothing in
the remote-code files imports it at module level.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

if TYPE_CHECKING:  # the package's __init__ loads torch and transformers: imported when needed
    from modeling_xlner.training.results import Results, SplitScores, TransferRecord


# The model id of the usage code when the Hub repository is not known yet: never a local path,
# which would carry one machine's file system into a card that travels with the folder.
REPO_ID_PLACEHOLDER = "YOUR-NAME/YOUR-MODEL"
TEMPLATE_PATH = Path(__file__).resolve().with_name("model_card.jinja")

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
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return value


def load_results(results: Results | str | os.PathLike | None, model_dir: Path | None = None) -> Results | None:
    """`results` as given, read from a results.json path, or ``model_dir/results.json`` (None if absent).

    Raises:
        FileNotFoundError: `results` is a path to no file.
        ValueError: the file is not a results.json of the current schema (the message names the field).
    """
    from modeling_xlner.training.results import Results

    if isinstance(results, Results):
        return results
    if results is not None:
        path = Path(results)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such results file")
        return Results.load(path)
    if model_dir is not None and (model_dir / "results.json").is_file():
        return Results.load(model_dir / "results.json")
    return None


def transfer_record(config: dict[str, Any], results: Results | None, config_path: Path | str = "config.json") -> TransferRecord | None:
    """The transfer report: results' copy when results are given, else config.json's ``transferred_from``."""
    from modeling_xlner.training.results import TransferRecord, from_dict

    if results is not None and results.transfer is not None:
        return results.transfer
    if config.get("transferred_from") is None:
        return None
    return from_dict(TransferRecord, config["transferred_from"], f"{config_path}, transferred_from")


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def is_hub_id(value: Any) -> bool:
    """Whether `value` has the form of a Hub repository id, "owner/name"."""
    return isinstance(value, str) and bool(_HUB_ID.match(value))


def downloaded_from_hub(source: Any) -> bool:
    """Whether the transfer source `source` was a Hub model (not a local folder).

    "runs/en" is both a relative path and a valid repo id, and the transfer record keeps the
    source as it was typed, so the form alone cannot tell. A Hub source was downloaded into the
    Hub cache of the machine that trained the model; a source is taken as a Hub id only when that
    cache holds it and no such local folder exists. Otherwise pass `base_model` explicitly.
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    if not is_hub_id(source) or Path(source).exists():
        return False
    cached = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=source, repo_type="model") / "snapshots"
    return cached.is_dir()


def _dataset(train_file: str | None, dataset: str | None) -> tuple[str | None, str | None]:
    """(Hub dataset id, pretty name) from an explicit id, or the training file (a hub: source or a known corpus's path)."""
    if dataset:
        return dataset, KNOWN_DATASETS.get(dataset, {}).get("pretty", dataset)
    train_file = train_file or ""
    if train_file.startswith("hub:"):  # hub:ID[@CONFIG]:SPLIT
        hub_id = train_file[4:].rsplit(":", 1)[0].split("@", 1)[0]
        if hub_id:
            return hub_id, KNOWN_DATASETS.get(hub_id, {}).get("pretty", hub_id)
    for dataset_id, known in KNOWN_DATASETS.items():
        if any(pattern in train_file.lower() for pattern in known["patterns"]):
            return dataset_id, known["pretty"]
    return None, None


def _labels(config: dict[str, Any]) -> list[str]:
    return [label for _, label in sorted((config.get("id2label") or {}).items(), key=lambda item: int(item[0]))]


def _split_row(split: str, scores: SplitScores) -> dict[str, Any]:
    values = {key: getattr(scores, key) for key in METRIC_NAMES}
    return {"split": split, **values, "n_gold": scores.n_gold, "n_pred": scores.n_pred} | {
        f"{key}_text": _percent(value) for key, value in values.items()
    }


def _evaluation(results: Results | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(rows of the evaluation table, per-type rows, the split those are of)."""
    if results is None:
        return [], [], "validation"
    splits = {"validation": results.validation, "test": results.test}
    evaluation = [_split_row(name, splits[name]) for name in SPLIT_NAMES if splits[name] is not None]
    per_type_split = "test" if results.test is not None and results.test.per_type else "validation"
    per_type = [
        {"name": name, "n_gold": scores.n_gold} | {f"{key}_text": _percent(getattr(scores, key)) for key in METRIC_NAMES}
        for name, scores in (splits[per_type_split].per_type or {}).items()
    ]
    return evaluation, per_type, per_type_split


def _eval_results(evaluation: list[dict[str, Any]], dataset_id: str | None, dataset_pretty: str | None) -> list[EvalResult]:
    """The model-index entries (Hub metadata) of the evaluation table."""
    return [
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
        for row in evaluation
        for metric, pretty in METRIC_NAMES.items()
    ]


def _ceilings(results: Results | None) -> list[dict[str, Any]]:
    """Recall ceilings of the evaluation splits (of the training data when only its ceiling is known)."""
    ceilings = results.boundary_ceiling if results is not None else {}
    splits = [split for split in ("test", "validation") if split in ceilings] or [split for split in ("train",) if split in ceilings]
    return [
        {
            "split": split,
            "n_gold": ceilings[split].n_gold,
            "n_representable": ceilings[split].n_representable,
            "recall_ceiling_text": f"{100 * ceilings[split].recall_ceiling:.1f}%",
        }
        for split in splits
    ]


def _rows(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Table rows of the values that are known (not None)."""
    return [{"name": name, "value": value} for name, value in values.items() if value is not None]


def _training_rows(results: Results | None, tokenizer_config: dict[str, Any], language: str) -> tuple[list, list]:
    """(data rows, training rows) of the Training section."""
    rows = []
    if language == "ja":
        rows = _rows({f"tokenizer {key.replace('_', ' ')}": tokenizer_config.get(key) for key in ("char_input", "word_input", "romaji_source")})
    if results is None:
        return [], rows
    data = _rows({name.replace("_", " "): value for name, value in vars(results.data).items()})
    options = results.options
    training = _rows(
        {
            "epochs trained": results.epochs_trained,
            "best epoch (validation F1)": results.best_epoch,
            "seconds per epoch (CPU)": None if results.seconds_per_epoch is None else round(results.seconds_per_epoch, 1),
            "batch size": options.get("batch_size"),
            "learning rate": options.get("learning_rate"),
            "max. training samples": options.get("max_train_samples"),
            "seed": results.seed,
        }
    )
    return data, training + rows


def _transfer(record: TransferRecord | None, base_model: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """(the card's transfer section, base_model): a Hub source becomes the base model."""
    if record is None:
        return None, base_model
    base_model = base_model or (record.source if downloaded_from_hub(record.source) else None)
    if base_model:
        source_text = f"[{base_model}](https://huggingface.co/{base_model})"
    else:  # a local folder: its name only, no local path in a public card
        source_text = f"the XLNer model `{Path(record.source).name}`"
    modules = record.modules or ["(unknown)"]
    transfer = {
        "source": record.source,
        "source_text": source_text,
        "modules": modules,
        "modules_text": " and ".join(", ".join(modules).rsplit(", ", 1)),
        "rows": [{"name": name, "value": f"{copied[0]} of {copied[1]}"} for name, copied in record.rows_copied.items()],
        "label_map": list((record.label_map or {}).items()),
    }
    return transfer, base_model


HYPERPARAMETERS = (
    "word_vocab_size", "bigram_vocab_size", "word_embedding_dim", "bigram_embedding_dim", "shape_embedding_dim",
    "char_hidden_size", "context_hidden_size", "context_num_layers", "dropout", "word_dropout",
)  # fmt: skip


# ---------------------------------------------------------------------------------- the card


def build_model_card(
    model_dir: str | os.PathLike,
    *,
    results: Results | str | os.PathLike | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    base_model: str | None = None,
    dataset: str | None = None,
    tags: Sequence[str] = (),
) -> ModelCard:
    """The model card of the saved model in `model_dir`.

    Args:
        model_dir: a folder written by `save_pretrained` (config.json at least).
        results: the training results (`Results` or a results.json path); default
            ``model_dir/results.json`` if present, else a card without results.
        repo_id: the Hub repository the card is for (model name, and the id in the usage examples);
            default the folder's name.
        license: the model's license; default from the training data (CC-BY-SA 3.0 for the
            Stockmark Japanese data), else Apache-2.0.
        base_model: Hub id of the model the modules were transferred from, for the ``base_model``
            metadata; default the transfer source when `downloaded_from_hub` says it is a Hub model.
        dataset: Hub id of the training dataset, when the training file does not tell.
        tags: extra tags.
    """
    model_dir = Path(model_dir)
    config = _read_json(model_dir / "config.json")
    if config is None:
        raise FileNotFoundError(f"{model_dir}: no config.json; not a saved model folder")
    tokenizer_config = _read_json(model_dir / "tokenizer_config.json") or {}
    results = load_results(results, model_dir)

    language = config.get("language") or tokenizer_config.get("language") or (results.language if results else "en")
    labels = _labels(config)
    dataset_id, dataset_pretty = _dataset(results.train_file if results else None, dataset)
    transfer, base_model = _transfer(transfer_record(config, results, model_dir / "config.json"), base_model)
    evaluation, per_type, per_type_split = _evaluation(results)
    eval_results = _eval_results(evaluation, dataset_id, dataset_pretty)
    data_rows, training_rows = _training_rows(results, tokenizer_config, language)

    card_tags = ["xlner", "ner", "named-entity-recognition", "bilstm", "custom_code"]
    if transfer:
        card_tags.append("cross-lingual-transfer")
    card_tags += [tag for tag in tags if tag not in card_tags]
    known = KNOWN_DATASETS.get(dataset_id or "", {})
    license = license or known.get("license") or DEFAULT_LICENSE
    card_data = ModelCardData(
        language=language,
        license=license,
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=card_tags,
        datasets=[dataset_id] if dataset_id else None,
        metrics=list(METRIC_NAMES) if eval_results else None,
        base_model=base_model,
        model_name=repo_id or model_dir.resolve().name,
        eval_results=eval_results or None,
        **({"base_model_relation": "finetune"} if base_model else {}),
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        **_template_values(language, labels, dataset_id, dataset_pretty, transfer, repo_id or REPO_ID_PLACEHOLDER, card_data),
        repo_id_known=repo_id is not None,
        license=license,
        license_note=known.get("license_note"),
        domain=known.get("domain", "the training corpus"),
        shape_embedding=(config.get("shape_embedding_dim") or 0) > 0,
        evaluation=evaluation,
        per_type=per_type,
        per_type_split=per_type_split,
        data_rows=data_rows,
        training_rows=training_rows,
        hyperparameter_rows=_rows({name: config.get(name) for name in HYPERPARAMETERS}),
        ceiling_rows=_ceilings(results),
    )


def _template_values(
    language: str, labels: list[str], dataset_id: str | None, dataset_pretty: str | None,
    transfer: dict[str, Any] | None, model_id: str, card_data: ModelCardData,
) -> dict[str, Any]:  # fmt: skip
    """The template's texts that follow from the language, labels, data and transfer."""
    language_name = LANGUAGE_NAMES.get(language, language)
    from modeling_xlner.decoding_xlner import entity_types as bio_entity_types  # (imports torch: not at module level)

    entity_types = bio_entity_types(labels)
    summary = (
        f"A compact bi-LSTM named-entity tagger for {language_name}, trained"
        + (f" on the {dataset_pretty}" if dataset_pretty else "")
        + (f", starting from the {transfer['modules_text']} of {transfer['source_text']}" if transfer else " from scratch")
        + ". Built with xlner (cross-lingual NER with module-by-module transfer)."
    )
    example_text = EXAMPLES.get(language, EXAMPLES["en"])
    return {
        "title": card_data.model_name.split("/")[-1],
        "summary": summary,
        "language": language,
        "language_name": language_name,
        "dataset_id": dataset_id,
        "dataset_pretty": dataset_pretty,
        "dataset_link": f"https://huggingface.co/datasets/{dataset_id}" if dataset_id and is_hub_id(dataset_id) else None,
        "segmentation": SEGMENTATION.get(language, SEGMENTATION["en"]),
        "model_id": model_id,
        "entity_types": [{"name": name, "gloss": ENTITY_GLOSSES.get(name, name)} for name in entity_types],
        "entity_types_text": ", ".join(f"`{name}`" for name in entity_types),
        "labels": labels,
        "labels_text": ", ".join(f"`{label}`" for label in labels),
        "evaluation_level": "predicted character spans against gold character spans"
        if language == "ja"
        else "entities read from word-level IOB2 tags, as seqeval does",
        "transfer": transfer,
        "example_text": example_text,
        "example_literal": json.dumps(example_text, ensure_ascii=False),
    }


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
    "TEMPLATE_PATH", "build_model_card", "write_model_card", "load_results", "transfer_record", "is_hub_id",
    "downloaded_from_hub",
]  # fmt: skip
