"""Loading saved weights safely: a named error for a broken weights file, and own, aligned weight copies.

Remote code, copied flat beside modeling_xlner.py: torch, safetensors (a transformers dependency) only.
"""

import os

import torch
from torch import nn


def check_weights_files(path: str | os.PathLike | None) -> None:
    """Raise an error naming the file if a local safetensors file is corrupted or truncated.

    safetensors' own error ("Error while deserializing header: ...") does not say which file; its
    header and total size are checked here without reading the tensors.
    """
    from safetensors import safe_open

    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        return
    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            file = os.path.join(path, name)
            try:
                with safe_open(file, framework="pt"):
                    pass
            except Exception as error:  # SafetensorError, or OSError for an unreadable file
                raise OSError(f"{file}: corrupted or not a safetensors weights file ({error})") from error


@torch.no_grad()
def own_weight_copies(model: nn.Module) -> None:
    """Replace loaded weights by own copies.

    Loaded weights can be views into the memory-mapped safetensors file at any alignment; MKL then
    takes other code paths (slower, and logits differ in the last bits from the model that was
    saved). Own, aligned copies make a save/load round trip exact.
    """
    for parameter in model.parameters():
        parameter.data = parameter.data.clone()


__all__ = ["check_weights_files", "own_weight_copies"]
