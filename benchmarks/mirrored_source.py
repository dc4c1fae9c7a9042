"""A mirrored English source: the context bi-LSTM's two directions swapped, for `xlner transfer --source`.

Japanese is head-final where English is head-initial: the cues English puts before a name (Mr. Smith,
in London) Japanese puts after it (スミス氏, ロンドンで). Swapping the directions (and the head's two
halves of input columns, so that each half still meets the direction it was trained with) makes the
English left-context reader read the Japanese right context. The mirrored model tags a sentence as the
source tags it reversed (tested); the CRF transitions and the char module stay as they are.

Command, from the repository root:

    python benchmarks/mirrored_source.py --source runs/s24/english --output runs/mirror2/english
    xlner reproduce --data-dir ../shared/data --output-dir runs/mirror2 --source runs/mirror2/english \
        --sizes 250 --seeds 1 2 3 --combinations char+classifier --no-full-set --no-ablation \
        --module-table-sizes 0 --no-zero-shot --jobs 1 --threads 1

Measured (2026-12-03): 56.9 ± 1.4 at 250 sentences (3 seeds) against 59.6 ± 1.2 for the plain copy and
56.8 ± 0.8 from scratch; zero-shot on validation 0.195 against 0.230. A negative result, kept as this
script only (README, "Transfer methods with the default recipe").
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from modeling_xlner import XLNerForTokenClassification


def mirror_context(model: XLNerForTokenClassification) -> XLNerForTokenClassification:
    """Swap the context bi-LSTM's directions in place, with the halves of every input that reads both."""
    lstm, hidden = model.xlner.context.lstm, model.config.context_hidden_size

    def swap_halves(weight: torch.Tensor) -> torch.Tensor:
        return torch.cat([weight[:, hidden:], weight[:, :hidden]], dim=1)

    with torch.no_grad():
        for layer in range(lstm.num_layers):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                forward, backward = getattr(lstm, f"{kind}_l{layer}"), getattr(lstm, f"{kind}_l{layer}_reverse")
                swapped = backward.clone(), forward.clone()
                if kind == "weight_ih" and layer > 0:  # a layer above the first reads [forward; backward]
                    swapped = tuple(swap_halves(w) for w in swapped)
                forward.copy_(swapped[0])
                backward.copy_(swapped[1])
        model.head.weight.copy_(swap_halves(model.head.weight))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="the English model folder (an `xlner train` output)")
    parser.add_argument("--output", required=True, help="the mirrored model's folder")
    args = parser.parse_args()
    output = Path(args.output)
    # Tokenizer files, remote code and results.json (what `xlner reproduce --source` checks) come along.
    shutil.copytree(args.source, output, dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoints"))
    mirror_context(XLNerForTokenClassification.from_pretrained(args.source)).save_pretrained(output)
    print(f"mirrored source in {output}")


if __name__ == "__main__":
    main()
