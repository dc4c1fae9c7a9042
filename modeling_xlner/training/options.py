"""The options of `xlner train` / `xlner transfer` (and of the Python API): the CLI is derived from these fields.

Each field is declared once, here: its type gives the flag's type (and `Literal` its choices), its
default the flag's default and `metadata["help"]` the flag's help (see `modeling_xlner.cli`).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TrainingOptions:
    """Everything `train` needs besides the data; the CLI flags map onto these fields one to one.

    `tokenizer_options` is not a flag: the CLI fills it from `JapaneseTokenizerOptions` for "ja".
    `threads` None (or 0, which becomes None) leaves torch's thread count alone.
    """

    epochs: int = field(default=20, metadata=_help("most training epochs (the learning rate decays to 0 over them)"))
    batch_size: int | None = field(
        default=None,
        metadata=_help(
            "sentences per training batch (per process); default: training sentences / 60, from 8 to 32, "
            "so that small data still gets some 60 steps per epoch"
        ),
    )
    learning_rate: float = field(default=3e-3, metadata=_help("peak learning rate of AdamW"))
    lr_scheduler: str = field(default="linear", metadata=_help("a transformers scheduler name (linear, cosine, constant, ...)"))
    max_grad_norm: float = field(default=5.0, metadata=_help("gradient clipping norm"))
    max_train_samples: int | None = field(default=None, metadata=_help("train on a seeded random subset of this size"))
    seed: int = field(default=42, metadata=_help("seed of weights, shuffling and the training subset"))
    patience: int | None = field(
        default=5, metadata=_help("early stopping: epochs without validation F1 gain (0: none; the best epoch is kept)")
    )
    threads: int | None = field(default=1, metadata=_help("torch threads (0: torch's default)"))
    min_word_frequency: int = field(default=1, metadata=_help("words rarer than this in the training data are unknown"))
    max_words: int | None = field(default=None, metadata=_help("largest word vocabulary"))
    min_bigram_frequency: int = field(default=1, metadata=_help("bigrams rarer than this are unknown"))
    max_bigrams: int | None = field(default=None, metadata=_help("largest bigram vocabulary"))
    vectors: str | None = field(
        default="auto",
        metadata=_help(
            "pretrained word vectors: glove-6b-50d, chive, a word2vec/GloVe text file or a spaCy vectors folder; "
            "auto: glove-6b-50d (en) or chive (ja) if xlner[vectors] is installed, else none; none: no vectors"
        ),
    )
    vector_rows: int = field(
        default=100_000,
        metadata=_help("pretrained rows kept besides the training words' (the most frequent): words met after training"),
    )
    part_of_speech: bool = field(default=True, metadata=_help("Japanese: a UniDic part-of-speech embedding in the word module"))
    crf: bool = field(default=True, metadata=_help("a CRF head (learned BIO transitions); else a softmax head"))
    code_switch_rate: float = field(
        default=0.0,
        metadata=_help(
            "English source for a Japanese target: share of the training words with a katakana transliteration "
            "whose character input is that transliteration's romaji (los angeles -> rosu anjierusu, word by word); 0: none"
        ),
    )
    transliterations: str = field(
        default="alkana",
        metadata=_help("English -> katakana pairs for code switching: alkana (xlner[transfer]) or a TSV file english<TAB>katakana"),
    )
    unlabeled_data: str | None = field(
        default=None,
        metadata=_help(
            "self-training: target texts without labels (.txt, one a line, or span JSON(L), labels unused); the trained "
            "model (the teacher, kept in OUTPUT_DIR/teacher) tags them, and a student that starts as the teacher did "
            "trains on the labelled data and those tags (texts of the training data are not tagged)"
        ),
    )
    self_training_rounds: int = field(
        default=1,
        metadata=_help("with --unlabeled-data: students in a row, each taught by the one before (OUTPUT_DIR/student-N; the last in OUTPUT_DIR)"),
    )
    self_training_teachers: int = field(
        default=1,
        metadata=_help(
            "with --unlabeled-data: teachers trained on the same labelled texts with seeds SEED, SEED+100, ... "
            "(OUTPUT_DIR/teacher, teacher-2, ...); the first student learns the entities that more than half of them find"
        ),
    )
    self_training_scratch_teachers: int = field(
        default=0,
        metadata=_help(
            "xlner transfer with --self-training-teachers K: the last N of the K teachers start from scratch instead of "
            "from the source; teachers of two starts make different mistakes, so fewer of them survive the vote"
        ),
    )
    self_training_gold_copies: int = field(
        default=1,
        metadata=_help(
            "with --unlabeled-data: how many times the labelled texts appear in the student's data; they are few next "
            "to the tagged texts (250 to 4,024 here), and repeating them weighs clean labels over the teachers'"
        ),
    )
    self_training_partial_labels: bool = field(
        default=False,
        metadata=_help(
            "with several teachers: words that some teachers but no majority put in an entity are left unlabelled in "
            "the student's data (the CRF sums over every label there) instead of taught as outside"
        ),
    )
    model_config: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "XLNerConfig hyperparameters, KEY=VALUE (JSON values), e.g. word_dropout=0.1", "aliases": ["--set"]},
    )
    tokenizer_options: dict[str, Any] = field(default_factory=dict)  # XLNerTokenizer.from_corpus keywords
    eval_batch_size: int = field(default=128, metadata=_help("sentences per evaluation batch"))
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata=_help(
            "a checkpoint folder under OUTPUT_DIR/checkpoints: its vocabularies, weights, optimizer and RNG state are used"
        ),
    )
    max_steps: int = field(default=-1, metadata=_help("stop after this many steps (-1: train --epochs epochs)"))
    device: Literal["cpu", "auto"] = field(
        default="cpu",
        metadata=_help("cpu (reproducible), or auto: the GPU/accelerator if there is one (with torchrun: one per process)"),
    )

    def __post_init__(self) -> None:
        if self.threads == 0:  # the CLI's "0: torch's default"
            self.threads = None
        if self.patience == 0:
            self.patience = None
        if self.vectors is not None and self.vectors.lower() == "none":
            self.vectors = None
        if self.self_training_rounds < 1:
            raise ValueError(f"self_training_rounds must be 1 or more, got {self.self_training_rounds}")
        if self.self_training_teachers < 1:
            raise ValueError(f"self_training_teachers must be 1 or more, got {self.self_training_teachers}")
        if not 0 <= self.self_training_scratch_teachers < self.self_training_teachers:
            raise ValueError(
                f"self_training_scratch_teachers must be from 0 to self_training_teachers - 1 ({self.self_training_teachers - 1}): "
                f"the first teacher is the run itself; got {self.self_training_scratch_teachers}"
            )
        if self.self_training_gold_copies < 1:
            raise ValueError(f"self_training_gold_copies must be 1 or more, got {self.self_training_gold_copies}")
        if self.self_training_partial_labels and self.self_training_teachers == 1:
            raise ValueError("self_training_partial_labels: one teacher disputes nothing; use it with self_training_teachers 3 or more")
        if not 0.0 <= self.code_switch_rate <= 1.0:
            raise ValueError(f"code_switch_rate must be between 0 and 1, got {self.code_switch_rate}")

    def train_batch_size(self, train_sentences: int) -> int:
        """`batch_size`, or the default for this many training sentences."""
        return self.batch_size or min(32, max(8, train_sentences // 60))


@dataclass
class JapaneseTokenizerOptions:
    """The Japanese tokenizer's inputs (`XLNerTokenizer.from_corpus` keywords); ignored for English."""

    char_input: Literal["romaji", "surface", "romaji+surface"] = field(
        default="romaji", metadata=_help("Japanese bigram input (romaji+surface: a second char channel of Japanese characters)")
    )
    word_input: Literal["surface", "romaji"] = field(default="surface", metadata=_help("Japanese word input"))
    romaji_source: Literal["surface", "reading"] = field(
        default="surface", metadata=_help("what is romanised: the surface form or the reading")
    )


@dataclass
class TransferOptions:
    """What `transfer` copies from the source model, and how the copied values are trained.

    `label_map` may also be a mapping given directly (Python API). Bigram rows appended by
    `shared_bigrams` come after the target's own, beyond `max_bigrams`. `transferred_lr_scale`
    applies to tensors copied whole (LSTMs, shape embedding; embeddings and head only if every
    row was copied), for the whole run.
    """

    modules: str | Sequence[str] = field(
        default=("char", "classifier"),
        metadata=_help("modules to copy, comma-separated: word, char, context, head, classifier (= context,head)"),
    )
    label_map: dict[str, str] | str | None = field(
        default=None,
        metadata=_help("JSON file: target entity type -> source entity type (None: same names, then 人名->PER, ...)"),
    )
    shared_bigrams: bool = field(
        default=False, metadata=_help("add the source's bigrams to the target bigram vocabulary, so that more rows are copied")
    )
    freeze_transferred_epochs: int = field(
        default=0, metadata={"help": "keep copied weights fixed for N epochs", "metavar": "N"}
    )
    transferred_lr_scale: float | None = field(
        default=None, metadata={"help": "learning-rate factor for weights copied whole", "metavar": "X"}
    )
    source_anchor: float = field(
        default=0.0,
        metadata={
            "help": "L2-SP, decoupled: after every step the copied values move back toward the source's by "
            "learning rate x X of their distance (0: none; about 1/X is how far Adam lets them drift)",
            "metavar": "X",
        },
    )
    word_space_map: str | None = field(
        default=None,
        metadata=_help(
            "a map file (made by `xlner word-space`): the target's vectors mapped into the source's, so "
            "that `word` transfers between vector tables of different widths (Japanese chiVe to English GloVe)"
        ),
    )
    script_shapes: bool = field(
        default=False,
        metadata=_help(
            "with char: the Japanese script shapes, which an English source never trained, start from its shape of "
            "the same role (katakana from title case, hiragana and kanji from lowercase)"
        ),
    )
    translated_word_rows: bool = field(
        default=False,
        metadata=_help(
            "with --word-space-map and word: a target word the source never saw starts from the row of its translation in "
            "the map's seed dictionary (ロンドン from london), not from the source's unknown-word row; the dictionary's words "
            "join the target vocabulary, so that words absent from the training data keep their translation's row"
        ),
    )
    zero_fresh_word: bool = field(
        default=False,
        metadata=_help(
            "without word: the fresh word module starts at zero, so that the copied context first sees what a source "
            "trained with word_module_dropout learnt to tag from (characters alone)"
        ),
    )
    zero_shot: bool = field(
        default=False,
        metadata=_help(
            "no training: the chosen modules copied (with the word space map when the vectors differ), the source's labels "
            "kept, the test set scored with its types collapsed onto the source's through the label map"
        ),
    )
    joint_data: str | None = field(
        default=None,
        metadata=_help(
            "joint training: an English training file (CoNLL); its batches train the shared char and context with the "
            "source's word module and head, between the Japanese batches (see training/joint.py)"
        ),
    )
    joint_ratio: float = field(
        default=1.0, metadata={"help": "joint training: English batches per Japanese batch in each epoch", "metavar": "X"}
    )
    joint_finetune: bool = field(
        default=False,
        metadata=_help(
            "with --joint-data: then a Japanese-only fine-tuning of every module, from the joint run's model (kept in "
            "OUTPUT_DIR/joint); OUTPUT_DIR holds the fine-tuned model"
        ),
    )

    def __post_init__(self) -> None:
        if self.joint_ratio <= 0:
            raise ValueError(f"joint_ratio must be positive, got {self.joint_ratio}")
        if self.source_anchor < 0:
            raise ValueError(f"source_anchor must be 0 or more, got {self.source_anchor}")
        if self.joint_finetune and not self.joint_data:
            raise ValueError("joint_finetune fine-tunes the model of a joint run: give --joint-data too")
        if self.translated_word_rows and not self.word_space_map:
            raise ValueError("translated_word_rows reads the seed dictionary of a word-space map: give --word-space-map too")
