"""Module-selective transfer: which modules to copy from a source model into a new target, and the copy.

`XLNerPreTrainedModel.from_pretrained(source, transfer_modules=[...], tokenizer=..., label_map=...)`
loads the source with the stock loader, builds the target from `transfer_config` and calls
`copy_modules`, which returns the one record of what was copied (`TransferReport`, also saved in
`config.transferred_from`). Per transferred module:

- **word**: rows of the word embedding for words present in both vocabularies, and the projection of
  the pretrained vectors. When the two models' vectors differ in width (English GloVe 50-d, Japanese
  chiVe 300-d), a `word_space_map` M (target width × source width, learnt from a seed dictionary at
  training time) carries the projection across: W_target = W_source · Mᵀ sends the target's vectors
  through the map into the space the source was trained on. With a map, target words absent from the
  source vocabulary start from the source's `<unk>` row, as the source saw every word it did not know;
  with `word_translations` (target word → source words, e.g. the map's seed dictionary: ロンドン → london),
  a target word absent from the source vocabulary starts from its translation's row instead;
  the vector table itself is always the target's own;
- **char**: the character bi-LSTM and the word-shape embedding whole, and the rows of the
  bigram embedding for bigrams present in both vocabularies (English bigrams vs romaji bigrams);
- **context**: the word-level bi-LSTM whole;
- **head**: the rows (weight and bias) of target labels mapped to a source label: `O` to `O`,
  `B-X`/`I-X` to `B-Y`/`I-Y` where the label map sends entity type X to Y.

The modules not transferred keep the target's fresh initialisation. Vocabulary rows are matched by
the token string, `<pad>` and `<unk>` included. `classifier` is an alias of `context` + `head`.

Remote code, copied flat beside modeling_xlner.py: torch, transformers and the standard library only.
"""

import copy
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .configuration_xlner import TRANSFERABLE_MODULES, XLNerConfig
from .decoding_xlner import split_label

logger = logging.getLogger(__name__)

# `classifier` is the part of the model above the word representations.
MODULE_ALIASES = {"classifier": ("context", "head")}

# Stockmark Wikipedia NER types (target) → CoNLL-2003 types (source).
DEFAULT_LABEL_MAP = {
    "人名": "PER",
    "地名": "LOC",
    "法人名": "ORG",
    "政治的組織名": "ORG",
    "その他の組織名": "ORG",
    "施設名": "MISC",
    "製品名": "MISC",
    "イベント名": "MISC",
}

HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "proxies", "revision", "subfolder", "token")
# The tokenizer vocabulary each row alignment is read from, and the module it belongs to ("pos": the word
# module's part-of-speech rows, aligned by tag when both models have them, e.g. a Japanese source).
VOCABULARY_OF = {"word": "word_to_id", "char": "bigram_to_id", "pos": "pos_to_id"}
MODULE_OF_VOCABULARY = {"word": "word", "char": "char", "pos": "word"}
# Parameters copied row by row (the rest of a transferred module is copied whole), keyed by their name
# below the base model / head, with what their rows are aligned on.
ROW_ALIGNED = {
    "word.embeddings.weight": "word",
    "word.pos_embeddings.weight": "pos",
    "char.bigram_embeddings.weight": "char",
    "head.weight": "head",
    "head.bias": "head",
    "head.crf.start_transitions": "head",
    "head.crf.end_transitions": "head",
}
# Parts of a module for inputs that only the target may have (an English source has no Japanese-character
# channel, parts of speech or vectors): left freshly initialised when the source lacks them.
TARGET_ONLY = ("char.surface_", "word.pos_embeddings", "word.vector_projection", "word.vectors")
# The pretrained vector table belongs to the target's tokenizer (its vector vocabulary): never copied.
NEVER_COPIED = ("word.vectors",)
# `shape_roles=True`: Japanese script shapes, which an English source never trained, start from the English
# shape of the same role. Katakana words are mostly transliterated foreign names and loanwords, as
# title-case words are in English; hiragana and kanji carry no such mark.
SCRIPT_SHAPE_ROLES = {"hiragana": "lower", "katakana": "title", "kanji": "lower", "mixed-japanese": "lower"}
# Mapped across vector spaces by `word_space_map` when the widths differ.
MAPPED = "word.vector_projection.weight"
# The CRF's label-to-label scores: aligned on the head's labels along both axes.
PAIR_ALIGNED = {"head.crf.transitions": "head"}
# Config fields that shape each module; named in the error when a transferred module's shapes differ.
MODULE_DIMENSIONS = {
    "word": ("word_embedding_dim", "vector_dim", "vector_vocab_size", "pos_vocab_size"),
    "char": ("bigram_embedding_dim", "char_hidden_size", "shape_embedding_dim", "num_shapes"),
    "context": (
        "word_embedding_dim", "bigram_embedding_dim", "char_hidden_size", "shape_embedding_dim",
        "context_hidden_size", "context_num_layers",
    ),
    "head": ("context_hidden_size", "use_crf"),
}  # fmt: skip
_NOT_CONFIG_OVERRIDES = frozenset({"dtype", "torch_dtype", "attn_implementation", "experts_implementation"})


def resolve_modules(modules: str | Sequence[str]) -> tuple[str, ...]:
    """`"char,classifier"` or `["char", "classifier"]` → `("char", "context", "head")`, in model order."""
    if isinstance(modules, str):
        modules = [name for name in modules.split(",") if name.strip()]
    wanted: set[str] = set()
    for name in modules:
        name = name.strip()
        if name in MODULE_ALIASES:
            wanted.update(MODULE_ALIASES[name])
        elif name in TRANSFERABLE_MODULES:
            wanted.add(name)
        else:
            choices = ", ".join((*TRANSFERABLE_MODULES, *MODULE_ALIASES))
            raise ValueError(f"unknown module {name!r} to transfer; choose among {choices}")
    return tuple(name for name in TRANSFERABLE_MODULES if name in wanted)


def read_label_map(label_map: Mapping[str, str] | str | os.PathLike | None) -> dict[str, str] | None:
    """A label map given directly, or a JSON file holding one (target entity type → source entity type)."""
    if label_map is None or isinstance(label_map, Mapping):
        mapping = label_map
    else:
        with open(label_map, encoding="utf-8") as handle:
            try:
                mapping = json.load(handle)
            except json.JSONDecodeError as error:
                raise ValueError(f"{label_map}: not valid JSON ({error})") from None
        if not isinstance(mapping, dict):
            raise ValueError(f"{label_map}: a label map must be a JSON object from target to source entity type")
    if mapping is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValueError("a label map must map entity type names (strings) to entity type names")
    return None if mapping is None else dict(mapping)


def _type_map(source_types: set[str], target_types: set[str], label_map: Mapping[str, str] | None) -> dict[str, str]:
    """Target entity type → source entity type: `label_map` checked against both sides, or the default."""
    if label_map is None:
        return {
            name: name if name in source_types else DEFAULT_LABEL_MAP[name]
            for name in sorted(target_types)
            if name in source_types or DEFAULT_LABEL_MAP.get(name) in source_types
        }
    problems = []
    unknown_target = sorted(set(label_map) - target_types)
    unknown_source = sorted(set(label_map.values()) - source_types)
    if unknown_target:
        problems.append(f"target types {unknown_target} are not labels of the target (it has {sorted(target_types)})")
    if unknown_source:
        problems.append(f"source types {unknown_source} are not labels of the source (it has {sorted(source_types)})")
    if problems:
        raise ValueError("label map: " + "; ".join(problems) + " (give entity types without B-/I- prefixes)")
    return dict(label_map)


def align_labels(
    source_id2label: Mapping[int, str],
    target_id2label: Mapping[int, str],
    label_map: Mapping[str, str] | None = None,
) -> tuple[list[tuple[int, int]], dict[str, str]]:
    """Pairs (target label id, source label id) whose head rows are copied, and the type map used.

    With `label_map` (target entity type → source entity type, no B-/I- prefix) only the types it
    names are mapped, and every name must be a type of its side. Without it, a target type maps
    to the same source type if there is one, else through `DEFAULT_LABEL_MAP` when that lands on
    a source type. Prefixes are kept (`B-人名` → `B-PER`); `O` → `O`; other labels stay fresh.
    """
    source_types = {split_label(label)[1] for label in source_id2label.values() if split_label(label)[0]}
    target_types = {split_label(label)[1] for label in target_id2label.values() if split_label(label)[0]}
    type_map = _type_map(source_types, target_types, label_map)
    source_ids = {label: int(index) for index, label in source_id2label.items()}
    pairs = []
    for index, label in sorted((int(i), label) for i, label in target_id2label.items()):
        prefix, name = split_label(label)
        if prefix is None:
            source_label = label if label == "O" else None
        else:
            source_label = f"{prefix}-{type_map[name]}" if name in type_map else None
        if source_label in source_ids:
            pairs.append((index, source_ids[source_label]))
    return pairs, type_map


def align_vocabularies(
    source_vocab: Mapping[str, int], target_vocab: Mapping[str, int], translations: Mapping[str, Sequence[str]] | None = None
) -> tuple[list[int], list[int]]:
    """Target ids and source ids of the tokens present in both vocabularies (in target id order); with
    `translations`, a target token absent from the source takes its translation found there with the
    lowest id (vocabularies are in frequency order: クラブ → club rather than crab)."""
    pairs = []
    for token, index in target_vocab.items():
        if token in source_vocab:
            pairs.append((index, source_vocab[token]))
        elif found := [source_vocab[word] for word in (translations or {}).get(token, ()) if word in source_vocab]:
            pairs.append((index, min(found)))
    pairs.sort()
    return [t for t, _ in pairs], [s for _, s in pairs]


@dataclass
class TransferReport:
    """What a transfer copied: `to_config()` is `config.transferred_from`, the model keeps it as `transfer_report`.

    `rows_copied` maps each row-aligned module to `[rows copied, rows in the target]`; `copied_rows`
    maps each full parameter name of the target to the target row ids copied from the source, or to
    None when the whole tensor was copied (training's freezing and learning-rate options read it).
    """

    source: str
    modules: tuple[str, ...]
    rows_copied: dict[str, list[int]] = field(default_factory=dict)
    label_map: dict[str, str] | None = None
    copied_rows: dict[str, list[int] | None] = field(default_factory=dict, repr=False)
    parameter_rows: dict[str, int] = field(default_factory=dict, repr=False)  # rows of each row-aligned parameter
    word_space_map: list[int] | None = None  # shape of the map that carried the word projection across, if any
    word_rows_from_unknown: int | None = None  # target words started from the source's <unk> row (with a map)
    word_rows_translated: int | None = None  # target words started from their translation's row (word_translations)
    shape_roles: dict[str, str] | None = None  # target shape -> the source shape whose row it started from

    def to_config(self) -> dict[str, Any]:
        record: dict[str, Any] = {"source": self.source, "modules": list(self.modules), "rows_copied": dict(self.rows_copied)}
        if self.label_map is not None:
            record["label_map"] = dict(self.label_map)
        # Always written (None without a map), as results.json writes every field of its copy of this record.
        record["word_space_map"] = None if self.word_space_map is None else list(self.word_space_map)
        record["word_rows_from_unknown"] = self.word_rows_from_unknown
        record["word_rows_translated"] = self.word_rows_translated
        record["shape_roles"] = self.shape_roles
        return record

    def fully_copied(self, name: str) -> bool:
        """Whether every value of parameter `name` came from the source (a whole tensor, or all its rows)."""
        if name not in self.copied_rows:
            return False
        rows = self.copied_rows[name]
        return rows is None or self.parameter_rows.get(name) == len(rows)


def split_transfer_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """`from_pretrained`'s keyword arguments as (hub arguments, config overrides of the target, loading arguments)."""
    hub = {name: kwargs.pop(name) for name in HUB_KWARGS if name in kwargs}
    defaults = XLNerConfig()
    overrides = {key: kwargs.pop(key) for key in list(kwargs) if key not in _NOT_CONFIG_OVERRIDES and hasattr(defaults, key)}
    if kwargs.get("config") is not None:  # the Auto classes pass the (overridden) config: it is the target's
        overrides["config"] = kwargs.pop("config")
    for ignored in ("state_dict", "output_loading_info"):
        kwargs.pop(ignored, None)
    return hub, overrides, kwargs


def load_tokenizer(tokenizer: Any, **hub_kwargs) -> Any:
    """The target tokenizer: an XLNerTokenizer as given, or loaded from its folder / Hub id.

    A folder is loaded with `AutoTokenizer(trust_remote_code=True)`: its tokenizer code runs (the
    caller named it as the target of this transfer); pass a tokenizer object to run none.
    """
    if isinstance(tokenizer, (str, os.PathLike)):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(tokenizer), trust_remote_code=True, **hub_kwargs)
    if not all(hasattr(tokenizer, name) for name in VOCABULARY_OF.values()):
        raise ValueError("`tokenizer` must be an XLNerTokenizer (with `word_to_id` and `bigram_to_id`) or a saved tokenizer's path")
    return tokenizer


def transfer_config(source_config: XLNerConfig, tokenizer: Any, overrides: Mapping[str, Any]) -> XLNerConfig:
    """The target's configuration: the source's (or `overrides["config"]`), overridden, with the tokenizer's sizes."""
    overrides = dict(overrides)
    config = copy.deepcopy(overrides.pop("config", None) or source_config)
    for key, value in overrides.items():
        setattr(config, key, value)
    if "label2id" in overrides and "id2label" not in overrides:
        config.id2label = {int(index): label for label, index in overrides["label2id"].items()}
    config.id2label = {int(index): label for index, label in config.id2label.items()}
    config.label2id = {label: index for index, label in config.id2label.items()}
    config.transferred_from = None
    if tokenizer is not None:
        config.word_vocab_size = len(tokenizer.word_to_id)
        config.bigram_vocab_size = len(tokenizer.bigram_to_id)
        # Tokenizers of older versions have no optional features (no attribute).
        config.pos_vocab_size = getattr(tokenizer, "pos_vocab_size", 0)
        config.surface_bigram_vocab_size = getattr(tokenizer, "surface_bigram_vocab_size", 0)
        config.vector_vocab_size = getattr(tokenizer, "vector_vocab_size", 0)
        if not config.vector_vocab_size:
            config.vector_dim = 0
        for key in ("language", "max_bigrams_per_word"):
            if getattr(tokenizer, key, None) is not None:
                setattr(config, key, getattr(tokenizer, key))
    return config


def read_word_space_map(word_space_map: torch.Tensor | str | os.PathLike | None) -> torch.Tensor | None:
    """A map given directly, or read from the file `xlner word-space` saved (a torch file with `target_to_source`)."""
    if word_space_map is None or isinstance(word_space_map, torch.Tensor):
        return word_space_map
    if not os.path.isfile(word_space_map):
        raise FileNotFoundError(f"{word_space_map}: no such word-space map (make one with `xlner word-space`)")
    saved = torch.load(os.fspath(word_space_map), weights_only=True)
    if not isinstance(saved, dict) or not isinstance(saved.get("target_to_source"), torch.Tensor):
        raise ValueError(f"{word_space_map}: not a word-space map (no 'target_to_source' matrix)")
    return saved["target_to_source"]


def read_word_translations(
    word_translations: Mapping[str, str | Sequence[str]] | str | os.PathLike | None,
) -> dict[str, list[str]] | None:
    """Target word → source words: as given, or the seed-dictionary pairs of a saved word-space map."""
    if word_translations is None:
        return None
    if isinstance(word_translations, Mapping):
        return {target: [sources] if isinstance(sources, str) else list(sources) for target, sources in word_translations.items()}
    if not os.path.isfile(word_translations):
        raise FileNotFoundError(f"{word_translations}: no such word-space map (make one with `xlner word-space`)")
    saved = torch.load(os.fspath(word_translations), weights_only=True)
    if not saved.get("pairs"):
        raise ValueError(f"{word_translations}: the word-space map holds no dictionary pairs (rebuild it with `xlner word-space`)")
    translations: dict[str, list[str]] = {}
    for target, source in saved["pairs"]:  # lowercased, as the tokenizer's vocabulary keys are
        translations.setdefault(target.lower(), []).append(source)
    return translations


def read_shape_roles(shape_roles: Mapping[str, str] | bool | None) -> dict[str, str] | None:
    """`True`: the Japanese script roles (`SCRIPT_SHAPE_ROLES`); a mapping as given; None / False: none."""
    if shape_roles is True:
        return dict(SCRIPT_SHAPE_ROLES)
    return dict(shape_roles) if shape_roles else None


def check_transfer(
    modules: Sequence[str], tokenizer: Any, label_map: Any, word_space_map: Any = None, word_translations: Any = None
) -> None:
    """Errors that need no weights: vocabulary alignment without a tokenizer, a label or word-space map without its module."""
    aligned = [module for module in VOCABULARY_OF if module in modules]
    if aligned and tokenizer is None:
        raise ValueError(
            f"transferring {' and '.join(aligned)} aligns vocabularies: pass the target `tokenizer` "
            "(an XLNerTokenizer or the path of a saved one)"
        )
    if label_map is not None and "head" not in modules:
        raise ValueError("`label_map` aligns the head's labels: it needs `head` (or `classifier`) among the modules")
    if word_space_map is not None and "word" not in modules:
        raise ValueError("`word_space_map` carries the word projection across: it needs `word` among the modules")
    if word_translations is not None and "word" not in modules:
        raise ValueError("`word_translations` start target word rows from source ones: it needs `word` among the modules")


def transfer_tokenizers(source: str | os.PathLike, tokenizer: Any, modules: Sequence[str], hub_kwargs: dict) -> tuple[Any, Any]:
    """(source tokenizer, target tokenizer): the source's is loaded, with the target's class, only to align vocabularies."""
    if tokenizer is None:
        return None, None
    target = load_tokenizer(tokenizer, **hub_kwargs)
    if not any(module in modules for module in VOCABULARY_OF):
        return None, target
    return type(target).from_pretrained(source, **hub_kwargs), target


def check_source_weights(missing_keys: Sequence[str], modules: Sequence[str], base_model_prefix: str, source: str) -> None:
    """The loader initialises weights a checkpoint lacks: none of them may be in a transferred module."""
    missing = sorted(name for name in missing_keys if _module_of(name, base_model_prefix)[0] in modules)
    if missing:
        raise ValueError(f"{source}: the checkpoint has no weights for {missing}, so those modules cannot be transferred")


def _module_of(name: str, base_model_prefix: str) -> tuple[str | None, str]:
    """`"xlner.char.lstm.weight_ih_l0"` → `("char", "char.lstm.weight_ih_l0")`."""
    local = name[len(base_model_prefix) + 1 :] if name.startswith(base_model_prefix + ".") else name
    module = local.split(".", 1)[0]
    return (module if module in TRANSFERABLE_MODULES else None), local


def _aligned_rows(
    source: nn.Module, target: nn.Module, modules: Sequence[str], vocabularies: Mapping, label_map: Mapping | None,
    report: TransferReport, word_translations: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, tuple[list[int], list[int]]]:
    """(target rows, source rows) of each row-aligned module; fills the report's counts and label map."""
    rows: dict[str, tuple[list[int], list[int]]] = {}
    for module, (source_vocab, target_vocab) in vocabularies.items():
        translations = word_translations if module == "word" else None
        rows[module] = align_vocabularies(source_vocab, target_vocab, translations)
        report.rows_copied[module] = [len(rows[module][0]), len(target_vocab)]
        if translations is not None:
            report.word_rows_translated = len(rows[module][0]) - len(align_vocabularies(source_vocab, target_vocab)[0])
            if not report.word_rows_translated:
                logger.warning(
                    "word_translations: no target word has a translation in the source vocabulary, so no word row is "
                    "translated (words are matched lowercased: a romaji word input never meets the dictionary's words)"
                )
    if "head" in modules:
        pairs, report.label_map = align_labels(source.config.id2label, target.config.id2label, label_map)
        rows["head"] = ([t for t, _ in pairs], [s for _, s in pairs])
        report.rows_copied["head"] = [len(pairs), target.config.num_labels]
    return rows


def _shape_error(module: str, name: str, source_shape, target_shape, source_config, target_config) -> ValueError:
    differing = [
        f"{key} (source {getattr(source_config, key)}, target {getattr(target_config, key)})"
        for key in MODULE_DIMENSIONS[module]
        if getattr(source_config, key) != getattr(target_config, key)
    ]
    return ValueError(
        f"cannot transfer module {module!r}: {name} has shape {source_shape} in the source but {target_shape} "
        f"in the target model" + (f"; differing config: {', '.join(differing)}" if differing else "")
        + ("; vectors of another width need a `word_space_map`" if name.endswith(MAPPED) else "")
    )


@torch.no_grad()
def copy_modules(
    source: nn.Module,
    target: nn.Module,
    modules: Sequence[str],
    source_name: str,
    tokenizers: tuple[Any, Any] = (None, None),
    label_map: Mapping[str, str] | None = None,
    word_space_map: torch.Tensor | None = None,
    shape_roles: Mapping[str, str] | None = None,
    word_translations: Mapping[str, Sequence[str]] | None = None,
) -> TransferReport:
    """Copy `modules` of `source` into `target` (in place) and return what was copied.

    `tokenizers` (source's, target's) align the word and bigram rows; `label_map` the head's rows;
    `word_space_map` (target vector width × source vector width) the word projection; `shape_roles`
    (target shape name → source shape name, with `char`) which shape rows start from which;
    `word_translations` (target word → source words, with `word`) which source rows target words take.
    """
    if "head" in modules and getattr(target, "head", None) is None:
        raise ValueError(f"{type(target).__name__} has no head: transfer `head` (or `classifier`) into a model for token classification")
    if "word" in modules and word_space_map is not None:
        _check_vectors_to_map(source.config, target.config, source_name)
    base = target.base_model_prefix
    report = TransferReport(source=source_name, modules=tuple(modules))
    vocabularies = {
        key: tuple(getattr(tokenizer, VOCABULARY_OF[key], None) or {} for tokenizer in tokenizers)
        for key in VOCABULARY_OF
        if MODULE_OF_VOCABULARY[key] in modules and (key != "pos" or all(getattr(t, "pos_to_id", None) for t in tokenizers))
    }
    rows = _aligned_rows(source, target, modules, vocabularies, label_map, report, word_translations)
    source_state, target_state = source.state_dict(), target.state_dict()
    for name in sorted(set(source_state) | set(target_state)):
        module, local = _module_of(name, base)
        if module not in modules:
            continue
        source_shape = tuple(source_state[name].shape) if name in source_state else None
        target_shape = tuple(target_state[name].shape) if name in target_state else None
        if (source_shape is None and local.startswith(TARGET_ONLY)) or local in NEVER_COPIED:
            continue  # an optional input the source never had (e.g. Japanese characters): stays fresh
        if local == MAPPED and word_space_map is not None:
            target_state[name].copy_(_mapped_projection(source_state[name], word_space_map, target_shape))
            report.copied_rows[name], report.word_space_map = None, list(word_space_map.shape)
            continue
        row_aligned = 2 if local in PAIR_ALIGNED else int(local in ROW_ALIGNED)
        # Row-aligned tensors may differ in rows (vocabularies, labels), the rest must match exactly.
        if source_shape is None or target_shape is None or source_shape[row_aligned:] != target_shape[row_aligned:]:
            raise _shape_error(module, name, source_shape, target_shape, source.config, target.config)
        if row_aligned == 2:
            target_rows, source_rows = rows[PAIR_ALIGNED[local]]
            if target_rows:
                pairs = torch.tensor(target_rows), torch.tensor(source_rows)
                target_state[name][pairs[0][:, None], pairs[0]] = source_state[name][pairs[1][:, None], pairs[1]].to(
                    target_state[name].dtype
                )
            report.copied_rows[name], report.parameter_rows[name] = list(target_rows), target_shape[0]
        elif row_aligned:
            target_rows, source_rows = rows[ROW_ALIGNED[local]]
            if target_rows:
                target_state[name][torch.tensor(target_rows)] = source_state[name][torch.tensor(source_rows)].to(
                    target_state[name].dtype
                )
            report.copied_rows[name], report.parameter_rows[name] = list(target_rows), target_shape[0]
        else:
            target_state[name].copy_(source_state[name])
            report.copied_rows[name] = None
    if "word" in modules and word_space_map is not None:
        _unknown_rows_from_source(source, target, rows["word"], report)
    if "char" in modules and shape_roles:
        _shapes_by_role(target, shape_roles, tokenizers[1], report)
    _log(report, target)
    return report


def _check_vectors_to_map(source_config: Any, target_config: Any, source_name: str) -> None:
    """A word-space map joins two vector tables: both models must have one."""
    missing = [
        f"the {side} ({name}) has no pretrained vectors (vector_dim 0)"
        for side, name, config in (("source", source_name, source_config), ("target", "the model being built", target_config))
        if not getattr(config, "vector_dim", 0)
    ]
    if missing:
        raise ValueError(
            f"`word_space_map` maps the target's word vectors into the source's, but {' and '.join(missing)}: "
            "train both with vectors (e.g. --vectors auto), or transfer `word` without the map"
        )


def _mapped_projection(source_weight: torch.Tensor, word_space_map: torch.Tensor, target_shape: tuple) -> torch.Tensor:
    """W_target = W_source · Mᵀ: the target's vectors, mapped by M, meet the source's projection."""
    expected = (target_shape[1], source_weight.shape[1])
    if tuple(word_space_map.shape) != expected:
        raise ValueError(
            f"word_space_map has shape {tuple(word_space_map.shape)}, but mapping this target's {expected[0]}-d "
            f"vectors into the source's {expected[1]}-d ones needs {expected}"
        )
    return source_weight @ word_space_map.to(source_weight.dtype).T


def _shapes_by_role(target: nn.Module, shape_roles: Mapping[str, str], tokenizer: Any, report: TransferReport) -> None:
    """Each shape named in `shape_roles` takes the (already copied) row of the shape it maps to."""
    names = list(getattr(tokenizer, "shape_names", ()))
    unknown = sorted({*shape_roles, *shape_roles.values()} - set(names))
    if unknown:
        raise ValueError(f"shape_roles: {unknown} are not word shapes of the tokenizer ({names or 'none: pass the tokenizer'})")
    embeddings = target.base_model.char.shape_embeddings
    if embeddings is None:
        raise ValueError("shape_roles: the target model has no word-shape embedding")
    weight = embeddings.weight
    for name, role in shape_roles.items():
        weight[names.index(name)] = weight[names.index(role)]
    report.shape_roles = dict(shape_roles)


def _unknown_rows_from_source(source: nn.Module, target: nn.Module, word_rows: tuple[list[int], list[int]], report: TransferReport) -> None:
    """Target words the source never saw start from its `<unk>` row (word dropout trained it to stand for them)."""
    name = next(name for name in target.state_dict() if _module_of(name, target.base_model_prefix)[1] == "word.embeddings.weight")
    weight = target.get_input_embeddings().weight
    copied = set(word_rows[0]) | {target.config.pad_token_id}
    fresh = [row for row in range(weight.shape[0]) if row not in copied]
    if fresh:
        weight[torch.tensor(fresh)] = source.get_input_embeddings().weight[source.config.unk_token_id].to(weight.dtype)
    report.word_rows_from_unknown = len(fresh)
    report.copied_rows[name] = sorted(set(report.copied_rows.get(name) or []) | set(fresh))


def _log(report: TransferReport, target: nn.Module) -> None:
    has_head = getattr(target, "head", None) is not None
    fresh = [m for m in TRANSFERABLE_MODULES if m not in report.modules and (m != "head" or has_head)]
    counts = ", ".join(f"{module} {copied}/{total} rows" for module, (copied, total) in report.rows_copied.items())
    logger.info(
        "Transferred %s from %s%s; freshly initialised: %s",
        ", ".join(report.modules) or "nothing",
        report.source,
        f" ({counts})" if counts else "",
        ", ".join(fresh) or "nothing",
    )
    if report.label_map is not None:
        logger.info("Head label map (target type -> source type): %s", report.label_map)


__all__ = [
    "DEFAULT_LABEL_MAP",
    "TransferReport",
    "align_labels",
    "align_vocabularies",
    "check_source_weights",
    "check_transfer",
    "copy_modules",
    "load_tokenizer",
    "read_label_map",
    "read_shape_roles",
    "read_word_space_map",
    "read_word_translations",
    "resolve_modules",
    "split_transfer_kwargs",
    "transfer_config",
    "transfer_tokenizers",
]
