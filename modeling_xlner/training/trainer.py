"""Training and evaluation with the standard `Trainer`: vocabularies, encoding, metrics, results.json."""

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import SequentialSampler
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers import (
    DataCollatorForTokenClassification,
    EarlyStoppingCallback,
    EvalPrediction,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from hub_cards.model_card import write_model_card
from tokenization.tokenization_xlner import XLNerTokenizer

from ..configuration_xlner import XLNerConfig
from .data import DataFormatError, ReadStats, boundary_ceiling, load_hub_split, load_split, spans_to_word_tags, word_tags_to_spans
from .metric import load_span_metric
from .options import TrainingOptions, TransferOptions
from ..modeling_xlner import XLNerForTokenClassification
from ..transfer_xlner import TransferReport, read_vocabulary

logger = logging.getLogger(__name__)

HUB_PREFIX = "hub:"


@dataclass
class EncodedSplit:
    """A split ready for the model, and what is needed to score predictions on it."""

    name: str
    features: datasets.Dataset  # input_ids, char_ids, shape_ids, labels, length
    offsets: list[list[tuple[int, int]]]
    gold: list[list]  # IOB2 tags (word data) or "start:end:type" spans (span data)
    span_data: bool
    unrepresentable: int = 0


# ---------------------------------------------------------------------------------- data


def load_data(source: str, stats: ReadStats | None = None) -> datasets.Dataset:
    """A local CoNLL / span-JSON file, or `hub:DATASET_ID[@CONFIG]:SPLIT` for a Hub dataset."""
    if source.startswith(HUB_PREFIX):
        dataset_id, _, split = source[len(HUB_PREFIX) :].rpartition(":")
        dataset_id, _, config_name = dataset_id.partition("@")
        if not dataset_id or not split:
            raise ValueError(f"{source}: expected hub:DATASET_ID[@CONFIG]:SPLIT")
        return load_hub_split(dataset_id, split, config_name or None)
    return load_split(source, stats)


def is_span_data(dataset: datasets.Dataset) -> bool:
    return "text" in dataset.column_names


def label_list(dataset: datasets.Dataset) -> list[str]:
    """The BIO label set of a training split: "O" first, then B-/I- of each type, sorted by type."""
    if is_span_data(dataset):
        types = {entity["type"] for entities in dataset["entities"] for entity in entities}
    else:
        types = {tag[2:] for tags in dataset["ner_tags"] for tag in tags if tag != "O"}
    return ["O"] + [f"{prefix}-{t}" for t in sorted(types) for prefix in ("B", "I")]


def encode_split(
    dataset: datasets.Dataset, tokenizer: XLNerTokenizer, label2id: dict[str, int], name: str
) -> EncodedSplit:
    """Tokenize a split and attach one label per word; unknown labels are an error naming the record."""
    span_data = is_span_data(dataset)
    texts = list(dataset["text"] if span_data else dataset["tokens"])
    encoding = tokenizer(texts, is_split_into_words=not span_data, return_offsets_mapping=True)
    labels, gold, unrepresentable = [], [], 0
    for index, example in enumerate(dataset):
        if span_data:
            for entity in example["entities"]:
                if f"B-{entity['type']}" not in label2id:
                    raise DataFormatError(name, f"entity type {entity['type']!r} is not a label of the model", record=index + 1)
            tags, missed = spans_to_word_tags(encoding["offset_mapping"][index], example["entities"])
            unrepresentable += missed
            gold.append([f"{e['start']}:{e['end']}:{e['type']}" for e in example["entities"]])
        else:
            tags = example["ner_tags"]
            unknown = [tag for tag in tags if tag not in label2id]
            if unknown:
                raise DataFormatError(name, f"label {unknown[0]!r} is not a label of the model", record=index + 1)
            gold.append(list(tags))
        labels.append([label2id[tag] for tag in tags])
    features = datasets.Dataset.from_dict(
        {
            "input_ids": encoding["input_ids"],
            "char_ids": encoding["char_ids"],
            "shape_ids": encoding["shape_ids"],
            "labels": labels,
            "length": [len(ids) for ids in encoding["input_ids"]],
        }
    )
    return EncodedSplit(name, features, encoding["offset_mapping"], gold, span_data, unrepresentable)


def split_ceiling(split: EncodedSplit, dataset: datasets.Dataset) -> dict[str, float | int] | None:
    """Recall ceiling of span data under the tokenizer's segmentation (None for word data)."""
    if not split.span_data:
        return None
    return boundary_ceiling(split.offsets, list(dataset["entities"]))


# ---------------------------------------------------------------------------------- scoring


class SpanScorer:
    """Turns per-word label ids into the span-level metric of one split.

    `decode` (the model's `decode`) turns logits into label ids in `compute_metrics`, so that the
    Trainer's validation scores use the same decoding as `xlner evaluate` and the pipeline.
    """

    def __init__(
        self,
        split: EncodedSplit,
        id2label: dict[int, str],
        decode: Callable[[torch.Tensor, torch.Tensor], list[list[int]]] | None = None,
    ):
        self.split = split
        self.id2label = id2label
        self.decode = decode
        self.metric = load_span_metric()

    def tags(self, label_ids_per_example: Sequence[Sequence[int]]) -> list[list[str]]:
        return [[self.id2label[int(i)] for i in ids] for ids in label_ids_per_example]

    def score(self, label_ids_per_example: Sequence[Sequence[int]]) -> dict[str, Any]:
        tags = self.tags(label_ids_per_example)
        if self.split.span_data:
            predictions = [
                [f"{s}:{e}:{t}" for s, e, t in word_tags_to_spans(offsets, example_tags)]
                for offsets, example_tags in zip(self.split.offsets, tags)
            ]
        else:
            predictions = tags
        return self.metric.compute(predictions=predictions, references=self.split.gold)

    def compute_metrics(self, prediction: EvalPrediction) -> dict[str, float]:
        """`Trainer` hook: logits are padded across batches, so cut each row to its word count."""
        logits = torch.from_numpy(np.asarray(prediction.predictions, dtype=np.float32))
        lengths = torch.tensor([len(offsets) for offsets in self.split.offsets])
        mask = (torch.arange(logits.shape[1])[None, :] < lengths[:, None]).long()
        if self.decode is not None:
            label_ids = self.decode(logits, mask)
        else:
            label_ids = [row[:n] for row, n in zip(logits.argmax(dim=-1).tolist(), lengths.tolist())]
        scores = self.score(label_ids)
        return {key: scores[key] for key in ("precision", "recall", "f1", "n_gold", "n_pred")}


@torch.inference_mode()
def predict_label_ids(
    model: XLNerForTokenClassification, tokenizer: XLNerTokenizer, features: datasets.Dataset, batch_size: int = 128
) -> list[list[int]]:
    """Label ids per word (the model's `decode`), batching sentences of similar length together."""
    model.eval()
    lengths = list(features["length"])
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    columns = {key: list(features[key]) for key in ("input_ids", "char_ids", "shape_ids")}
    predictions: list[list[int]] = [[] for _ in lengths]
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
        batch = tokenizer.pad([{key: columns[key][i] for key in columns} for i in chunk], return_tensors="pt")
        batch = batch.to(model.device)
        for row, i in zip(model.decode(model(**batch).logits, batch["attention_mask"]), chunk):
            predictions[i] = row
    return predictions


def evaluate_model(
    model: XLNerForTokenClassification, tokenizer: XLNerTokenizer, source: str, batch_size: int = 128
) -> dict[str, Any]:
    """Span-level P/R/F1 of a model on a data file (`xlner evaluate`)."""
    dataset = load_data(source)
    split = encode_split(dataset, tokenizer, model.config.label2id, source)
    scorer = SpanScorer(split, model.config.id2label)
    scores = scorer.score(predict_label_ids(model, tokenizer, split.features, batch_size))
    ceiling = split_ceiling(split, dataset)
    if ceiling is not None:
        scores["boundary_ceiling"] = ceiling
    return scores


# ---------------------------------------------------------------------------------- training


class XLNerTrainer(Trainer):
    """`Trainer` whose evaluation keeps dataset order, which span scoring needs (each prediction is
    matched with its text's offsets); grouping by length otherwise reorders evaluation too."""

    def _get_eval_sampler(self, eval_dataset: datasets.Dataset) -> torch.utils.data.Sampler | None:
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    def _get_train_sampler(self, train_dataset: datasets.Dataset | None = None) -> torch.utils.data.Sampler | None:
        sampler = super()._get_train_sampler(train_dataset)
        if self.args.world_size > 1 and isinstance(sampler, LengthGroupedSampler) and sampler.generator is None:
            # Distributed: each process draws the whole permutation and keeps its share of the batches,
            # so all must draw the same one. The global RNG this sampler uses otherwise drifts apart
            # between processes (dropout on different batches) and accelerate does not resynchronise
            # it: from the second epoch on, shares would overlap and some sentences be skipped.
            return EpochSeededLengthGroupedSampler(sampler.batch_size, sampler.lengths, self.args.data_seed or self.args.seed)
        return sampler


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """`LengthGroupedSampler` drawing its permutation from (seed, epoch): the same in every process, and
    after resuming from a checkpoint (`Trainer` calls `set_epoch` through accelerate's data loader)."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return super().__iter__()


class EpochTimer(TrainerCallback):
    """Wall-clock seconds of each training epoch (evaluation excluded)."""

    def __init__(self):
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        # A resumed run starts at a later epoch: those before it were timed by another process.
        self.seconds.extend([None] * (int((state.epoch or 0) + 1e-6) - len(self.seconds)))

    def on_epoch_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)

    @property
    def mean(self) -> float | None:
        timed = [seconds for seconds in self.seconds if seconds is not None]
        return sum(timed) / len(timed) if timed else None


def build_tokenizer(train: datasets.Dataset, language: str, options: TrainingOptions, **extra) -> XLNerTokenizer:
    """Vocabularies from the training split."""
    span_data = is_span_data(train)
    return XLNerTokenizer.from_corpus(
        list(train["text"] if span_data else train["tokens"]),
        language=language,
        is_split_into_words=not span_data,
        min_word_frequency=options.min_word_frequency,
        max_words=options.max_words,
        min_bigram_frequency=options.min_bigram_frequency,
        max_bigrams=options.max_bigrams,
        **{**options.tokenizer_options, **extra},
    )


def take_train_samples(train: datasets.Dataset, max_samples: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset, so that learning curves at N sentences do not take the first N."""
    if max_samples is None or max_samples >= len(train):
        return train
    return train.shuffle(seed=seed).select(range(max_samples))


def run_training(
    model: XLNerForTokenClassification,
    tokenizer: XLNerTokenizer,
    train_dataset: datasets.Dataset,
    validation_dataset: datasets.Dataset,
    output_dir: Path,
    options: TrainingOptions,
    test_source: str | None = None,
    validation_name: str = "validation",
    extra_results: dict[str, Any] | None = None,
    optimizer_factory: Callable[[XLNerForTokenClassification], torch.optim.Optimizer] | None = None,
    extra_callbacks: Sequence[TrainerCallback] = (),
) -> dict[str, Any]:
    """Train `model` with `Trainer`, keep the best epoch by validation F1, save it, write results.json."""
    output_dir.mkdir(parents=True, exist_ok=True)
    label2id = model.config.label2id
    train_split = encode_split(train_dataset, tokenizer, label2id, "train")
    validation_split = encode_split(validation_dataset, tokenizer, label2id, validation_name)
    scorer = SpanScorer(validation_split, model.config.id2label, decode=model.decode)
    timer = EpochTimer()
    callbacks: list[TrainerCallback] = [timer, *extra_callbacks]
    if options.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=options.patience))

    arguments = TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.eval_batch_size,
        learning_rate=options.learning_rate,
        lr_scheduler_type=options.lr_scheduler,
        max_grad_norm=options.max_grad_norm,
        weight_decay=0.0,
        optim="adamw_torch_fused",
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="f1",
        greater_is_better=True,
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        seed=options.seed,
        data_seed=options.seed,
        use_cpu=options.device == "cpu",
        ddp_find_unused_parameters=False,  # torchrun: every parameter is used in every step
        dataloader_num_workers=0,
        report_to="none",
    )
    optimizers = (optimizer_factory(model), None) if optimizer_factory else (None, None)
    trainer = XLNerTrainer(
        model=model,
        args=arguments,
        train_dataset=train_split.features,
        eval_dataset=validation_split.features,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=scorer.compute_metrics,
        callbacks=callbacks,
        optimizers=optimizers,
    )
    trainer.train(resume_from_checkpoint=options.resume_from_checkpoint)
    model = trainer.model
    if not trainer.is_world_process_zero():
        # Distributed run: the other processes hold the same model; only the first one evaluates
        # and writes, so that files are not written concurrently.
        return {}
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)

    curve = _learning_curve(trainer.state.log_history, timer.seconds)
    best_epoch = max(curve, key=lambda point: (point["validation_f1"], -point["epoch"]))["epoch"] if curve else None
    results: dict[str, Any] = {
        "language": model.config.language,
        "labels": [model.config.id2label[i] for i in range(model.config.num_labels)],
        "data": {
            "train_sentences": len(train_dataset),
            "validation_sentences": len(validation_dataset),
            "train_unrepresentable_entities": train_split.unrepresentable,
        },
        "boundary_ceiling": {
            name: ceiling
            for name, ceiling in (
                ("train", split_ceiling(train_split, train_dataset)),
                ("validation", split_ceiling(validation_split, validation_dataset)),
            )
            if ceiling is not None
        },
        "validation": _headline(scorer.score(predict_label_ids(model, tokenizer, validation_split.features))),
        "best_epoch": best_epoch,
        "epochs_trained": len(curve),
        "seconds_per_epoch": timer.mean,
        "learning_curve": curve,
        "seed": options.seed,
        "threads": torch.get_num_threads(),
        "processes": trainer.args.world_size,
        "options": asdict(options),
        "model_config": {key: getattr(model.config, key) for key in _HYPERPARAMETERS},
    }
    if test_source is not None:
        test_dataset = load_data(test_source)
        test_split = encode_split(test_dataset, tokenizer, label2id, test_source)
        test_scores = SpanScorer(test_split, model.config.id2label).score(
            predict_label_ids(model, tokenizer, test_split.features)
        )
        results["test"] = _headline(test_scores)
        results["test"]["per_type"] = test_scores.get("per_type")
        results["data"]["test_sentences"] = len(test_dataset)
        ceiling = split_ceiling(test_split, test_dataset)
        if ceiling is not None:
            results["boundary_ceiling"]["test"] = ceiling
    results.update(extra_results or {})
    (output_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_model_card(output_dir)  # README.md: the folder is a complete Hub repository
    return results


_HYPERPARAMETERS = (
    "word_embedding_dim", "bigram_embedding_dim", "shape_embedding_dim", "char_hidden_size",
    "context_hidden_size", "context_num_layers", "dropout", "word_dropout", "word_vocab_size", "bigram_vocab_size",
)  # fmt: skip


def _headline(scores: dict[str, Any]) -> dict[str, Any]:
    return {key: scores[key] for key in ("precision", "recall", "f1", "n_gold", "n_pred")}


def _learning_curve(log_history: list[dict[str, Any]], seconds: list[float]) -> list[dict[str, Any]]:
    """One point per epoch: training loss, validation P/R/F1, seconds."""
    losses = {round(entry["epoch"]): entry["loss"] for entry in log_history if "loss" in entry}
    curve = []
    for entry in log_history:
        if "eval_f1" in entry:
            epoch = round(entry["epoch"])
            curve.append(
                {
                    "epoch": epoch,
                    "train_loss": losses.get(epoch),
                    "validation_precision": entry["eval_precision"],
                    "validation_recall": entry["eval_recall"],
                    "validation_f1": entry["eval_f1"],
                    "seconds": seconds[epoch - 1] if 0 < epoch <= len(seconds) else None,
                }
            )
    return curve


def load_checkpoint(checkpoint: str | Path, language: str) -> tuple[XLNerTokenizer, XLNerForTokenClassification]:
    """The tokenizer and model of a `Trainer` checkpoint, to resume training from it.

    The vocabularies must be the checkpoint's: rebuilt from the training data they could differ
    (other data, other `--max-train-samples`), and the saved weights would not fit them.
    """
    path = Path(checkpoint)
    missing = [name for name in ("trainer_state.json", "config.json", "word_vocab.json", "bigram_vocab.json") if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: not a training checkpoint (missing {', '.join(missing)})")
    tokenizer = XLNerTokenizer.from_pretrained(path)
    model = XLNerForTokenClassification.from_pretrained(path)
    if tokenizer.language != language or model.config.language != language:
        raise ValueError(f"{path}: the checkpoint is for language {model.config.language!r}, not {language!r}")
    model.train()
    return tokenizer, model


def train(
    language: str,
    train_source: str,
    validation_source: str,
    output_dir: str | Path,
    options: TrainingOptions,
    test_source: str | None = None,
) -> dict[str, Any]:
    """`xlner train`: vocabularies and a fresh model from the training data, then `run_training`."""
    if options.threads:
        torch.set_num_threads(options.threads)
    set_seed(options.seed)
    stats = ReadStats()
    train_dataset = take_train_samples(load_data(train_source, stats), options.max_train_samples, options.seed)
    validation_dataset = load_data(validation_source)
    if options.resume_from_checkpoint:
        tokenizer, model = load_checkpoint(options.resume_from_checkpoint, language)
    else:
        tokenizer = build_tokenizer(train_dataset, language, options)
        labels = label_list(train_dataset)
        config = XLNerConfig(
            word_vocab_size=tokenizer.vocab_size,
            bigram_vocab_size=tokenizer.bigram_vocab_size,
            max_bigrams_per_word=tokenizer.max_bigrams_per_word,
            id2label=dict(enumerate(labels)),
            language=language,
            **options.model_config,
        )
        model = XLNerForTokenClassification(config)
    extra = {
        "train_file": train_source,
        "validation_file": validation_source,
        "test_file": test_source,
        "dropped_overlapping_entities": stats.n_dropped_overlapping,
    }
    return run_training(
        model, tokenizer, train_dataset, validation_dataset, Path(output_dir), options, test_source,
        validation_name=validation_source, extra_results=extra,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- transfer


def add_source_bigrams(tokenizer: XLNerTokenizer, source: str) -> XLNerTokenizer:
    """The same tokenizer with the source model's bigrams appended to its bigram vocabulary (ids kept)."""
    vocab = dict(tokenizer.bigram_to_id)
    source_vocab = read_vocabulary(source, "bigram_vocab.json")
    for bigram, _ in sorted(source_vocab.items(), key=lambda item: item[1]):
        vocab.setdefault(bigram, len(vocab))
    return XLNerTokenizer(
        language=tokenizer.language,
        char_input=tokenizer.char_input,
        word_input=tokenizer.word_input,
        romaji_source=tokenizer.romaji_source,
        max_bigrams_per_word=tokenizer.max_bigrams_per_word,
        word_vocab=tokenizer.word_to_id,
        bigram_vocab=vocab,
    )


def build_transferred_model(
    source: str,
    train_dataset: datasets.Dataset,
    language: str,
    options: TrainingOptions,
    transfer_options: TransferOptions,
) -> tuple[XLNerForTokenClassification, XLNerTokenizer]:
    """The target tokenizer (vocabularies from `train_dataset`) and a model with the source's chosen modules."""
    tokenizer = build_tokenizer(train_dataset, language, options)
    if transfer_options.shared_bigrams:
        tokenizer = add_source_bigrams(tokenizer, source)
    model = XLNerForTokenClassification.from_pretrained(
        source,
        transfer_modules=transfer_options.modules,
        tokenizer=tokenizer,
        label_map=transfer_options.label_map,
        seed=options.seed,
        id2label=dict(enumerate(label_list(train_dataset))),
        **options.model_config,
    )
    model.train()
    return model, tokenizer


class FreezeTransferredCallback(TrainerCallback):
    """Keeps the values copied from the source fixed during the first `epochs` epochs.

    Tensor hooks zero the gradient of copied tensors and of the copied rows of row-aligned ones
    (embeddings, head), so fresh rows train from the start while AdamW (no weight decay) leaves
    the copied values exactly as they are.
    """

    def __init__(self, model: XLNerForTokenClassification, report: TransferReport, epochs: int):
        self.epochs = epochs
        self.masks: dict[torch.nn.Parameter, torch.Tensor | None] = {}
        for name, parameter in model.named_parameters():
            if name in report.copied_rows:
                rows = report.copied_rows[name]
                if rows is None:
                    self.masks[parameter] = None
                elif rows:
                    mask = torch.ones_like(parameter)
                    mask[torch.tensor(rows)] = 0
                    self.masks[parameter] = mask
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def _freeze(self) -> None:
        if not self.handles:
            for parameter, mask in self.masks.items():
                hook = torch.zeros_like if mask is None else (lambda grad, mask=mask: grad * mask)
                self.handles.append(parameter.register_hook(hook))

    def _unfreeze(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def on_epoch_begin(self, args, state, control, **kwargs):
        if int((state.epoch or 0) + 1e-6) < self.epochs:  # epochs completed so far
            self._freeze()
        else:
            self._unfreeze()

    def on_train_end(self, args, state, control, **kwargs):
        self._unfreeze()


def scaled_lr_optimizer_factory(
    report: TransferReport, learning_rate: float, scale: float
) -> Callable[[XLNerForTokenClassification], torch.optim.Optimizer]:
    """`run_training`'s optimizer hook: AdamW (as `Trainer` builds it) with `learning_rate * scale` for fully copied tensors."""

    def factory(model: XLNerForTokenClassification) -> torch.optim.Optimizer:
        copied, fresh = [], []
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                (copied if report.fully_copied(name) else fresh).append(parameter)
        groups = [{"params": fresh, "lr": learning_rate}, {"params": copied, "lr": learning_rate * scale}]
        groups = [group for group in groups if group["params"]]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=True)

    return factory


def transfer(
    source: str,
    language: str,
    train_source: str,
    validation_source: str,
    output_dir: str | Path,
    options: TrainingOptions,
    transfer_options: TransferOptions | None = None,
    test_source: str | None = None,
) -> dict[str, Any]:
    """`xlner transfer`: target vocabularies from the training data, the source's modules copied, then `run_training`.

    results.json gets a "transfer" block: source, modules, rows_copied (and label map and options).
    """
    transfer_options = transfer_options or TransferOptions()
    if options.threads:
        torch.set_num_threads(options.threads)
    set_seed(options.seed)
    stats = ReadStats()
    train_dataset = take_train_samples(load_data(train_source, stats), options.max_train_samples, options.seed)
    validation_dataset = load_data(validation_source)
    model, tokenizer = build_transferred_model(source, train_dataset, language, options, transfer_options)
    report: TransferReport = model.transfer_report
    callbacks: list[TrainerCallback] = []
    if transfer_options.freeze_transferred_epochs > 0:
        callbacks.append(FreezeTransferredCallback(model, report, transfer_options.freeze_transferred_epochs))
    optimizer_factory = None
    if transfer_options.transferred_lr_scale is not None:
        optimizer_factory = scaled_lr_optimizer_factory(report, options.learning_rate, transfer_options.transferred_lr_scale)
    extra = {
        "train_file": train_source,
        "validation_file": validation_source,
        "test_file": test_source,
        "dropped_overlapping_entities": stats.n_dropped_overlapping,
        "transfer": {
            **report.to_config(),
            "shared_bigrams": transfer_options.shared_bigrams,
            "freeze_transferred_epochs": transfer_options.freeze_transferred_epochs,
            "transferred_lr_scale": transfer_options.transferred_lr_scale,
        },
    }
    return run_training(
        model, tokenizer, train_dataset, validation_dataset, Path(output_dir), options, test_source,
        extra_results=extra, optimizer_factory=optimizer_factory, extra_callbacks=callbacks,
    )  # fmt: skip


__all__ = [
    "TrainingOptions",
    "EncodedSplit",
    "load_data",
    "encode_split",
    "label_list",
    "SpanScorer",
    "predict_label_ids",
    "evaluate_model",
    "run_training",
    "train",
    "TransferOptions",
    "build_transferred_model",
    "add_source_bigrams",
    "FreezeTransferredCallback",
    "scaled_lr_optimizer_factory",
    "transfer",
]
