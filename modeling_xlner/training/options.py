"""The options of `xlner train` / `xlner transfer` (and of the Python API): the CLI is derived from these fields."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingOptions:
    """Everything `train` needs besides the data; the CLI flags map onto these fields one to one."""

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    lr_scheduler: str = "linear"
    max_grad_norm: float = 5.0
    max_train_samples: int | None = None
    seed: int = 42
    patience: int | None = None
    threads: int | None = 1
    min_word_frequency: int = 1
    max_words: int | None = None
    min_bigram_frequency: int = 1
    max_bigrams: int | None = None
    model_config: dict[str, Any] = field(default_factory=dict)
    tokenizer_options: dict[str, Any] = field(default_factory=dict)
    eval_batch_size: int = 128
    resume_from_checkpoint: str | None = None
    max_steps: int = -1
    device: str = "cpu"  # "cpu", or "auto": the accelerator `Trainer` finds (CUDA, ...), for scale-out



@dataclass
class TransferOptions:
    """What `transfer` copies from the source model, and how the copied values are trained.

    `modules`: any of word, char, context, head, classifier (= context + head), list or "a,b".
    `label_map`: target entity type → source entity type (or a JSON file of one); None: same-named
    types, then the Japanese Wikipedia → CoNLL default. `shared_bigrams`: also put the source's
    bigrams into the target bigram vocabulary (appended after the target's own, beyond
    `max_bigrams`), so that more bigram rows are copied. `freeze_transferred_epochs`: keep every
    copied value fixed for that many epochs. `transferred_lr_scale`: learning-rate factor for
    the tensors copied whole (LSTMs, shape embedding; embeddings and head only if every row was
    copied), for the whole run.
    """

    modules: str | Sequence[str] = ("char", "classifier")
    label_map: dict[str, str] | str | None = None
    shared_bigrams: bool = False
    freeze_transferred_epochs: int = 0
    transferred_lr_scale: float | None = None
