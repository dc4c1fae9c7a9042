"""Training with the standard `Trainer`: vocabularies from the data, the best epoch by validation F1, results.json."""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
from torch.utils.data import SequentialSampler
from transformers import (
    DataCollatorForTokenClassification,
    EarlyStoppingCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_pt_utils import LengthGroupedSampler

from hub_cards.model_card import write_model_card
from tokenization.tokenization_xlner import XLNerTokenizer

from ..configuration_xlner import XLNerConfig
from ..modeling_xlner import XLNerForTokenClassification
from .code_switch import CodeSwitch, prepare_code_switching
from .data import ReadStats, blank_texts, duplicate_sentences, label_list, load_data
from .features import VectorRows, coverage, load_vector_rows, vector_rows_for
from .evaluation import EpochMetric, encode_split, headline, score_split, split_ceiling, tagging_pipeline
from .options import TrainingOptions
from .results import BoundaryCeiling, CurvePoint, DataCounts, Results, SplitScores, TransferRecord, TypeScores

# The hyperparameters results.json records of the model (the config has them all).
HYPERPARAMETERS = (
    "word_embedding_dim", "bigram_embedding_dim", "shape_embedding_dim", "char_hidden_size",
    "context_hidden_size", "context_num_layers", "dropout", "word_dropout", "word_vocab_size", "bigram_vocab_size",
    "surface_bigram_vocab_size", "vector_vocab_size", "vector_dim", "pos_vocab_size", "use_crf",
)  # fmt: skip
# Training examples longer than this many words are cut into pieces (outside entities): a batch's memory
# grows with its longest example, and a "sentence" of thousands of words is a file without sentence
# breaks, not a sentence. Prediction cuts long texts too (the pipeline's `max_chunk_chars`).
MAX_TRAIN_WORDS = 512

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """The splits of a run and the files they came from (recorded in results.json)."""

    train: datasets.Dataset
    validation: datasets.Dataset
    train_file: str
    validation_file: str
    test_file: str | None = None
    dropped_overlapping_entities: int = 0
    tag_schemes: dict[str, str] = field(default_factory=dict)  # split -> scheme of word data as read


def read_training_data(train_file: str, validation_file: str, test_file: str | None, options: TrainingOptions) -> TrainingData:
    """The training split (a seeded subset with `max_train_samples`) and the validation split."""
    stats, validation_stats = ReadStats(), ReadStats()
    train = take_train_samples(load_data(train_file, stats), options.max_train_samples, options.seed)
    validation = load_data(validation_file, validation_stats)
    report_repeats_and_blanks(train, train_file)
    schemes = {"train": stats.tag_scheme, "validation": validation_stats.tag_scheme}
    return TrainingData(
        train, validation, train_file, validation_file, test_file, stats.n_dropped_overlapping,
        {split: scheme for split, scheme in schemes.items() if scheme is not None},
    )  # fmt: skip


def report_repeats_and_blanks(train: datasets.Dataset, name: str) -> None:
    """Log duplicate sentences and blank texts of the training split; both are kept."""
    duplicates, conflicting = duplicate_sentences(train)
    if duplicates:
        logger.warning(
            "%s: %d of %d training sentences repeat an earlier one (%d of them tagged otherwise); kept",
            name, duplicates, len(train), conflicting,
        )  # fmt: skip
    if blanks := blank_texts(train):
        logger.warning("%s: %d of %d training texts are blank (no words, nothing to learn); kept", name, blanks, len(train))


def take_train_samples(train: datasets.Dataset, max_samples: int | None, seed: int) -> datasets.Dataset:
    """A seeded random subset, so that learning curves at N sentences do not take the first N."""
    if max_samples is None or max_samples >= len(train):
        return train
    return train.shuffle(seed=seed).select(range(max_samples))


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
    """Wall-clock seconds of each training epoch (evaluation excluded), and since training began at each evaluation."""

    def __init__(self):
        self.seconds: list[float] = []
        self.evaluated_at: dict[int, float] = {}  # epoch -> seconds since `on_train_begin`
        self._start = self._train_start = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._train_start = time.perf_counter()

    def on_evaluate(self, args, state, control, **kwargs):
        self.evaluated_at[round(state.epoch or 0)] = time.perf_counter() - self._train_start

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


def training_texts(train: datasets.Dataset) -> tuple[list, bool]:
    """The split's raw texts (span data) or word lists, and whether they are word lists."""
    span_data = "text" in train.column_names
    return list(train["text"] if span_data else train["tokens"]), not span_data


def build_tokenizer(
    train: datasets.Dataset, language: str, options: TrainingOptions, vector_rows: VectorRows | None = None, **extra
) -> XLNerTokenizer:
    """Vocabularies from the training split (and the words of the kept pretrained rows)."""
    texts, is_split_into_words = training_texts(train)
    return XLNerTokenizer.from_corpus(
        texts,
        language=language,
        is_split_into_words=is_split_into_words,
        part_of_speech=options.part_of_speech and language == "ja" and not is_split_into_words,
        vector_vocab=vector_rows.vocab if vector_rows is not None else None,
        min_word_frequency=options.min_word_frequency,
        max_words=options.max_words,
        min_bigram_frequency=options.min_bigram_frequency,
        max_bigrams=options.max_bigrams,
        **{**options.tokenizer_options, **extra},
    )


def training_arguments(output_dir: Path, options: TrainingOptions, train_sentences: int) -> TrainingArguments:
    """Epoch-wise evaluation and checkpoints, the best epoch by validation F1, batches grouped by length."""
    return TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        per_device_train_batch_size=options.train_batch_size(train_sentences),
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


def continuation_label_ids(id2label: dict[int, str]) -> frozenset[int]:
    """Labels a piece must not start with: an `I-` word continues the entity before it."""
    return frozenset(index for index, label in id2label.items() if label.startswith("I-"))


def cut_points(labels: Sequence[int], max_words: int, continuations: frozenset[int]) -> list[int]:
    """Piece boundaries `[0, ..., len(labels)]`, pieces of at most `max_words` words, cut before a word that
    does not continue an entity (inside one only if it is longer than `max_words`)."""
    points = [0]
    while len(labels) - points[-1] > max_words:
        end = points[-1] + max_words
        while end > points[-1] and labels[end] in continuations:
            end -= 1
        points.append(end if end > points[-1] else points[-1] + max_words)
    return points + [len(labels)]


def cut_long_examples(features: datasets.Dataset, max_words: int, continuations: frozenset[int]) -> datasets.Dataset:
    """Training features with each example of more than `max_words` words cut into pieces (see `cut_points`)."""
    long = sum(length > max_words for length in features["length"])
    if not long:
        return features

    def cut(batch: dict[str, list]) -> dict[str, list]:
        pieces: dict[str, list] = {key: [] for key in batch}
        for row, labels in enumerate(batch["labels"]):
            points = cut_points(labels, max_words, continuations)
            for start, end in zip(points, points[1:]):
                for key, values in batch.items():
                    pieces[key].append(end - start if key == "length" else values[row][start:end])
        return pieces

    cut_features = features.map(cut, batched=True, desc="cutting long training examples")
    logger.warning(
        "%d training examples of more than %d words cut into %d pieces of at most %d words, outside entities",
        long, max_words, len(cut_features) - len(features) + long, max_words,
    )  # fmt: skip
    return cut_features


def run_training(
    model: XLNerForTokenClassification,
    tokenizer: XLNerTokenizer,
    data: TrainingData,
    output_dir: Path,
    options: TrainingOptions,
    optimizer_factory: Callable[[XLNerForTokenClassification], torch.optim.Optimizer] | None = None,
    extra_callbacks: Sequence[TrainerCallback] = (),
    transfer_options: dict | None = None,
    vector_rows: VectorRows | None = None,
    code_switch: CodeSwitch | None = None,
) -> Results | None:
    """Train `model` with `Trainer`, keep the best epoch by validation F1, save it, write results.json and the card.

    Returns the results (None in the other processes of a distributed run, where only the first one writes).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    train_split = encode_split(data.train, tokenizer, model.config.label2id, "train")
    switched = None
    if code_switch is not None:
        train_split.features, switched = code_switch.apply(train_split.features, data.train, tokenizer)
        logger.info("Code switching: %d training word occurrences read as romaji", switched)
    validation_split = encode_split(data.validation, tokenizer, model.config.label2id, data.validation_file)
    timer = EpochTimer()
    callbacks: list[TrainerCallback] = [timer, *extra_callbacks]
    if options.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=options.patience))
    trainer = XLNerTrainer(
        model=model,
        args=training_arguments(output_dir, options, len(data.train)),
        train_dataset=cut_long_examples(train_split.features, MAX_TRAIN_WORDS, continuation_label_ids(model.config.id2label)),
        eval_dataset=validation_split.features,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=EpochMetric(validation_split, model),
        callbacks=callbacks,
        optimizers=(optimizer_factory(model) if optimizer_factory else None, None),
    )
    trainer.train(resume_from_checkpoint=options.resume_from_checkpoint)
    if not trainer.is_world_process_zero():
        return None  # distributed: the other processes hold the same model
    trainer.model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    results = _results(trainer, tokenizer, data, (train_split, validation_split), timer, options)
    results.transfer_options = transfer_options
    if vector_rows is not None:
        results.vectors = _vector_record(vector_rows, tokenizer, data)
    results.code_switched_words = switched
    results.save(output_dir / "results.json")
    write_model_card(output_dir)  # README.md: the folder is a complete Hub repository
    return results


def _results(trainer: Trainer, tokenizer: XLNerTokenizer, data: TrainingData, splits, timer: "EpochTimer", options: TrainingOptions) -> Results:
    """What results.json records of a finished run: data, scores of the best epoch, learning curve, settings."""
    model, (train_split, validation_split) = trainer.model, splits
    pipe = tagging_pipeline(model, tokenizer)
    curve = _learning_curve(trainer.state.log_history, timer.seconds)
    ceilings = {"train": split_ceiling(train_split, data.train), "validation": split_ceiling(validation_split, data.validation)}
    results = Results(
        language=model.config.language,
        labels=[model.config.id2label[i] for i in range(model.config.num_labels)],
        data=DataCounts(
            train_sentences=len(data.train), validation_sentences=len(data.validation),
            train_unrepresentable_entities=train_split.unrepresentable,
        ),  # fmt: skip
        boundary_ceiling={},
        validation=SplitScores(**headline(score_split(pipe, data.validation))),
        best_epoch=max(curve, key=lambda point: (point.validation_f1, -point.epoch)).epoch if curve else None,
        epochs_trained=len(curve),
        seconds_per_epoch=timer.mean,
        seconds_to_best_epoch=None,
        learning_curve=curve,
        seed=options.seed,
        threads=torch.get_num_threads(),
        processes=trainer.args.world_size,
        options=asdict(options) | {"batch_size": trainer.args.per_device_train_batch_size},  # the default resolved
        model_config={key: getattr(model.config, key) for key in HYPERPARAMETERS},
        train_file=data.train_file,
        validation_file=data.validation_file,
        test_file=data.test_file,
        dropped_overlapping_entities=data.dropped_overlapping_entities,
        transfer=TransferRecord(**model.config.transferred_from) if model.config.transferred_from else None,
    )
    results.seconds_to_best_epoch = timer.evaluated_at.get(results.best_epoch) if results.best_epoch else None
    schemes = dict(data.tag_schemes)
    if data.test_file is not None:
        test_stats = ReadStats()
        test = load_data(data.test_file, test_stats)
        if test_stats.tag_scheme is not None:
            schemes["test"] = test_stats.tag_scheme
        scores = score_split(pipe, test)
        per_type = {name: TypeScores(**values) for name, values in (scores.get("per_type") or {}).items()}
        results.test = SplitScores(**headline(scores), per_type=per_type)
        results.data.test_sentences = len(test)
        ceilings["test"] = split_ceiling(encode_split(test, tokenizer, model.config.label2id, data.test_file), test)
    results.boundary_ceiling = {name: BoundaryCeiling(**c) for name, c in ceilings.items() if c is not None}
    results.tag_schemes = schemes or None
    return results


def _vector_record(rows: VectorRows, tokenizer: XLNerTokenizer, data: TrainingData) -> dict:
    """What results.json says of the pretrained vectors: which, how many rows, and each split's coverage."""
    splits = {"train": data.train, "validation": data.validation}
    if data.test_file is not None:
        splits["test"] = load_data(data.test_file)
    record = {"name": rows.name, "rows": len(rows.matrix), "keys": len(rows.vocab), "dim": rows.dim}
    return record | {name: coverage(tokenizer, *training_texts(split)) for name, split in splits.items()}


def _learning_curve(log_history: list[dict], seconds: list[float]) -> list[CurvePoint]:
    """One point per epoch: training loss, validation P/R/F1, seconds."""
    losses = {round(entry["epoch"]): entry["loss"] for entry in log_history if "loss" in entry}
    curve = []
    for entry in log_history:
        if "eval_f1" in entry:
            epoch = round(entry["epoch"])
            curve.append(
                CurvePoint(
                    epoch=epoch,
                    train_loss=losses.get(epoch),
                    validation_precision=entry["eval_precision"],
                    validation_recall=entry["eval_recall"],
                    validation_f1=entry["eval_f1"],
                    seconds=seconds[epoch - 1] if 0 < epoch <= len(seconds) else None,
                )
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
) -> Results | None:
    """`xlner train`: vocabularies and a fresh model from the training data, then `run_training`.

    With `options.unlabeled_data`, this run is the teacher of a self-trained student (self_training.py).
    """
    if options.unlabeled_data:
        from .self_training import self_train

        def stage(train_file: str, output: Path, stage_options: TrainingOptions) -> Results:
            return train(language, train_file, validation_source, output, stage_options, test_source)

        return self_train(stage, train_source, output_dir, options)
    if options.threads:
        torch.set_num_threads(options.threads)
    set_seed(options.seed)
    data = read_training_data(train_source, validation_source, test_source, options)
    vector_rows = code_switch = None
    if options.resume_from_checkpoint:
        tokenizer, model = load_checkpoint(options.resume_from_checkpoint, language)
    else:
        vector_rows = vector_rows_for(options.vectors, language, *training_texts(data.train), options.vector_rows)
        tokenizer = build_tokenizer(data.train, language, options, vector_rows)
    if options.code_switch_rate > 0:  # before the model: the romaji bigrams join the vocabulary
        tokenizer, code_switch = prepare_code_switching(data.train, tokenizer, options.transliterations, options.code_switch_rate, options.seed)
    if not options.resume_from_checkpoint:
        config = XLNerConfig(
            word_vocab_size=tokenizer.vocab_size,
            bigram_vocab_size=tokenizer.bigram_vocab_size,
            surface_bigram_vocab_size=tokenizer.surface_bigram_vocab_size,
            vector_vocab_size=tokenizer.vector_vocab_size,
            vector_dim=vector_rows.dim if vector_rows is not None else 0,
            pos_vocab_size=tokenizer.pos_vocab_size,
            use_crf=options.crf,
            max_bigrams_per_word=tokenizer.max_bigrams_per_word,
            id2label=dict(enumerate(label_list(data.train))),
            language=language,
            **options.model_config,
        )
        model = XLNerForTokenClassification(config)
        if vector_rows is not None:
            load_vector_rows(model, vector_rows)
    return run_training(model, tokenizer, data, Path(output_dir), options, vector_rows=vector_rows, code_switch=code_switch)


__all__ = ["TrainingData", "read_training_data", "take_train_samples", "build_tokenizer", "run_training", "train", "load_checkpoint"]
