"""`xlner transfer`: a Japanese (or any target) tagger that starts from modules of a saved source model.

The copy itself is the model's `from_pretrained(source, transfer_modules=...)` (remote code, see
transfer_xlner.py), which returns one `TransferReport`. What stays here is training-only: the target
vocabularies, and the options that read the report (freezing copied values, their learning rate).
With `joint_data`, the target trains together with English batches (joint.py); with `joint_finetune`
too, a Japanese-only fine-tuning of the joint run's model follows (`finetune_joint_model`).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import datasets
import torch
from transformers import TrainerCallback, set_seed

from tokenization.tokenization_xlner import XLNerTokenizer

from ..modeling_xlner import XLNerForTokenClassification
from ..configuration_xlner import XLNerConfig
from ..transfer_xlner import PAIR_ALIGNED, TransferReport, resolve_modules
from .data import label_list
from .options import TrainingOptions, TransferOptions
from .results import Results
from .features import VectorRows, add_translated_words, load_vector_rows, vector_rows_for, with_bigrams
from .joint import joint_transfer_options, run_joint_training
from .trainer import build_tokenizer, read_training_data, run_training, train, training_texts
from .word_space import WordSpaceMap

logger = logging.getLogger(__name__)

JOINT_STAGE_DIR = "joint"  # OUTPUT_DIR/joint: the joint run that `joint_finetune` fine-tunes
# The fine-tuning after a joint run copies all of its model: a Japanese model like the target (same
# vocabularies, labels and vectors), so nothing starts fresh; its bigrams include the source's.
JOINT_FINETUNE_OPTIONS = TransferOptions(modules=("word", "char", "classifier"), shared_bigrams=True)


def add_source_bigrams(tokenizer: XLNerTokenizer, source: str) -> XLNerTokenizer:
    """The same tokenizer with the source model's bigrams appended to its bigram vocabulary (ids kept)."""
    source_vocab = XLNerTokenizer.from_pretrained(source).bigram_to_id
    return with_bigrams(tokenizer, sorted(source_vocab, key=source_vocab.get))


def build_transferred_model(
    source: str,
    train_dataset: datasets.Dataset,
    language: str,
    options: TrainingOptions,
    transfer_options: TransferOptions,
    keep_source_labels: bool = False,
) -> tuple[XLNerForTokenClassification, XLNerTokenizer, VectorRows | None]:
    """The target tokenizer (vocabularies from `train_dataset`, the target's own pretrained vectors) and a
    model with the source's chosen modules.

    `keep_source_labels` (zero-shot): the head keeps the source's labels and kind, so `train_dataset`'s
    labels are never read and no label map applies.
    """
    vector_rows = vector_rows_for(options.vectors, language, *training_texts(train_dataset), options.vector_rows)
    tokenizer = build_tokenizer(train_dataset, language, options, vector_rows)
    if transfer_options.shared_bigrams:
        tokenizer = add_source_bigrams(tokenizer, source)
    if transfer_options.translated_word_rows:
        tokenizer = add_translated_words(tokenizer, source, transfer_options.word_space_map)
    head = {} if keep_source_labels else {
        "label_map": transfer_options.label_map,
        "id2label": dict(enumerate(label_list(train_dataset))),
        "use_crf": head_kind(source, transfer_options.modules, options.crf),
    }  # fmt: skip
    model = XLNerForTokenClassification.from_pretrained(
        source,
        transfer_modules=transfer_options.modules,
        tokenizer=tokenizer,
        word_space_map=transfer_options.word_space_map,
        shape_roles=transfer_options.script_shapes or None,
        word_translations=transfer_options.word_space_map if transfer_options.translated_word_rows else None,
        seed=options.seed,
        vector_dim=vector_rows.dim if vector_rows is not None else 0,
        **head,
        **options.model_config,
    )
    if vector_rows is not None:
        load_vector_rows(model, vector_rows)
    if transfer_options.zero_fresh_word:
        zero_word_module(model, transfer_options.modules)
    model.train()
    return model, tokenizer, vector_rows


def zero_word_module(model: XLNerForTokenClassification, modules: str | Sequence[str]) -> None:
    """Zeroes the fresh word module's weights, so that it adds nothing until training moves it."""
    if "word" in resolve_modules(modules):
        raise ValueError("--zero-fresh-word applies to a fresh word module: `word` is transferred")
    word = model.xlner.word
    with torch.no_grad():
        for layer in (word.embeddings, word.vector_projection, word.pos_embeddings):
            if layer is not None:
                layer.weight.zero_()


def head_kind(source: str, modules, crf: bool) -> bool:
    """Whether the target's head is a CRF: as asked, or as the source's when the head is transferred
    (a softmax head has no transitions to copy, a CRF head's would be dropped)."""
    if "head" not in resolve_modules(modules):
        return crf
    source_crf = XLNerConfig.from_pretrained(source).use_crf
    if source_crf != crf:
        logger.warning("The transferred head %s a CRF: so has the target's (the crf option is not used)", "has" if source_crf else "has no")
    return source_crf


def copied_values(model: XLNerForTokenClassification, report: TransferReport) -> list[tuple[torch.nn.Parameter, torch.Tensor | None]]:
    """Each parameter holding values copied from the source, with a 0/1 mask of those values (None: all of it).

    Row-aligned tensors (embeddings, head) are copied row by row; the CRF's transitions label pair by
    label pair, so a copied label's transitions to a fresh one stay fresh.
    """
    copied = []
    for name, parameter in model.named_parameters():
        rows = report.copied_rows.get(name, [])
        if rows is None:
            copied.append((parameter, None))
        elif rows:
            mask, index = torch.zeros_like(parameter), torch.tensor(rows)
            if any(name.endswith(pair_aligned) for pair_aligned in PAIR_ALIGNED):
                mask[index[:, None], index] = 1
            else:
                mask[index] = 1
            copied.append((parameter, mask))
    return copied


class FreezeTransferredCallback(TrainerCallback):
    """Keeps the values copied from the source fixed during the first `epochs` epochs.

    Tensor hooks zero the gradient of the copied values (`copied_values`), so fresh rows train from the
    start while AdamW (no weight decay) leaves the copied values exactly as they are.
    """

    def __init__(self, model: XLNerForTokenClassification, report: TransferReport, epochs: int):
        self.epochs = epochs
        self.masks = {parameter: None if mask is None else 1 - mask for parameter, mask in copied_values(model, report)}
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


class SourceAnchorCallback(TrainerCallback):
    """L2-SP (Li et al., 2018) in decoupled form: after every optimizer step, the copied values move back
    toward the source's, θ ← θ − lr · strength · (θ − θ_source).

    Copied tensors and the copied rows of row-aligned ones (the copied label pairs of the CRF's
    transitions) only; fresh rows train freely. Unlike freezing, the pull lasts the whole run, so that
    what English taught is kept at convergence, not only at the start; with Adam's steps of about lr,
    a value settles within about 1 / strength of the source's.
    """

    def __init__(self, model: XLNerForTokenClassification, report: TransferReport, strength: float):
        self.strength = strength
        self.anchors = [(parameter, parameter.detach().clone(), mask) for parameter, mask in copied_values(model, report)]

    @torch.no_grad()
    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        rate = (lr_scheduler.get_last_lr()[0] if lr_scheduler is not None else args.learning_rate) * self.strength
        for parameter, source, mask in self.anchors:
            pull = (parameter - source) * min(rate, 1.0)
            parameter.sub_(pull if mask is None else pull * mask)


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
) -> Results | dict:
    """`xlner transfer`: target vocabularies from the training data, the source's modules copied, then `run_training`.

    results.json's `transfer` is the transfer report (as in config.json); `transfer_options` the options here.
    With `transfer_options.zero_shot`, nothing trains: the return is zero_shot.json's record.
    """
    transfer_options = transfer_options or TransferOptions()
    if options.unlabeled_data and not transfer_options.zero_shot:  # this transfer run is a teacher (self_training.py)
        from .self_training import self_train

        def stage(train_file: str, output: Path, stage_options: TrainingOptions) -> Results:
            return transfer(source, language, train_file, validation_source, output, stage_options, transfer_options, test_source)

        def scratch_stage(train_file: str, output: Path, stage_options: TrainingOptions) -> Results:
            return train(language, train_file, validation_source, output, stage_options, test_source)

        return self_train(stage, train_source, output_dir, options, scratch_stage=scratch_stage)
    if transfer_options.zero_shot:
        from .zero_shot import zero_shot  # zero_shot builds its model with build_transferred_model

        return zero_shot(source, language, train_source, test_source, output_dir, options, transfer_options, validation_source)
    if transfer_options.joint_finetune:
        joint_dir = Path(output_dir) / JOINT_STAGE_DIR
        joint_options = replace(transfer_options, joint_finetune=False)
        transfer(source, language, train_source, validation_source, joint_dir, options, joint_options, test_source)
        return finetune_joint_model(joint_dir, language, train_source, validation_source, output_dir, options, test_source)
    if transfer_options.joint_data:  # checked before the model is built
        transfer_options = joint_transfer_options(source, transfer_options)
    if options.threads:
        torch.set_num_threads(options.threads)
    set_seed(options.seed)
    data = read_training_data(train_source, validation_source, test_source, options)
    model, tokenizer, vector_rows = build_transferred_model(source, data.train, language, options, transfer_options)
    report: TransferReport = model.transfer_report
    callbacks: list[TrainerCallback] = []
    if transfer_options.freeze_transferred_epochs > 0:
        callbacks.append(FreezeTransferredCallback(model, report, transfer_options.freeze_transferred_epochs))
    if transfer_options.source_anchor > 0:
        callbacks.append(SourceAnchorCallback(model, report, transfer_options.source_anchor))
    optimizer_factory = None
    if transfer_options.transferred_lr_scale is not None:
        optimizer_factory = scaled_lr_optimizer_factory(report, options.learning_rate, transfer_options.transferred_lr_scale)
    training_only = {key: value for key, value in asdict(transfer_options).items() if key not in ("modules", "label_map")}
    if transfer_options.word_space_map:
        training_only["word_space"] = WordSpaceMap.load(transfer_options.word_space_map).record()
    train_model = partial(run_joint_training, source, transfer_options) if transfer_options.joint_data else run_training
    return train_model(
        model, tokenizer, data, Path(output_dir), options,
        optimizer_factory=optimizer_factory, extra_callbacks=callbacks, transfer_options=training_only,
        vector_rows=vector_rows,
    )  # fmt: skip


def finetune_joint_model(
    joint_dir: str | Path,
    language: str,
    train_source: str,
    validation_source: str,
    output_dir: str | Path,
    options: TrainingOptions,
    test_source: str | None = None,
) -> Results:
    """The second stage of `joint_finetune`: every module of a joint run's model (in `joint_dir`), trained on
    the target language alone; results.json's `transfer_options` names the joint run (`joint_stage`)."""
    results = transfer(str(joint_dir), language, train_source, validation_source, output_dir, options, JOINT_FINETUNE_OPTIONS, test_source)
    joint = Results.load(Path(joint_dir) / "results.json")
    joint_stage = {
        "output_dir": str(joint_dir), "best_epoch": joint.best_epoch, "epochs_trained": joint.epochs_trained,
        "validation_f1": joint.validation.f1, "test_f1": joint.test.f1 if joint.test else None,
    }  # fmt: skip
    results.transfer_options = {**(results.transfer_options or {}), "joint_stage": joint_stage}
    results.save(Path(output_dir) / "results.json")
    return results


__all__ = [
    "add_source_bigrams", "finetune_joint_model", "JOINT_FINETUNE_OPTIONS", "JOINT_STAGE_DIR", "build_transferred_model", "copied_values", "head_kind", "FreezeTransferredCallback",
    "SourceAnchorCallback", "scaled_lr_optimizer_factory", "transfer", "zero_word_module",
]  # fmt: skip
