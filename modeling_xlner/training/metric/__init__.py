# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""The xlner span-level NER metric, an `evaluate` module kept in ``xlner_seqeval/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    import evaluate

SPAN_METRIC_PATH = Path(__file__).resolve().parent / "xlner_seqeval"


def load_span_metric(**kwargs: Any) -> evaluate.EvaluationModule:
    """Loads the span-level metric from this package (no Hub access needed).

    Keyword arguments go to `evaluate.load` (e.g. ``experiment_id``, ``keep_in_memory``).
    """
    # Imported here so that importing the package does not pull in evaluate.
    import evaluate

    return evaluate.load(str(SPAN_METRIC_PATH), **kwargs)
