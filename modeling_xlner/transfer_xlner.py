"""Module-selective transfer: a new XLNer model whose chosen modules come from a saved one.

`XLNerPreTrainedModel.from_pretrained(source, transfer_modules=[...], tokenizer=..., ...)` lands
here. The target model gets the source's configuration (so dimensions agree), the target
tokenizer's vocabulary sizes and the target labels; then, per transferred module:

- **word**: rows of the word embedding for words present in both vocabularies;
- **char**: the character bi-LSTM and the word-shape embedding whole, and the rows of the
  bigram embedding for bigrams present in both vocabularies (English bigrams vs romaji bigrams);
- **context**: the word-level bi-LSTM whole;
- **head**: the rows (weight and bias) of target labels mapped to a source label: `O` to `O`,
  `B-X`/`I-X` to `B-Y`/`I-Y` where the label map sends entity type X to Y.

Everything else is freshly initialised by transformers (missing keys of the load, so the usual
init flags apply). Vocabulary rows are matched by the token string, the `<pad>` and `<unk>`
specials included. `classifier` is an alias of `context` + `head`.

This file is remote code: it is imported relatively by `modeling_xlner.py` and copied flat beside
it, so it uses nothing beyond torch, transformers and the standard library.
"""

import copy
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import initialization as init
from transformers.utils import cached_file

from .configuration_xlner import TRANSFERABLE_MODULES

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

VOCAB_FILES = {"word": "word_vocab.json", "char": "bigram_vocab.json"}
HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "proxies", "revision", "subfolder", "token")
# Parameters copied row by row (the rest of a transferred module is copied whole), keyed by
# their name below the base model / head, with the vocabulary they are aligned on.
ROW_ALIGNED = {
    "word.embeddings.weight": "word",
    "char.bigram_embeddings.weight": "char",
    "head.weight": "head",
    "head.bias": "head",
}
# Config fields that shape each module; named in the error when a transferred module's shapes differ.
MODULE_DIMENSIONS = {
    "word": ("word_embedding_dim",),
    "char": ("bigram_embedding_dim", "char_hidden_size", "shape_embedding_dim", "num_shapes"),
    "context": (
        "word_embedding_dim", "bigram_embedding_dim", "char_hidden_size", "shape_embedding_dim",
        "context_hidden_size", "context_num_layers",
    ),
    "head": ("context_hidden_size",),
}  # fmt: skip
_NOT_CONFIG_OVERRIDES = frozenset({"dtype", "torch_dtype", "attn_implementation", "experts_implementation"})
_LABEL = re.compile(r"([A-Z])-(.+)")


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


def read_vocabulary(path_or_repo_id: str | os.PathLike, filename: str, **hub_kwargs) -> dict[str, int]:
    """A saved vocabulary (token → id) from a local model folder or a Hub repository."""
    path = cached_file(str(path_or_repo_id), filename, _raise_exceptions_for_missing_entries=False, **hub_kwargs)
    if path is None:
        raise ValueError(f"{path_or_repo_id}: no {filename}; vocabulary alignment needs the tokenizer files of the model")
    with open(path, encoding="utf-8") as handle:
        vocab = json.load(handle)
    if not isinstance(vocab, dict) or not all(isinstance(index, int) for index in vocab.values()):
        raise ValueError(f"{path}: a vocabulary must be a JSON object from token to integer id")
    return vocab


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


def _split_label(label: str) -> tuple[str | None, str]:
    """`"B-PER"` → `("B", "PER")`; `"O"` (or any label without a one-letter prefix) → `(None, "O")`."""
    match = _LABEL.fullmatch(label)
    return (match.group(1), match.group(2)) if match else (None, label)


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
    source_types = {_split_label(label)[1] for label in source_id2label.values() if _split_label(label)[0]}
    target_types = {_split_label(label)[1] for label in target_id2label.values() if _split_label(label)[0]}
    if label_map is not None:
        unknown_target = sorted(set(label_map) - target_types)
        unknown_source = sorted(set(label_map.values()) - source_types)
        if unknown_target or unknown_source:
            problems = []
            if unknown_target:
                problems.append(f"target types {unknown_target} are not labels of the target (it has {sorted(target_types)})")
            if unknown_source:
                problems.append(f"source types {unknown_source} are not labels of the source (it has {sorted(source_types)})")
            raise ValueError("label map: " + "; ".join(problems) + " (give entity types without B-/I- prefixes)")
        type_map = dict(label_map)
    else:
        type_map = {}
        for name in sorted(target_types):
            if name in source_types:
                type_map[name] = name
            elif DEFAULT_LABEL_MAP.get(name) in source_types:
                type_map[name] = DEFAULT_LABEL_MAP[name]
    source_ids = {label: int(index) for index, label in source_id2label.items()}
    pairs = []
    for index, label in sorted((int(i), label) for i, label in target_id2label.items()):
        prefix, name = _split_label(label)
        if prefix is None:
            source_label = label if label == "O" else None
        else:
            source_label = f"{prefix}-{type_map[name]}" if name in type_map else None
        if source_label in source_ids:
            pairs.append((index, source_ids[source_label]))
    return pairs, type_map


def align_vocabularies(source_vocab: Mapping[str, int], target_vocab: Mapping[str, int]) -> tuple[list[int], list[int]]:
    """Target ids and source ids of the tokens present in both vocabularies (in target id order)."""
    pairs = sorted((index, source_vocab[token]) for token, index in target_vocab.items() if token in source_vocab)
    return [t for t, _ in pairs], [s for _, s in pairs]


@dataclass
class TransferReport:
    """What a transfer copied: recorded in `config.transferred_from`, kept on the model as `transfer_report`.

    `copied_rows` maps each full parameter name of the target to the target row ids that were
    copied from the source, or to None when the whole tensor was copied.
    """

    source: str
    modules: tuple[str, ...]
    rows_copied: dict[str, list[int]] = field(default_factory=dict)
    label_map: dict[str, str] | None = None
    copied_rows: dict[str, list[int] | None] = field(default_factory=dict)

    def to_config(self) -> dict[str, Any]:
        record: dict[str, Any] = {"source": self.source, "modules": list(self.modules), "rows_copied": dict(self.rows_copied)}
        if self.label_map is not None:
            record["label_map"] = dict(self.label_map)
        return record

    parameter_rows: dict[str, int] = field(default_factory=dict, repr=False)  # rows of each row-aligned parameter

    def fully_copied(self, name: str) -> bool:
        """Whether every value of parameter `name` came from the source (a whole tensor, or all its rows)."""
        if name not in self.copied_rows:
            return False
        rows = self.copied_rows[name]
        return rows is None or self.parameter_rows.get(name) == len(rows)


def _module_of(name: str, base_model_prefix: str) -> tuple[str | None, str]:
    """`"xlner.char.lstm.weight_ih_l0"` → `("char", "char.lstm.weight_ih_l0")`."""
    local = name[len(base_model_prefix) + 1 :] if name.startswith(base_model_prefix + ".") else name
    module = local.split(".", 1)[0]
    return (module if module in TRANSFERABLE_MODULES else None), local


@contextmanager
def _seeded(seed: int | None):
    """Fresh modules drawn from `seed` without touching the global RNG; from the global RNG when None."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def _without_load_report():
    """Missing keys are expected here (the modules not transferred): drop transformers' load table."""
    hf_logger = logging.getLogger("transformers.modeling_utils")

    def keep(record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in str(record.msg)

    hf_logger.addFilter(keep)
    try:
        yield
    finally:
        hf_logger.removeFilter(keep)


def _target_vocabularies(tokenizer: Any, needed: Sequence[str], hub_kwargs: dict) -> dict[str, dict[str, int]]:
    """word / char vocabularies of the target: from a tokenizer object (`word_to_id`, `bigram_to_id`) or a saved one."""
    if tokenizer is None:
        return {}
    if isinstance(tokenizer, (str, os.PathLike)):
        return {module: read_vocabulary(tokenizer, VOCAB_FILES[module], **hub_kwargs) for module in needed}
    vocabularies = {"word": getattr(tokenizer, "word_to_id", None), "char": getattr(tokenizer, "bigram_to_id", None)}
    if any(vocabularies[m] is None for m in needed):
        raise ValueError("`tokenizer` must be an XLNerTokenizer (with `word_to_id` and `bigram_to_id`) or a saved tokenizer's path")
    return {m: dict(vocabularies[m]) for m in needed}


def _tokenizer_settings(tokenizer: Any, hub_kwargs: dict) -> dict[str, Any]:
    """language and max_bigrams_per_word of the target tokenizer, for the target config."""
    if isinstance(tokenizer, (str, os.PathLike)):
        path = cached_file(str(tokenizer), "tokenizer_config.json", _raise_exceptions_for_missing_entries=False, **hub_kwargs)
        if path is None:
            return {}
        with open(path, encoding="utf-8") as handle:
            settings = json.load(handle)
    else:
        settings = {key: getattr(tokenizer, key, None) for key in ("language", "max_bigrams_per_word")}
    return {key: settings[key] for key in ("language", "max_bigrams_per_word") if settings.get(key) is not None}


def transfer_pretrained(
    cls: type,
    load: Callable[..., Any],
    source: str | os.PathLike,
    *model_args,
    transfer_modules: str | Sequence[str],
    tokenizer: Any = None,
    label_map: Mapping[str, str] | str | os.PathLike | None = None,
    seed: int | None = None,
    **kwargs,
):
    """Build a `cls` model from `source` with only `transfer_modules` copied; see the module docstring.

    `load` is `PreTrainedModel.from_pretrained` bound to `cls`. `kwargs` may hold hub arguments
    (`revision`, `cache_dir`, ...), loading arguments (`dtype`, ...), a target `config`, and
    config overrides (`id2label`, `dropout`, `context_hidden_size`, ...) for the target model.
    The model's `transfer_report` (a `TransferReport`) says which rows were copied.
    """
    modules = resolve_modules(transfer_modules)
    hub_kwargs = {name: kwargs.pop(name) for name in HUB_KWARGS if name in kwargs}
    target_config = kwargs.pop("config", None)
    kwargs.pop("state_dict", None)
    kwargs.pop("output_loading_info", None)
    source_config = cls.config_class.from_pretrained(source, **hub_kwargs)
    overrides = {key: kwargs.pop(key) for key in list(kwargs) if key not in _NOT_CONFIG_OVERRIDES and hasattr(source_config, key)}

    base = cls.base_model_prefix
    aligned = [module for module in ("word", "char") if module in modules]
    if aligned and tokenizer is None:
        raise ValueError(
            f"transferring {' and '.join(aligned)} aligns vocabularies: pass the target `tokenizer` "
            "(an XLNerTokenizer or the path of a saved one)"
        )

    # ---- the target configuration: the source's, with the target's vocabularies and labels
    config = copy.deepcopy(target_config if target_config is not None else source_config)
    for key, value in overrides.items():
        setattr(config, key, value)
    if "label2id" in overrides and "id2label" not in overrides:
        config.id2label = {int(index): label for label, index in overrides["label2id"].items()}
    config.id2label = {int(index): label for index, label in config.id2label.items()}
    config.label2id = {label: index for index, label in config.id2label.items()}
    target_vocabs = _target_vocabularies(tokenizer, ("word", "char"), hub_kwargs) if tokenizer is not None else {}
    if target_vocabs:
        config.word_vocab_size = len(target_vocabs["word"])
        config.bigram_vocab_size = len(target_vocabs["char"])
    for key, value in _tokenizer_settings(tokenizer, hub_kwargs).items() if tokenizer is not None else ():
        setattr(config, key, value)

    # ---- the source model, and what each transferred parameter becomes
    source_model, info = load(source, *model_args, config=source_config, output_loading_info=True, **hub_kwargs, **kwargs)
    source_state = source_model.state_dict()
    with init.no_init_weights(), torch.device("meta"):
        target_shapes = {name: tuple(t.shape) for name, t in cls(copy.deepcopy(config)).state_dict().items()}
    has_head = any(_module_of(name, base)[0] == "head" for name in target_shapes)
    if "head" in modules and not has_head:
        raise ValueError(f"{cls.__name__} has no head: transfer `head` (or `classifier`) into a model for token classification")
    missing = sorted(name for name in info["missing_keys"] if _module_of(name, base)[0] in modules)
    if missing:
        raise ValueError(f"{source}: the checkpoint has no weights for {missing}, so those modules cannot be transferred")

    source_vocabs = {m: read_vocabulary(source, VOCAB_FILES[m], **hub_kwargs) for m in aligned}
    report = TransferReport(source=str(source), modules=modules)
    rows: dict[str, tuple[list[int], list[int]]] = {}
    for module in aligned:
        rows[module] = align_vocabularies(source_vocabs[module], target_vocabs[module])
        report.rows_copied[module] = [len(rows[module][0]), len(target_vocabs[module])]
    if "head" in modules:
        pairs, report.label_map = align_labels(source_config.id2label, config.id2label, read_label_map(label_map))
        rows["head"] = ([t for t, _ in pairs], [s for _, s in pairs])
        report.rows_copied["head"] = [len(pairs), config.num_labels]
    elif label_map is not None:
        raise ValueError("`label_map` aligns the head's labels: it needs `head` (or `classifier`) among the modules")

    whole: dict[str, torch.Tensor] = {}
    names = set(source_state) | {name for name in target_shapes if _module_of(name, base)[0] in modules}
    for name in sorted(names):
        module, local = _module_of(name, base)
        if module not in modules:
            continue
        source_shape = tuple(source_state[name].shape) if name in source_state else None
        target_shape = target_shapes.get(name)
        row_aligned = local in ROW_ALIGNED
        compatible = (
            source_shape is not None
            and target_shape is not None
            and (source_shape[1:] == target_shape[1:] if row_aligned else source_shape == target_shape)
        )
        if not compatible:
            differing = [
                f"{key} (source {getattr(source_config, key)}, target {getattr(config, key)})"
                for key in MODULE_DIMENSIONS[module]
                if getattr(source_config, key) != getattr(config, key)
            ]
            raise ValueError(
                f"cannot transfer module {module!r}: {name} has shape {source_shape} in the source but {target_shape} "
                f"in the target model" + (f"; differing config: {', '.join(differing)}" if differing else "")
            )
        if row_aligned:
            report.copied_rows[name] = list(rows[ROW_ALIGNED[local]][0])
            report.parameter_rows[name] = target_shape[0]
        else:
            whole[name] = source_state[name]
            report.copied_rows[name] = None

    # ---- the target model: transferred whole tensors loaded, everything else initialised by transformers
    config.transferred_from = report.to_config()
    with _seeded(seed), _without_load_report():
        model = load(None, *model_args, config=config, state_dict=whole, **kwargs)
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, target_rows in report.copied_rows.items():
            if target_rows is not None and target_rows:
                source_rows = rows[ROW_ALIGNED[_module_of(name, base)[1]]][1]
                parameters[name][torch.tensor(target_rows)] = source_state[name][torch.tensor(source_rows)].to(
                    parameters[name].dtype
                )
    fresh = [module for module in TRANSFERABLE_MODULES if module not in modules and (module != "head" or has_head)]
    counts = ", ".join(f"{module} {copied}/{total} rows" for module, (copied, total) in report.rows_copied.items())
    logger.info(
        "Transferred %s from %s%s; freshly initialised: %s",
        ", ".join(modules) or "nothing",
        source,
        f" ({counts})" if counts else "",
        ", ".join(fresh) or "nothing",
    )
    if report.label_map is not None:
        logger.info("Head label map (target type -> source type): %s", report.label_map)
    model.transfer_report = report
    return model
