"""The token-classification pipeline of XLNer models: raw text in, entities with exact character offsets out.

This file is remote code. `XLNerPreTrainedModel.save_pretrained` copies it next to the model and
writes `config.custom_pipelines`, so that on any machine with transformers (no xlner package)

    pipeline("token-classification", model=DIR, trust_remote_code=True, aggregation_strategy="simple")

builds `XLNerTokenClassificationPipeline`. It imports torch, transformers, the standard library and
decoding_xlner.py (BIO chunks); the tokenizer and the model are used through their public interface.
"""

import functools
import itertools
import queue
import threading
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from transformers import TokenClassificationPipeline
from transformers.pipelines.token_classification import AggregationStrategy

from .decoding_xlner import chunks

# Texts per forward pass when the caller gives no `batch_size` (transformers' default, 1, would
# make a bi-LSTM on CPU several times slower for nothing).
DEFAULT_BATCH_SIZE = 64
# Texts read, preprocessed and sorted by length together: the bound on what is held in memory
# while a generator or dataset is streamed through the pipeline.
DEFAULT_CHUNK_SIZE = 1024
# Texts longer than this many characters are cut into pieces at sentence boundaries.
DEFAULT_MAX_CHUNK_CHARS = 1000
MODEL_INPUTS = ("input_ids", "char_ids", "surface_char_ids", "shape_ids", "pos_ids", "vector_ids")  # those the tokenizer gives


class XLNerTokenClassificationPipeline(TokenClassificationPipeline):
    r"""
    Named-entity recognition with an XLNer model on raw text, English or Japanese.

    One token of an XLNer model is one word, so every strategy gives whole words:

    Each word's label is what the model's `decode` makes of its logits (the best BIO-valid tag
    sequence when `config.constrained_decoding`, else each word's argmax): the same labels that
    `xlner evaluate` scores. A word's `score` is the probability the model gives that label.

    - `aggregation_strategy="none"` (the default, as in transformers): one dict per word not tagged
      `O`, with `entity` (the BIO label), `score`, `index` (the word's position in the text),
      `word`, `start`, `end`.
    - `"simple"`, `"first"`, `"average"`, `"max"`: words grouped into entities exactly as seqeval
      (and `xlner evaluate`) chunks BIO tags — `B-X` starts an entity, `I-X` continues an `X`
      entity and starts one after anything else. Each dict has `entity_group`, `score` (the mean
      over the entity's words of the best label's probability), `word`, `start`, `end`. As there are
      no sub-words to reconcile, the four strategies give the same entities.

    `start` and `end` are character offsets into the ORIGINAL input (whatever Unicode normalisation
    the tokenizer applied: full-width letters, half-width katakana, combining marks) and `word` is
    always exactly `text[start:end]`: nothing is inserted between the pieces of a Japanese entity.

    Inputs: a string (returns a list of entities), a list or tuple of strings (returns a list of
    such lists), or any other iterable of strings — a generator, a `KeyDataset` — which is
    streamed: the pipeline returns a lazy iterator and holds at most `chunk_size` texts (default
    1,024) at a time. Each chunk is preprocessed (split, tokenized), its pieces sorted by word count
    and run `batch_size` at a time (default 64, not transformers' 1); results come back in input
    order. With `num_workers=1` the next chunk is preprocessed in a background thread while the
    model runs the current one (the tokenizer is Python, the model's kernels release the GIL). The
    default, 0, uses the calling thread only. An empty or whitespace-only text gives `[]` without
    running the model; anything that is not a string (`None` included) raises a `TypeError` naming
    its position before the model runs. With `is_split_into_words=True`, an input is a sentence
    given as its list of words (offsets then point into `" ".join(words)`), as in CoNLL files.

    **Threads.** One pipeline may be shared by several threads (as a web server does): each call
    keeps its texts and tensors to itself, the model is only read, and the tokenizer parses one text
    at a time under a lock (MeCab is not thread-safe), so every thread gets what sequential calls
    give (`tests/test_pipeline_threads.py`). For throughput on several cores use processes
    (`xlner predict --workers N`): the tokenizer is Python and holds the GIL.

    **Long inputs** are chunked, never truncated: a text longer than `max_chunk_chars` characters
    (default 1,000) is cut into pieces at sentence boundaries (`。！？` and closing brackets, `. ! ?`
    before whitespace, line breaks); a piece with no sentence boundary is cut at whitespace, and
    one with no whitespace either at exactly `max_chunk_chars` characters (the one case where a
    word can be cut in two). Each piece is tagged on its own — as in training, where every example
    is one sentence — and the offsets of its entities are shifted back into the original text, so
    an entity never spans two pieces. Texts up to `max_chunk_chars` are tagged whole, exactly as
    `model(**tokenizer(text))` tags them.

    Ask for the task by its name, `"token-classification"` (or give no task: the saved config names
    this pipeline as its only one); transformers resolves the alias `"ner"` to its generic pipeline,
    which cannot give offsets with a word-level tokenizer.

    Keyword arguments (at construction or per call): `aggregation_strategy`, `ignore_labels`
    (default `["O"]`), `batch_size`, `num_workers`, `chunk_size`, `max_chunk_chars`,
    `is_split_into_words`. `offset_mapping` and `stride` are not supported: the tokenizer segments
    raw text itself and chunking replaces striding.

    One path from text to entities: `preprocess` (split long text, tokenize) → `_forward` (model +
    `decode`, for a batch of pieces) → `postprocess` (entities of one input). `__call__` streams
    chunks through these three steps with length-sorted batches; transformers' own step-by-step
    loop (one piece at a time) runs the same three.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> ner = pipeline("token-classification", model="path/to/xlner-ja", trust_remote_code=True,
    ...                aggregation_strategy="simple")
    >>> text = "大谷翔平はエンゼルスに入団した。"
    >>> [(e["entity_group"], e["word"], text[e["start"]:e["end"]]) for e in ner(text)]
    [('人名', '大谷翔平', '大谷翔平'), ('法人名', 'エンゼルス', 'エンゼルス')]
    ```
    """

    def check_model_type(self, supported_models):
        # Remote-code models are not in transformers' static list of token-classification models.
        if getattr(self.model.config, "model_type", None) == "xlner":
            return
        super().check_model_type(supported_models)

    def _sanitize_parameters(
        self,
        ignore_labels=None,
        aggregation_strategy=None,
        max_chunk_chars=None,
        chunk_size=None,
        is_split_into_words=None,
        offset_mapping=None,
        stride=None,
        delimiter=None,
    ):
        if offset_mapping is not None:
            raise ValueError("XLNer pipelines compute offsets themselves; do not pass offset_mapping")
        if stride is not None:
            raise ValueError(
                "stride is not supported: long texts are cut at sentence boundaries instead (see max_chunk_chars)"
            )
        preprocess_params = {}
        for name, value in (("max_chunk_chars", max_chunk_chars), ("chunk_size", chunk_size)):
            if value is not None:
                preprocess_params[name] = _positive_int(name, value)
        if is_split_into_words is not None:
            preprocess_params["is_split_into_words"] = bool(is_split_into_words)
        postprocess_params = {}
        if aggregation_strategy is not None:
            postprocess_params["aggregation_strategy"] = _aggregation_strategy(aggregation_strategy)
        if ignore_labels is not None:
            postprocess_params["ignore_labels"] = [ignore_labels] if isinstance(ignore_labels, str) else list(ignore_labels)
        return preprocess_params, {}, postprocess_params

    # ------------------------------------------------------------------ calling

    def __call__(self, inputs, *args, batch_size=None, num_workers=None, **kwargs):
        """Tag one text, a list of texts, or stream an iterable of texts (see the class docstring)."""
        if args:
            raise TypeError(f"unexpected positional arguments {args!r}; pass options as keywords")
        if batch_size is None:
            batch_size = self._batch_size if self._batch_size is not None else DEFAULT_BATCH_SIZE
        batch_size = _positive_int("batch_size", batch_size)
        num_workers = (self._num_workers or 0) if num_workers is None else num_workers
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        preprocess_params, _, postprocess_params = self._sanitize_parameters(**kwargs)
        preprocess_params = {**self._preprocess_params, **preprocess_params}
        postprocess_params = {**self._postprocess_params, **postprocess_params}
        chunk_size = max(preprocess_params.pop("chunk_size", DEFAULT_CHUNK_SIZE), batch_size)
        stream = functools.partial(
            self._stream, batch_size=batch_size, chunk_size=chunk_size, num_workers=num_workers,
            preprocess_params=preprocess_params, postprocess_params=postprocess_params,
        )  # fmt: skip
        self.call_count += 1

        split = preprocess_params.get("is_split_into_words", False)
        if isinstance(inputs, str) or (split and isinstance(inputs, (list, tuple)) and all(isinstance(w, str) for w in inputs)):
            return next(stream([inputs]))
        if isinstance(inputs, (list, tuple)):
            for index, text in enumerate(inputs):
                _check_text(text, index, split)
            return list(stream(inputs))
        if inputs is None:
            raise TypeError("the pipeline got None; expected a string, a list of strings or an iterable of strings")
        if isinstance(inputs, (bytes, bytearray)):
            raise TypeError("the pipeline got bytes; decode them to a string first")
        if isinstance(inputs, Mapping):
            raise TypeError("the pipeline got a mapping; pass its text (or a list of texts) instead")
        if isinstance(inputs, (Iterable, types.GeneratorType)) or hasattr(inputs, "__getitem__"):
            return stream(inputs)
        raise TypeError(f"the pipeline expects a string or an iterable of strings, got {type(inputs).__name__}")

    def _stream(
        self, texts: Iterable, batch_size: int, chunk_size: int, num_workers: int, preprocess_params: dict, postprocess_params: dict
    ) -> Iterator[list[dict]]:
        """Entities of each input, in input order: `chunk_size` inputs preprocessed, run and postprocessed at a time."""
        chunk_pieces = self._preprocessed_chunks(texts, chunk_size, preprocess_params)
        if num_workers:
            chunk_pieces = _prefetch(chunk_pieces, depth=1)
        for pieces_per_text in chunk_pieces:
            pieces = sorted((piece for pieces in pieces_per_text for piece in pieces if piece["input_ids"]), key=_word_count)
            for begin in range(0, len(pieces), batch_size):
                self._forward(pieces[begin : begin + batch_size])
            for pieces in pieces_per_text:
                yield self.postprocess(pieces, **postprocess_params)

    def _preprocessed_chunks(self, texts: Iterable, chunk_size: int, preprocess_params: dict) -> Iterator[list[list[dict]]]:
        iterator, position = iter(texts), 0
        split = preprocess_params.get("is_split_into_words", False)
        while chunk := list(itertools.islice(iterator, chunk_size)):
            for index, text in enumerate(chunk):
                _check_text(text, position + index, split)
            yield [self.preprocess(text, **preprocess_params) for text in chunk]
            position += len(chunk)

    # ------------------------------------------------------------------ the three steps

    def preprocess(self, sentence, max_chunk_chars: int = DEFAULT_MAX_CHUNK_CHARS, is_split_into_words: bool = False) -> list[dict]:
        """The pieces of one input, tokenized: model inputs (lists), word offsets into the input, piece start."""
        if is_split_into_words:
            text, spans = " ".join(sentence), [(0, None)]
        else:
            text = sentence
            spans = self.tokenizer.split_long_text(text, max_chunk_chars) if text and not text.isspace() else []
        pieces = []
        for start, end in spans:
            piece = sentence if is_split_into_words or end - start == len(text) else text[start:end]
            # Unpadded: `_forward` pads each batch (padding every text first cost a tenth of the pipeline's time).
            encoding = self.tokenizer.encode_words(piece, is_split_into_words=is_split_into_words)
            features = {name: encoding[name] for name in MODEL_INPUTS if name in encoding}
            pieces.append({**features, "offsets": encoding["offset_mapping"], "start": start, "text": text})
        return pieces

    def _forward(self, pieces: Sequence[dict] | dict) -> list[dict] | dict:
        """Model and `decode` for a batch of pieces (or one): each gets its word `labels` (ids) and their `scores`."""
        if isinstance(pieces, dict):  # transformers' own loop: one piece at a time
            return self._forward([pieces])[0]
        batch = self.tokenizer.pad([{name: piece[name] for name in MODEL_INPUTS if name in piece} for piece in pieces], return_tensors="pt")
        with self.device_placement(), torch.inference_mode():
            output = self.model(**{name: tensor.to(self.device) for name, tensor in batch.items()})
            logits = output["logits"] if isinstance(output, dict) else output[0]
            mask = batch["attention_mask"].to(logits.device)
            labels = self.model.decode(logits, mask)
            index = torch.zeros(logits.shape[:2], dtype=torch.long)
            for row, ids in enumerate(labels):
                index[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            chosen = logits.float().softmax(dim=-1).gather(-1, index.to(logits.device).unsqueeze(-1)).squeeze(-1)
        for piece, ids, scores in zip(pieces, labels, chosen.tolist()):
            piece["labels"], piece["scores"] = ids, scores[: len(ids)]
        return list(pieces)

    def postprocess(
        self, pieces: Sequence[dict], aggregation_strategy=AggregationStrategy.NONE, ignore_labels: Sequence[str] | None = None
    ) -> list[dict]:
        """The entities of one input from its tagged pieces (words with no tag, or only `ignore_labels`, give none)."""
        ignore = frozenset(["O"] if ignore_labels is None else ignore_labels)
        id2label = self.model.config.id2label
        entities, first_word = [], 0
        for piece in pieces:
            if not piece["input_ids"]:
                continue
            tags = [id2label[label] for label in piece["labels"]]
            if aggregation_strategy == AggregationStrategy.NONE:
                entities += _word_entities(piece, tags, first_word, ignore)
            else:
                entities += _grouped_entities(piece, tags, ignore)
            first_word += len(piece["offsets"])
        return entities


def _word_entities(piece: dict, tags: Sequence[str], first_word: int, ignore: frozenset) -> list[dict]:
    """One dict per word whose label is not ignored."""
    entities = []
    for position, (tag, score) in enumerate(zip(tags, piece["scores"])):
        if tag in ignore:
            continue
        start, end = (offset + piece["start"] for offset in piece["offsets"][position])
        entities.append(
            {"entity": tag, "score": score, "index": first_word + position,
             "word": piece["text"][start:end], "start": start, "end": end}
        )  # fmt: skip
    return entities


def _grouped_entities(piece: dict, tags: Sequence[str], ignore: frozenset) -> list[dict]:
    """Words grouped as transformers' `group_entities` does (= seqeval's chunks for BIO tags)."""
    entities = []
    for entity_type, first, last in chunks(tags):
        if entity_type in ignore:
            continue
        start = piece["offsets"][first][0] + piece["start"]
        end = piece["offsets"][last][1] + piece["start"]
        scores = piece["scores"][first : last + 1]
        entities.append(
            {"entity_group": entity_type, "score": sum(scores) / len(scores),
             "word": piece["text"][start:end], "start": start, "end": end}
        )  # fmt: skip
    return entities


def _word_count(piece: dict) -> int:
    return len(piece["input_ids"])


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _aggregation_strategy(value: Any) -> AggregationStrategy:
    if isinstance(value, AggregationStrategy):
        return value
    if not isinstance(value, str):
        raise ValueError(f"aggregation_strategy must be a string, got {value!r}")
    try:
        return AggregationStrategy(value.lower())
    except ValueError:
        choices = ", ".join(repr(s.value) for s in AggregationStrategy)
        raise ValueError(f"unknown aggregation_strategy {value!r}; expected one of {choices}") from None


def _check_text(text: Any, position: int, is_split_into_words: bool = False) -> None:
    if is_split_into_words:
        if not isinstance(text, (list, tuple)) or not all(isinstance(word, str) for word in text):
            raise TypeError(f"input {position} is not a list of words (strings); is_split_into_words=True takes word lists")
    elif not isinstance(text, str):
        what = "None" if text is None else f"a {type(text).__name__}"
        raise TypeError(f"input {position} is {what}; expected a string (use '' for an empty text)")


def _prefetch(iterator: Iterator, depth: int) -> Iterator:
    """Run `iterator` in a background thread, `depth` items ahead (tokenizing while the model runs)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                if stop.is_set():
                    return
                items.put((item, None))
        except BaseException as error:  # handed to the consumer, raised there
            items.put((None, error))
            return
        items.put((done, None))

    worker = threading.Thread(target=produce, name="xlner-tokenizer", daemon=True)
    worker.start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.01)


__all__ = ["XLNerTokenClassificationPipeline"]
