"""XLNer model configuration, with the version of its format and the migrations from older versions."""

import logging
from dataclasses import dataclass, field
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

logger = logging.getLogger(__name__)

# The four parts of the model that can be moved from one language to another. Every
# place that talks about transfer (submodule names, CLI flags, results.json, model card)
# uses exactly these words.
TRANSFERABLE_MODULES = ("word", "char", "context", "head")

# The version of the config format this code writes. Bump it, and add a `MIGRATIONS` entry from the
# previous version, when a field is renamed or removed, or when older code would misread new configs.
# Adding a field whose default keeps old models' behaviour needs no bump (configs without it load).
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Migration:
    """How the fields of a config of one format version become those of the next.

    `renamed`: old field name → new name (the value moves). `removed`: fields dropped, each with a
    logged warning (their value no longer means anything to the model).
    """

    renamed: dict[str, str] = field(default_factory=dict)
    removed: tuple[str, ...] = ()


# MIGRATIONS[v]: from format version v to v + 1. Version 1 is the format before versions were recorded.
MIGRATIONS: dict[int, Migration] = {}


def migrate_fields(version: int, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` (the config's keys that are not fields of this code) migrated from `version` to `FORMAT_VERSION`.

    Raises ValueError for a version newer than this code, which cannot know what the config means.
    """
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"XLNerConfig: format_version must be an integer >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"This model's config has format_version {version}, newer than this xlner reads (at most "
            f"{FORMAT_VERSION}): upgrade xlner (pip install -U xlner), or load the model with "
            "trust_remote_code=True to run the code saved with it."
        )
    fields = dict(fields)
    for step in range(version, FORMAT_VERSION):
        migration = MIGRATIONS.get(step, Migration())
        for old, new in migration.renamed.items():
            if old in fields:
                logger.info("XLNerConfig: field %r of format version %d is now %r", old, step, new)
                fields[new] = fields.pop(old)
        for name in migration.removed:
            if name in fields:
                logger.warning(
                    "XLNerConfig: field %r (value %r) was removed in format version %d; ignored",
                    name, fields.pop(name), step + 1,
                )  # fmt: skip
    return fields


@strict
class XLNerConfig(PreTrainedConfig):
    r"""
    Configuration of an XLNer bi-LSTM tagger ([`XLNerModel`], [`XLNerForTokenClassification`]).

    Each word is represented by a word embedding (the **word** module: a trained embedding, plus, when
    the model has them, a fixed pretrained vector projected to the same size and a part-of-speech
    embedding, all summed) concatenated with a
    character representation (the **char** module: the word's character bigrams embedded and
    run through a bi-LSTM whose final states are concatenated, plus a small word-shape
    embedding that carries capitalisation). A word-level bi-LSTM (the **context** module)
    runs over the sentence and a linear layer (the **head**, optionally with a CRF) tags each word.

    Args:
        word_vocab_size (`int`, *optional*, defaults to 20000):
            Number of rows of the word embedding (the tokenizer's word vocabulary).
        bigram_vocab_size (`int`, *optional*, defaults to 4000):
            Number of rows of the character-bigram embedding (the tokenizer's bigram vocabulary).
        surface_bigram_vocab_size (`int`, *optional*, defaults to 0):
            Rows of the second char channel's bigram embedding (Japanese characters, the tokenizer's
            `surface_char_ids`, read by a second char bi-LSTM of the same size); 0: no second channel.
        vector_vocab_size (`int`, *optional*, defaults to 0):
            Rows of the fixed pretrained word-vector table (the tokenizer's `vector_ids`; row 0: no vector);
            0: no pretrained vectors.
        vector_dim (`int`, *optional*, defaults to 0):
            Width of a pretrained vector (GloVe 6B 50d: 50, chiVe: 300). A linear projection maps it to
            `word_embedding_dim`, so that the word module's output size does not depend on the vectors.
        pos_vocab_size (`int`, *optional*, defaults to 0):
            Rows of the part-of-speech embedding (the tokenizer's `pos_ids`: UniDic's parts of speech for
            Japanese); 0: no part-of-speech feature. The embedding has `word_embedding_dim` columns and is
            summed into the word module's output.
        num_shapes (`int`, *optional*, defaults to 16):
            Number of word-shape classes (see `XLNerTokenizer.word_shape`); row 0 is padding.
        word_embedding_dim (`int`, *optional*, defaults to 100):
            Size of a word embedding.
        bigram_embedding_dim (`int`, *optional*, defaults to 50):
            Size of a character-bigram embedding.
        shape_embedding_dim (`int`, *optional*, defaults to 16):
            Size of a word-shape embedding; 0 disables the shape feature.
        char_hidden_size (`int`, *optional*, defaults to 50):
            Hidden size of each direction of the character bi-LSTM.
        context_hidden_size (`int`, *optional*, defaults to 150):
            Hidden size of each direction of the word-level bi-LSTM.
        context_num_layers (`int`, *optional*, defaults to 1):
            Number of stacked word-level bi-LSTM layers.
        dropout (`float`, *optional*, defaults to 0.5):
            Dropout on the word representation and on the word-level bi-LSTM output.
        word_dropout (`float`, *optional*, defaults to 0.3):
            Probability, during training only, of replacing a word id by the unknown-word id, so
            that the unknown-word vector is trained and the model learns to lean on characters
            (measured: English CoNLL test F1 0.830 / 0.849 / 0.855 at 0.05 / 0.2 / 0.3).
        word_module_dropout (`float`, *optional*, defaults to 0.0):
            Probability, during training only, of zeroing the word module's output for a whole sentence,
            so that the context module also learns to tag from characters alone. A source trained so
            can be transferred with a fresh word module that starts at zero (`xlner transfer
            --zero-fresh-word`): the input it was taught to tag without.
        max_bigrams_per_word (`int`, *optional*, defaults to 24):
            Longest bigram sequence the tokenizer produces for one word (longer words keep their
            first and last bigrams).
        use_crf (`bool`, *optional*, defaults to `False`):
            Whether the head is a linear-chain CRF: learned transition scores under the BIO constraint, the
            CRF negative log-likelihood as the loss and Viterbi decoding (see crf_xlner.py). Otherwise each
            word's labels are scored independently and the loss is the cross-entropy.
        constrained_decoding (`bool`, *optional*, defaults to `True`):
            Whether `XLNerForTokenClassification.decode` finds the best tag sequence under the BIO
            constraint (Viterbi; an `I-X` only after `B-X` or `I-X`) instead of each word's argmax.
        language (`str`, *optional*, defaults to `"en"`):
            Language of the training data (`"en"` or `"ja"`).
        transferred_from (`dict`, *optional*):
            Provenance of a transferred model: source model, modules transferred and rows copied.
        initializer_range (`float`, *optional*, defaults to 0.1):
            Half-width of the uniform distribution that initialises embeddings.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding word (and of the padding bigram).
        unk_token_id (`int`, *optional*, defaults to 1):
            Id of the unknown word, used by word dropout.
        format_version (`int`, *optional*):
            Version of the config format the fields were written in; not given: 1, the format of configs
            saved before versions were recorded. Fields of an older version are migrated (see `MIGRATIONS`), a
            newer version than this code's `FORMAT_VERSION` is an error, and the config then holds (and
            saves) `FORMAT_VERSION`.

    Example:

    ```python
    >>> from modeling_xlner import XLNerConfig, XLNerForTokenClassification
    >>> config = XLNerConfig(id2label={0: "O", 1: "B-PER", 2: "I-PER"})
    >>> model = XLNerForTokenClassification(config)
    ```
    """

    model_type = "xlner"

    word_vocab_size: int = 20000
    bigram_vocab_size: int = 4000
    surface_bigram_vocab_size: int = 0
    vector_vocab_size: int = 0
    vector_dim: int = 0
    pos_vocab_size: int = 0
    num_shapes: int = 16
    word_embedding_dim: int = 100
    bigram_embedding_dim: int = 50
    shape_embedding_dim: int = 16
    char_hidden_size: int = 50
    context_hidden_size: int = 150
    context_num_layers: int = 1
    dropout: float | int = 0.5
    word_dropout: float | int = 0.3
    word_module_dropout: float | int = 0.0
    max_bigrams_per_word: int = 24
    use_crf: bool = False
    constrained_decoding: bool = True
    language: str = "en"
    transferred_from: dict | None = None
    initializer_range: float = 0.1
    pad_token_id: int | None = 0
    unk_token_id: int | None = 1
    format_version: int | None = None

    def __post_init__(self, **kwargs):
        # Keys that are not fields of this code reach here: those of older versions are migrated first.
        migrated = migrate_fields(1 if self.format_version is None else self.format_version, kwargs)
        kwargs = {key: value for key, value in migrated.items() if key not in self.__dataclass_fields__}
        for key in migrated.keys() - kwargs.keys():  # renamed onto a field of this code
            setattr(self, key, migrated[key])
        self.format_version = FORMAT_VERSION
        if bool(self.vector_vocab_size) != bool(self.vector_dim):
            raise ValueError("vector_vocab_size and vector_dim go together: both 0 (no vectors) or both set")
        # Callers usually give only `id2label`; derive the inverse so both are always saved.
        if self.id2label is not None and self.label2id is None:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}
        super().__post_init__(**kwargs)


__all__ = ["XLNerConfig", "TRANSFERABLE_MODULES", "FORMAT_VERSION", "MIGRATIONS", "Migration", "migrate_fields"]
