"""Joint training (`xlner transfer --joint-data EN_TRAIN`): English and Japanese batches in one run.

The run starts as any `xlner transfer` does (the chosen modules of the English source copied into the
Japanese target, see `build_transferred_model`); then, instead of training on Japanese alone, each
epoch is every Japanese batch once plus `round(joint_ratio × that many)` English batches, drawn from
the English file. Every batch is single-language:

- shared: the target's `char` and `context`, trained by both languages;
- language-specific: the target's own `word` module and `head` read Japanese batches; the source's
  `word` module (with its English vectors) and `head` (its CRF, English labels) read English ones.
  English words get their word and vector ids from the source's tokenizer vocabularies and their
  bigram ids from the target's (the shared `char` reads them), which holds the source's bigrams
  (`shared_bigrams` is on in a joint run).

Validation, early stopping and the best epoch are on Japanese F1, as in any transfer, and only the
Japanese target is saved: an ordinary XLNer model. Japanese-only fine-tuning afterwards is a second
plain transfer from the joint run's output, e.g.
`xlner transfer --source runs/joint --modules word,char,classifier ...`.
"""

import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import datasets
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from transformers import DataCollatorForTokenClassification, EarlyStoppingCallback, TrainerCallback
from transformers.trainer_pt_utils import get_length_grouped_indices

from hub_cards.model_card import write_model_card
from tokenization.tokenization_xlner import XLNerTokenizer

from ..configuration_xlner import XLNerConfig
from ..modeling_xlner import XLNerForTokenClassification
from .data import HUB_PREFIX, is_span_data, label_list, load_data
from .evaluation import EpochMetric, encode_split
from .options import TrainingOptions, TransferOptions
from .results import Results
from .features import VectorRows
from .trainer import (
    MAX_TRAIN_WORDS, EpochTimer, TrainingData, XLNerTrainer, _results, _vector_record, continuation_label_ids,
    cut_long_examples, training_arguments,
)  # fmt: skip

logger = logging.getLogger(__name__)

JAPANESE, ENGLISH = "ja", "en"
_JAPANESE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


# ---------------------------------------------------------------------------------- checks, data


def read_joint_data(path: str, source: str) -> datasets.Dataset:
    """The English training split of a joint run; an error says what is wrong with it or with the source."""
    source_config = XLNerConfig.from_pretrained(source)
    if source_config.language != ENGLISH:
        raise ValueError(
            f"joint training: the source {source} is a {source_config.language!r} model; its word module and head must be English"
        )
    try:
        dataset = load_data(path)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"joint_data: {error}") from None
    if is_span_data(dataset):
        raise ValueError(
            f"joint_data {path}: raw texts with spans; joint training needs English word data (CoNLL: one word and its tag per line)"
        )
    words = [word for tokens in dataset[:1000]["tokens"] for word in tokens]
    if not words or sum(bool(_JAPANESE_SCRIPT.search(word)) for word in words) > len(words) / 2:
        found = "no words" if not words else "mostly Japanese words"
        raise ValueError(f"joint_data {path}: {found}; joint training needs English word data")
    unknown = sorted(set(label_list(dataset)) - set(source_config.label2id))
    if unknown:
        raise ValueError(f"joint_data {path}: labels {', '.join(unknown)} are not labels of the source {source}")
    return dataset


def joint_transfer_options(source: str, transfer_options: TransferOptions) -> TransferOptions:
    """The options of a joint run, checked before the model is built: shared bigrams on, so that the
    target's bigram vocabulary (the shared `char` module's) holds the English bigrams too."""
    path = transfer_options.joint_data
    if not path.startswith(HUB_PREFIX) and not Path(path).is_file():
        raise FileNotFoundError(f"joint_data: {path}: no such data file (an English training file, e.g. CoNLL-2003 train.txt)")
    read_joint_data(path, source)
    if not transfer_options.shared_bigrams:
        logger.info("Joint training: the source's bigrams join the target's bigram vocabulary (shared_bigrams)")
    return replace(transfer_options, shared_bigrams=True)


def english_tokenizer(source: str, target_tokenizer: XLNerTokenizer) -> XLNerTokenizer:
    """English words as the joint model reads them: word and vector ids in the source's vocabularies
    (the English word module's rows), bigram ids in the target's (the shared char module's)."""
    source_tokenizer = XLNerTokenizer.from_pretrained(source)
    return XLNerTokenizer(
        language=ENGLISH,
        max_bigrams_per_word=target_tokenizer.max_bigrams_per_word,
        word_vocab=source_tokenizer.word_to_id,
        bigram_vocab=target_tokenizer.bigram_to_id,
        surface_bigram_vocab=target_tokenizer.surface_bigram_to_id or None,
        vector_vocab=source_tokenizer.vector_to_id or None,
    )


# ---------------------------------------------------------------------------------- the model


class JointTagger(nn.Module):
    """Training only: the Japanese target plus the English word module and head (see the module docstring).

    `forward(..., language="en")` runs the target with the English parts in place of its own; any
    other batch (evaluation's included) is Japanese and runs the target as it is.
    """

    def __init__(self, target: XLNerForTokenClassification, english_word: nn.Module, english_head: nn.Module):
        super().__init__()
        if english_word.embeddings.embedding_dim != target.config.word_embedding_dim:
            raise ValueError(
                f"joint training: the English word module gives {english_word.embeddings.embedding_dim} dimensions, "
                f"the target's context reads {target.config.word_embedding_dim} (word_embedding_dim)"
            )
        if english_head.in_features != target.head.in_features:
            raise ValueError(
                f"joint training: the English head reads {english_head.in_features} dimensions, "
                f"the target's context gives {target.head.in_features}"
            )
        self.target, self.english_word, self.english_head = target, english_word, english_head

    @classmethod
    def from_source(cls, target: XLNerForTokenClassification, source: str) -> "JointTagger":
        english = XLNerForTokenClassification.from_pretrained(source)
        return cls(target, english.xlner.word, english.head).train(target.training)

    @contextmanager
    def english(self) -> Iterator[XLNerForTokenClassification]:
        """The target with the English word module and head in place of its own, for one forward pass."""
        # Swapped for the pass, not shared: each tensor keeps one name in the state dict, so that
        # Trainer's safetensors checkpoints (which refuse shared tensors) and best-epoch reload work.
        target = self.target
        own = target.xlner.word, target.head, target.num_labels
        target.xlner.word, target.head, target.num_labels = self.english_word, self.english_head, self.english_head.out_features
        try:
            yield target
        finally:
            target.xlner.word, target.head, target.num_labels = own

    def forward(
        self,
        input_ids: torch.LongTensor,
        char_ids: torch.LongTensor,
        shape_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        pos_ids: torch.LongTensor | None = None,
        vector_ids: torch.LongTensor | None = None,
        surface_char_ids: torch.LongTensor | None = None,
        language: str = JAPANESE,
    ):
        # Explicit parameters: Trainer keeps the evaluation columns that `forward` names.
        inputs = dict(
            input_ids=input_ids, char_ids=char_ids, shape_ids=shape_ids, attention_mask=attention_mask, labels=labels,
            pos_ids=pos_ids, vector_ids=vector_ids, surface_char_ids=surface_char_ids, return_dict=True,
        )  # fmt: skip
        if language == ENGLISH:
            with self.english() as model:
                return model(**inputs)
        return self.target(**inputs)


# ---------------------------------------------------------------------------------- batches


class JointDataset(Dataset):
    """The Japanese training features, then the English ones; each item tagged with its language."""

    def __init__(self, japanese: datasets.Dataset, english: datasets.Dataset):
        self.japanese, self.english = japanese, english

    def __len__(self) -> int:
        return len(self.japanese) + len(self.english)

    def __getitem__(self, index: int) -> dict:
        split, language = (self.japanese, JAPANESE) if index < len(self.japanese) else (self.english, ENGLISH)
        item = dict(split[index if language == JAPANESE else index - len(self.japanese)])
        item.pop("length", None)
        return item | {"language": language}


class JointBatchSampler(Sampler[list[int]]):
    """A joint epoch's batches (indices into `JointDataset`): every Japanese batch once and
    `round(ratio × that many)` English batches, each single-language, in a shuffled order.

    Both languages' batches are grouped by length as `Trainer` groups them. English sentences are taken
    without replacement from permutations drawn from (seed, epoch), a new one when English runs out.
    """

    def __init__(self, japanese_lengths: Sequence[int], english_lengths: Sequence[int], batch_size: int, ratio: float, seed: int):
        self.japanese_lengths, self.english_lengths = list(japanese_lengths), list(english_lengths)
        if not self.japanese_lengths or not self.english_lengths:
            raise ValueError("joint training needs Japanese and English training sentences")
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0  # accelerate reads `batch_size`
        self.japanese_batches = math.ceil(len(self.japanese_lengths) / batch_size)
        self.english_batches = round(ratio * self.japanese_batches)

    def set_epoch(self, epoch: int) -> None:  # called by Trainer at each epoch, also after resuming
        self.epoch = epoch

    def __len__(self) -> int:
        return self.japanese_batches + self.english_batches

    def _batches(self, lengths: list[int], offset: int, generator: torch.Generator) -> list[list[int]]:
        order = get_length_grouped_indices(lengths, self.batch_size, generator=generator)
        return [[offset + i for i in order[start : start + self.batch_size]] for start in range(0, len(order), self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        batches = self._batches(self.japanese_lengths, 0, generator)
        english: list[list[int]] = []
        while len(english) < self.english_batches:
            english += self._batches(self.english_lengths, len(self.japanese_lengths), generator)
        batches += english[: self.english_batches]
        yield from (batches[i] for i in torch.randperm(len(batches), generator=generator).tolist())


class JointCollator:
    """Pads a single-language batch with `collator` and passes its language on to `JointTagger.forward`."""

    def __init__(self, collator: Callable[[list[dict]], dict]):
        self.collator = collator

    def __call__(self, items: list[dict]) -> dict:
        languages = {item.pop("language") for item in items}
        if len(languages) != 1:
            raise ValueError(f"a joint batch must hold one language, got {sorted(languages)}")
        batch = self.collator(items)
        batch["language"] = languages.pop()
        return batch


class JointTrainer(XLNerTrainer):
    """`XLNerTrainer` whose training batches come from a `JointBatchSampler` (evaluation is the Japanese split)."""

    def __init__(self, *args, batch_sampler: JointBatchSampler, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_sampler = batch_sampler

    def get_train_dataloader(self) -> DataLoader:
        loader = DataLoader(
            self.train_dataset, batch_sampler=self.batch_sampler, collate_fn=JointCollator(self.data_collator),
            num_workers=self.args.dataloader_num_workers,
        )  # fmt: skip
        return self.accelerator.prepare(loader)


# ---------------------------------------------------------------------------------- the run


def encode_english(source: str, path: str, tokenizer: XLNerTokenizer) -> datasets.Dataset:
    """The English training features of a joint run: the source's labels, long sentences cut as Japanese ones."""
    id2label = XLNerConfig.from_pretrained(source).id2label
    features = encode_split(read_joint_data(path, source), tokenizer, {label: i for i, label in id2label.items()}, path).features
    return cut_long_examples(features, MAX_TRAIN_WORDS, continuation_label_ids(id2label))


def run_joint_training(
    source: str,
    joint_options: TransferOptions,
    model: XLNerForTokenClassification,
    tokenizer: XLNerTokenizer,
    data: TrainingData,
    output_dir: Path,
    options: TrainingOptions,
    optimizer_factory: Callable[[XLNerForTokenClassification], torch.optim.Optimizer] | None = None,
    extra_callbacks: Sequence[TrainerCallback] = (),
    transfer_options: dict | None = None,
    vector_rows: VectorRows | None = None,
) -> Results | None:
    """`run_training` for a joint run: `model` (the Japanese target, built as for any transfer) trained
    with the English batches of `joint_options.joint_data`; saves the target, results.json and the card."""
    output_dir.mkdir(parents=True, exist_ok=True)
    joint = JointTagger.from_source(model, source)
    japanese = encode_split(data.train, tokenizer, model.config.label2id, "train")
    validation = encode_split(data.validation, tokenizer, model.config.label2id, data.validation_file)
    japanese_features = cut_long_examples(japanese.features, MAX_TRAIN_WORDS, continuation_label_ids(model.config.id2label))
    english = encode_english(source, joint_options.joint_data, english_tokenizer(source, tokenizer))
    args = training_arguments(output_dir, options, len(data.train))
    sampler = JointBatchSampler(
        japanese_features["length"], english["length"], args.per_device_train_batch_size, joint_options.joint_ratio, options.seed
    )
    timer = EpochTimer()
    callbacks: list[TrainerCallback] = [timer, *extra_callbacks]
    if options.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=options.patience))
    optimizer = None
    if optimizer_factory is not None:  # its groups are the target's; the English parts train at the base rate
        optimizer = optimizer_factory(model)
        english_parameters = [*joint.english_word.parameters(), *joint.english_head.parameters()]
        optimizer.add_param_group({"params": english_parameters, "lr": options.learning_rate})
    trainer = JointTrainer(
        model=joint,
        args=args,
        train_dataset=JointDataset(japanese_features, english),
        eval_dataset=validation.features,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=EpochMetric(validation, model),
        callbacks=callbacks,
        optimizers=(optimizer, None),
        batch_sampler=sampler,
    )
    logger.info(
        "Joint training: %d Japanese and %d English batches per epoch (%d English sentences in %s)",
        sampler.japanese_batches, sampler.english_batches, len(english), joint_options.joint_data,
    )  # fmt: skip
    trainer.train(resume_from_checkpoint=options.resume_from_checkpoint)
    if not trainer.is_world_process_zero():
        return None
    model.save_pretrained(output_dir)  # the Japanese target only: the best epoch's, reloaded into `joint`
    tokenizer.save_pretrained(output_dir)
    # `_results` reads the model from the trainer: it must see the Japanese target, not the joint wrapper.
    view = SimpleNamespace(model=model, state=trainer.state, args=trainer.args)
    results = _results(view, tokenizer, data, (japanese, validation), timer, options)
    results.transfer_options = (transfer_options or {}) | {"joint": joint_record(sampler, len(english))}
    if vector_rows is not None:
        results.vectors = _vector_record(vector_rows, tokenizer, data)
    results.save(output_dir / "results.json")
    write_model_card(output_dir)
    return results


def joint_record(sampler: JointBatchSampler, english_sentences: int) -> dict[str, int]:
    """What results.json says of a joint run's epochs."""
    return {
        "english_sentences": english_sentences,
        "japanese_batches_per_epoch": sampler.japanese_batches,
        "english_batches_per_epoch": sampler.english_batches,
        "batch_size": sampler.batch_size,
    }


__all__ = [
    "JointTagger", "JointDataset", "JointBatchSampler", "JointCollator", "JointTrainer", "read_joint_data",
    "joint_transfer_options", "english_tokenizer", "run_joint_training",
]  # fmt: skip
