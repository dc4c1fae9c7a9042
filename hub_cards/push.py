"""Publishing a saved XLNer model on the Hugging Face Hub: `xlner push` and `model.push_to_hub`.

One path for both: a folder written by `save_pretrained` (model and tokenizer; that already holds
the remote code, copied by transformers) plus the generated model card goes up with
`HfApi.upload_folder`. `model.push_to_hub` saves the model (and tokenizer) into a temporary
folder and takes the same path.

What goes up is the folder as saved, minus what training leaves beside the model (`LEFT_OUT`:
results.json, logs, plots, checkpoints/ and any other subfolder), with README.md replaced by the
generated card. ``xlner push --dry-run OUT_DIR`` writes exactly that folder locally instead.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .model_card import build_model_card

if TYPE_CHECKING:
    from modeling_xlner.training.results import Results


logger = logging.getLogger(__name__)

# Files of a training folder that are not part of the model's Hub repository. Subfolders
# (checkpoints/, runs/, logs/) never go up: save_pretrained writes none.
LEFT_OUT = (
    "README.md",  # replaced by the generated card
    "results.json",
    "training_args.bin",
    "trainer_state.json",
    "*.log",
    "*.png",
    "*.pdf",
    "*.svg",
    "*.tmp",
    ".*",
)
WEIGHT_SHARDS = "model-*-of-*.safetensors"
# The Auto classes config.json must map to the remote code (`register_for_auto_class`).
AUTO_CLASSES = ("AutoConfig", "AutoModel", "AutoModelForTokenClassification")  # in config.json
README = "README.md"


class PushError(RuntimeError):
    """A push or an export that cannot go ahead; the message says why and what to do."""


# ---------------------------------------------------------------------------------- what goes up


def _tokenizer_files() -> list[str]:
    """The files every saved tokenizer has (the vocabularies of optional inputs are there only when used)."""
    from tokenization.tokenization_xlner import VOCAB_FILES_NAMES

    return ["tokenizer_config.json", VOCAB_FILES_NAMES["word_vocab_file"], VOCAB_FILES_NAMES["bigram_vocab_file"]]


def _missing(model_dir: Path, present: set[str], tokenizer: bool) -> list[str]:
    """What a saved model folder lacks: config, safetensors weights, auto_map, tokenizer files."""
    missing = []
    if "model.safetensors" not in present and not ("model.safetensors.index.json" in present and fnmatch.filter(present, WEIGHT_SHARDS)):
        if present & {"pytorch_model.bin", "pytorch_model.bin.index.json"}:
            missing.append("model.safetensors (the weights are in pytorch_model.bin; re-save with save_pretrained)")
        else:
            missing.append("model.safetensors")
    if "config.json" not in present:
        missing.append("config.json")
    else:
        try:
            auto_map = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("auto_map") or {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
            raise PushError(f"{model_dir / 'config.json'}: not a readable JSON object ({error})") from None
        lacking = [name for name in AUTO_CLASSES if name not in auto_map]
        if lacking:
            missing.append(f"auto_map entries {', '.join(lacking)} in config.json")
    if tokenizer:
        missing += [name for name in _tokenizer_files() if name not in present]
    return missing


def hub_files(model_dir: str | os.PathLike, *, tokenizer: bool = True) -> list[str]:
    """The files of `model_dir` that go up (README.md aside): the folder as saved, minus `LEFT_OUT`; sorted.

    `tokenizer`: whether the tokenizer files must be there (a model pushed on its own needs not).

    Raises:
        PushError: the folder is missing, or lacks the config, the safetensors weights or the
            tokenizer files.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise PushError(f"{model_dir}: no such model folder")
    present = {path.name for path in model_dir.iterdir() if path.is_file()}
    missing = _missing(model_dir, present, tokenizer)
    if missing:
        raise PushError(
            f"{model_dir} is not a complete model folder, it lacks: {', '.join(missing)}. "
            "Save the model and its tokenizer into it with save_pretrained."
        )
    names = sorted(name for name in present if not any(fnmatch.fnmatch(name, pattern) for pattern in LEFT_OUT))
    left_out = sorted(path.name for path in model_dir.iterdir() if path.name not in names)
    if left_out:
        logger.info("not part of the Hub repository, left out: %s", ", ".join(left_out))
    return names


def stage_hub_folder(
    model_dir: str | os.PathLike, destination: str | os.PathLike, *, repo_id: str, tokenizer: bool = True, **card_options: Any
) -> list[str]:
    """Copy the Hub files of `model_dir` into the existing folder `destination` and write README.md there.

    `card_options` go to `build_model_card` (results, license, base_model, dataset, tags).
    Returns the names written, sorted.
    """
    files = hub_files(model_dir, tokenizer=tokenizer)
    card = build_model_card(model_dir, repo_id=repo_id, **card_options)  # fails before anything is copied
    destination = Path(destination)
    for name in files:
        shutil.copyfile(Path(model_dir) / name, destination / name)
    card.save(destination / README)
    return sorted([*files, README])


def export_hub_folder(
    model_dir: str | os.PathLike, output_dir: str | os.PathLike, *, repo_id: str, **card_options: Any
) -> list[str]:
    """Write to `output_dir` exactly the folder `push_hub_folder` would upload (the dry run).

    `output_dir` must not exist or be empty. The folder is built under a temporary name beside it
    and renamed into place only once complete: on any failure nothing is left behind (parents
    this call created included). Returns the names written.
    """
    _check_repo_id(repo_id)
    output_dir = Path(output_dir).absolute()
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise PushError(f"{output_dir} already exists and is not an empty folder; choose another --dry-run folder")
    created: list[Path] = []
    staging = output_dir.with_name(f".{output_dir.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        for parent in reversed(output_dir.parents):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        staging.mkdir()
        names = stage_hub_folder(model_dir, staging, repo_id=repo_id, **card_options)
        if output_dir.exists():
            output_dir.rmdir()  # empty, checked above
        staging.rename(output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for parent in reversed(created):
            try:
                parent.rmdir()
            except OSError:
                break
        raise
    return names


# ---------------------------------------------------------------------------------- network


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PushError(f"invalid --repo-id {repo_id!r}: {error}") from None


def _hub_token(token: str | None) -> str:
    """The token to push with (argument, HF_TOKEN, or the stored login), or a PushError saying how to get one."""
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise PushError(
            "HF_HUB_OFFLINE is set, so the Hub cannot be reached; unset it to push, "
            "or write the folder locally with --dry-run OUT_DIR"
        )
    token = token or get_token()
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)")
    return token


def push_hub_folder(
    model_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    commit_description: str | None = None,
    token: str | None = None,
    create_pr: bool = False,
    tokenizer: bool = True,
    **card_options: Any,
):
    """Upload the saved model in `model_dir`, with its generated card, to `repo_id` (created if need be).

    The folder of `export_hub_folder` is staged in a temporary directory (removed afterwards,
    whatever happens) and uploaded with `HfApi.upload_folder`; `model_dir` itself is never
    written to. `tokenizer=False` pushes a model without its tokenizer files. Returns
    huggingface_hub's `CommitInfo`.

    Raises:
        PushError: an incomplete folder, an invalid repo id, offline mode, no token, or any error
            from the Hub (the original error is chained).
    """
    from huggingface_hub import HfApi

    _check_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="xlner-push-") as staging:
        names = stage_hub_folder(model_dir, staging, repo_id=repo_id, tokenizer=tokenizer, **card_options)
        token = _hub_token(token)
        api = HfApi(library_name="xlner")
        try:
            repo_id = api.create_repo(repo_id, token=token, private=private, exist_ok=True).repo_id
            if revision is not None:
                api.create_branch(repo_id, branch=revision, token=token, exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                commit_message=commit_message or f"Upload XLNer model ({len(names)} files)",
                commit_description=commit_description,
                revision=revision,
                token=token,
                create_pr=create_pr,
            )
        except Exception as error:  # network, HTTP, permission: all end the push the same way
            raise PushError(f"pushing to {repo_id} failed: {type(error).__name__}: {error}") from error
    logger.info("pushed %d files to %s", len(names), repo_id)
    return commit


def push_model_to_hub(
    model,
    repo_id: str,
    *,
    tokenizer=None,
    results: Results | str | os.PathLike | None = None,
    commit_message: str | None = None,
    commit_description: str | None = None,
    private: bool | None = None,
    token: bool | str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    max_shard_size: int | str | None = "50GB",
    tags: Sequence[str] | str | None = None,
    license: str | None = None,
    base_model: str | None = None,
    dataset: str | None = None,
):
    """What `XLNerPreTrainedModel.push_to_hub` does when the xlner package is installed.

    `model.save_pretrained` (and `tokenizer.save_pretrained`, in the same commit) into a temporary
    folder, then `push_hub_folder`, the path of `xlner push`. The card's results come from
    `results` (`Results` or a results.json path), by default from ``results.json`` of the folder
    the model was loaded from. `token`: a token, or None / True for HF_TOKEN or the stored login.
    Returns huggingface_hub's `CommitInfo`.
    """
    all_tags = list(getattr(model, "model_tags", None) or [])
    all_tags += [tag for tag in ([tags] if isinstance(tags, str) else tags or []) if tag not in all_tags]
    if results is None:
        source = getattr(model, "name_or_path", None)
        if source and (Path(source) / "results.json").is_file():
            results = Path(source) / "results.json"
    with tempfile.TemporaryDirectory(prefix="xlner-push-") as saved:
        model.save_pretrained(saved, max_shard_size=max_shard_size)
        if tokenizer is not None:
            tokenizer.save_pretrained(saved)
        return push_hub_folder(
            saved,
            repo_id,
            private=private,
            revision=revision,
            commit_message=commit_message,
            commit_description=commit_description,
            token=token if isinstance(token, str) else None,
            create_pr=create_pr,
            tokenizer=tokenizer is not None,
            results=results,
            license=license,
            base_model=base_model,
            dataset=dataset,
            tags=all_tags,
        )


# ---------------------------------------------------------------------------------- CLI


def add_push_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `xlner push` to the `xlner` subcommands (sets ``run=push_command``)."""
    parser = subparsers.add_parser(
        "push",
        help="upload a saved model folder, with a generated model card, to the Hugging Face Hub",
        description=(
            "Upload a saved model folder (config, safetensors weights, tokenizer and vocabulary files, "
            "remote code) with a generated README.md model card. The token comes from HF_TOKEN or "
            "`hf auth login`. With --dry-run, write that folder locally instead of uploading it."
        ),
    )
    parser.add_argument("--model", required=True, help="the saved model folder (written by xlner train / transfer)")
    parser.add_argument("--repo-id", required=True, help="the Hub repository, OWNER/NAME")
    parser.add_argument("--private", action="store_true", default=None, help="create the repository private")
    parser.add_argument("--revision", help="branch to push to (created if missing)")
    parser.add_argument("--commit-message", help="commit message (default: 'Upload XLNer model (N files)')")
    parser.add_argument(
        "--dry-run", metavar="OUT_DIR", help="write the folder that would be uploaded to OUT_DIR (new or empty) and stop"
    )
    parser.add_argument("--license", help="license in the card (default from the training data: cc-by-sa-3.0 for "
                        "the Stockmark Japanese data, else apache-2.0)")  # fmt: skip
    parser.add_argument(
        "--base-model", help="Hub id of the transfer source, for the card, when the model was transferred from a local folder"
    )
    parser.add_argument("--dataset", help="Hub id of the training dataset, when results.json does not tell")
    parser.set_defaults(run=push_command)
    return parser


def push_command(args: argparse.Namespace) -> None:
    """`xlner push`: prints one JSON line (repo, files, commit URL or dry-run folder); errors exit with status 1."""
    card_options = {"license": args.license, "base_model": args.base_model, "dataset": args.dataset}
    try:
        if args.dry_run:
            names = export_hub_folder(args.model, args.dry_run, repo_id=args.repo_id, **card_options)
            print(json.dumps({"repo_id": args.repo_id, "dry_run": str(Path(args.dry_run)), "files": names}))
            return
        commit = push_hub_folder(
            args.model,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            **card_options,
        )
    except (PushError, FileNotFoundError, ValueError) as error:
        raise SystemExit(f"xlner push: error: {error}") from None
    print(json.dumps({"repo_id": args.repo_id, "commit_url": str(getattr(commit, "commit_url", commit))}))


__all__ = [
    "PushError",
    "hub_files",
    "stage_hub_folder",
    "export_hub_folder",
    "push_hub_folder",
    "push_model_to_hub",
    "add_push_parser",
    "push_command",
]
