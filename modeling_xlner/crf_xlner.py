"""A linear-chain CRF over BIO labels, for the **head** of the tagger.

`XLNerCRF` scores a label path as the sum of its words' emission scores (the head's logits) and of
learned start, transition and end scores. Training minimises the negative log-likelihood of the gold
path; decoding is Viterbi under the learned scores. The BIO constraint (`I-X` only after `B-X` or
`I-X`) is built in: forbidden starts and transitions are never decoded, and only score a large
negative constant in the loss (not -inf, whose gradients would be NaN).

Labels -100 at real words mark unknown labels: the gold score then sums over every label there (a
partial-label CRF), so partly annotated sentences still train the model.

Remote code, copied flat beside modeling_xlner.py: torch only.
"""

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from .decoding_xlner import bio_transition_scores, viterbi_decode

# Score of a forbidden start or transition (and of a label other than the gold one) in the loss:
# low enough that such paths weigh exp(-10000) = 0 in float32, finite so that gradients stay finite.
FORBIDDEN = -10000.0
IGNORE_INDEX = -100


class XLNerCRF(nn.Module):
    """Linear-chain CRF over the labels of `id2label`, with the BIO constraint.

    Parameters (zeros at first): `transitions` `(labels, labels)` indexed [from, to], `start_transitions`
    and `end_transitions` `(labels,)`. The constraint (`transition_constraint`, `start_constraint`: 0 or
    -inf) is a non-persistent buffer: not in saved weights, recomputed from `id2label`.

    `forward(emissions, labels, attention_mask)` returns the mean negative log-likelihood of the batch's
    non-empty sentences; `decode(emissions, attention_mask)` the best label path of each sentence.
    """

    def __init__(self, id2label: Mapping[int, str]):
        super().__init__()
        num_labels = len(id2label)
        self.transitions = nn.Parameter(torch.zeros(num_labels, num_labels))
        self.start_transitions = nn.Parameter(torch.zeros(num_labels))
        self.end_transitions = nn.Parameter(torch.zeros(num_labels))
        transitions, start = bio_transition_scores(id2label)
        self.register_buffer("transition_constraint", transitions, persistent=False)
        self.register_buffer("start_constraint", start, persistent=False)

    def forward(
        self, emissions: torch.Tensor, labels: torch.LongTensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean NLL over the sentences with at least one word; 0 (with a grad_fn) when there are none.

        `emissions` `(batch, words, labels)`; `labels` `(batch, words)`, -100 for an unknown label;
        `attention_mask` `(batch, words)`, right-padded. Computed in float32 whatever the emissions' dtype.
        """
        mask = attention_mask.bool()
        if emissions.shape[1] == 0:  # no words at all: one masked-out word keeps the recursion below simple
            emissions, labels, mask = F.pad(emissions, (0, 0, 0, 1)), F.pad(labels, (0, 1)), F.pad(mask, (0, 1))
        emissions = emissions.float()
        label_ids = torch.arange(emissions.shape[-1], device=emissions.device)
        allowed = (labels[..., None] == label_ids) | (labels == IGNORE_INDEX)[..., None]
        # The gold score is the log-partition of the paths through the allowed labels only: one
        # recursion, run on both halves at once, gives log Z and the (partial-label) gold score.
        log_z, gold = self._log_partition(
            torch.cat([emissions, emissions.masked_fill(~allowed, FORBIDDEN)]), mask.repeat(2, 1)
        ).chunk(2)
        nonempty = mask.any(dim=1)
        return (log_z - gold).masked_fill(~nonempty, 0.0).sum() / nonempty.sum().clamp(min=1)

    def _log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Σ_paths exp(score) per row (forward algorithm, vectorised over the batch)."""
        transitions = self.transitions + self.transition_constraint.clamp(min=FORBIDDEN)
        score = emissions[:, 0] + self.start_transitions + self.start_constraint.clamp(min=FORBIDDEN)
        for position in range(1, emissions.shape[1]):
            step = torch.logsumexp(score[:, :, None] + transitions, dim=1) + emissions[:, position]
            score = torch.where(mask[:, position, None], step, score)
        return torch.logsumexp(score + self.end_transitions, dim=-1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, attention_mask: torch.Tensor) -> list[list[int]]:
        """Best valid label path per sentence under the learned scores, each list cut to its sentence's length."""
        if emissions.shape[1] == 0:
            return [[] for _ in range(emissions.shape[0])]
        return viterbi_decode(
            emissions.float(),
            attention_mask,
            self.transitions + self.transition_constraint,
            self.start_transitions + self.start_constraint,
            self.end_transitions,
        )


__all__ = ["XLNerCRF"]
