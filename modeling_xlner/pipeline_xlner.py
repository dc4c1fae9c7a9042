"""The token-classification pipeline of XLNer models: raw text in, entities with exact character offsets out.

This file is remote code. `XLNerPreTrainedModel.save_pretrained` copies it next to the model and
writes `config.custom_pipelines`, so that on any machine with transformers (no xlner package)

    pipeline("token-classification", model=DIR, trust_remote_code=True, aggregation_strategy="simple")

builds `XLNerTokenClassificationPipeline`. It imports nothing beyond torch, transformers and the
standard library, and nothing from the rest of the model's code: the tokenizer and the model
are used only through their public interface.
"""

import itertools
import queue
import re
import threading
import types
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence

import torch
from transformers import TokenClassificationPipeline
from transformers.pipelines.token_classification import AggregationStrategy

# Texts per forward pass when the caller gives no `batch_size` (transformers' default, 1, would
# make a bi-LSTM on CPU several times slower for nothing).
DEFAULT_BATCH_SIZE = 64
# Texts read, tokenized and sorted by length together: the bound on what is held in memory
# while a generator or dataset is streamed through the pipeline.
DEFAULT_CHUNK_SIZE = 1024
# Texts longer than this many characters are cut into pieces at sentence boundaries.
DEFAULT_MAX_CHUNK_CHARS = 1000

# Where a sentence ends: Japanese sentence-final punctuation (then any closing brackets or quotes and
# spaces), Latin ". ! ?" followed by whitespace, or a line break. A cut goes at the end of a match.
_SENTENCE_END = re.compile(
    r"[。．！？!?｡]+[」』）)\]】〕〉》\"'’”]*\s*"
    r"|\.+[)\]\"'’”]*\s+"
    r"|[\n\r\u2028\u2029\x85]+\s*"
)
_SPACE = re.compile(r"\s+")
_HALF_WIDTH_VOICING = "\uff9e\uff9f"


def _is_continuation(character: str) -> bool:
    """A character that belongs with the one before it (combining or enclosing mark, variation selector,
    half-width voicing mark): a piece never starts with one."""
    return (
        bool(unicodedata.combining(character))
        or character in _HALF_WIDTH_VOICING
        or unicodedata.category(character) in ("Mn", "Me")
    )


def split_long_text(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Cut `text` into consecutive `[start, end)` pieces of at most `max_chars` characters.

    A text no longer than `max_chars` is one piece. Otherwise each piece ends at the last sentence
    boundary that fits (see `_SENTENCE_END`); failing that, after the last run of whitespace; failing
    that (one "sentence" longer than `max_chars` without a space), exactly at `max_chars`, moved back
    so that no combining mark is separated from its base character. The pieces cover the text
    exactly, in order, so offsets inside a piece map back by adding its start.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    length = len(text)
    if length <= max_chars:
        return [(0, length)]
    pieces = []
    start = 0
    while length - start > max_chars:
        limit = start + max_chars
        window = text[start:limit]
        cut = 0
        for match in _SENTENCE_END.finditer(window):
            cut = match.end()
        # A sentence end whose trailing spaces ran up to the limit may go on after it: still a boundary.
        if cut == 0:
            for match in _SPACE.finditer(window):
                if match.start() > 0:
                    cut = match.end()
        if cut == 0:
            cut = max_chars
            while cut > 1 and _is_continuation(text[start + cut]):
                cut -= 1
        pieces.append((start, start + cut))
        start += cut
    pieces.append((start, length))
    return pieces


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
    1,024) at a time. Inside each chunk texts are sorted by length and tokenized and run
    `batch_size` at a time (default 64, not transformers' 1); results come back in input order.
    With `num_workers=1` the next batch is tokenized in a background thread while the model runs
    the current one (the tokenizer is Python, the model's kernels release the GIL): on two or
    more cores this hides most of the tokenizer's cost. The default, 0, uses the calling thread only. An empty or whitespace-only text gives `[]` without running
    the model; anything that is not a string (`None` included) raises a `TypeError` naming its
    position before the model runs.

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
    (default `["O"]`), `batch_size`, `num_workers`, `chunk_size`, `max_chunk_chars`. Pre-split input
    (`is_split_into_words`), `offset_mapping` and `stride` are not supported: the tokenizer
    segments raw text itself and chunking replaces striding.

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._label_info_cache = None

    # ------------------------------------------------------------------ parameters

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
        is_split_into_words=False,
        offset_mapping=None,
        stride=None,
        delimiter=None,
    ):
        if is_split_into_words:
            raise ValueError(
                "XLNer pipelines take raw text (is_split_into_words=True is not supported): the tokenizer "
                "segments the text itself and reports offsets into it"
            )
        if offset_mapping is not None:
            raise ValueError("XLNer pipelines compute offsets themselves; do not pass offset_mapping")
        if stride is not None:
            raise ValueError(
                "stride is not supported: long texts are cut at sentence boundaries instead (see max_chunk_chars)"
            )
        preprocess_params = {}
        if max_chunk_chars is not None:
            if isinstance(max_chunk_chars, bool) or not isinstance(max_chunk_chars, int) or max_chunk_chars < 1:
                raise ValueError(f"max_chunk_chars must be a positive integer, got {max_chunk_chars!r}")
            preprocess_params["max_chunk_chars"] = max_chunk_chars
        if chunk_size is not None:
            if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
                raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
            preprocess_params["chunk_size"] = chunk_size
        postprocess_params = {}
        if aggregation_strategy is not None:
            if isinstance(aggregation_strategy, str):
                try:
                    aggregation_strategy = AggregationStrategy(aggregation_strategy.lower())
                except ValueError:
                    choices = ", ".join(repr(s.value) for s in AggregationStrategy)
                    raise ValueError(
                        f"unknown aggregation_strategy {aggregation_strategy!r}; expected one of {choices}"
                    ) from None
            elif not isinstance(aggregation_strategy, AggregationStrategy):
                raise ValueError(f"aggregation_strategy must be a string, got {aggregation_strategy!r}")
            postprocess_params["aggregation_strategy"] = aggregation_strategy
        if ignore_labels is not None:
            if isinstance(ignore_labels, str):
                ignore_labels = [ignore_labels]
            postprocess_params["ignore_labels"] = list(ignore_labels)
        return preprocess_params, {}, postprocess_params

    # ------------------------------------------------------------------ calling

    def __call__(self, inputs, *args, batch_size=None, num_workers=None, **kwargs):
        """Tag one text, a list of texts, or stream an iterable of texts (see the class docstring)."""
        if args:
            raise TypeError(f"unexpected positional arguments {args!r}; pass options as keywords")
        if batch_size is None:
            batch_size = self._batch_size if self._batch_size is not None else DEFAULT_BATCH_SIZE
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if num_workers is None:
            num_workers = self._num_workers or 0
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        preprocess_params, _, postprocess_params = self._sanitize_parameters(**kwargs)
        preprocess_params = {**self._preprocess_params, **preprocess_params}
        postprocess_params = {**self._postprocess_params, **postprocess_params}
        options = {
            "batch_size": batch_size,
            "num_workers": num_workers,
            "chunk_size": max(preprocess_params.get("chunk_size", DEFAULT_CHUNK_SIZE), batch_size),
            "max_chunk_chars": preprocess_params.get("max_chunk_chars", DEFAULT_MAX_CHUNK_CHARS),
            "aggregation_strategy": postprocess_params.get("aggregation_strategy", AggregationStrategy.NONE),
            "ignore_labels": frozenset(postprocess_params.get("ignore_labels", ["O"])),
        }
        self.call_count += 1

        if isinstance(inputs, str):
            return self._predict_chunk([inputs], 0, **options)[0]
        if isinstance(inputs, (list, tuple)):
            for index, text in enumerate(inputs):
                _check_text(text, index)
            return list(self._stream(inputs, **options))
        if inputs is None:
            raise TypeError("the pipeline got None; expected a string, a list of strings or an iterable of strings")
        if isinstance(inputs, (bytes, bytearray)):
            raise TypeError("the pipeline got bytes; decode them to a string first")
        if isinstance(inputs, Mapping):
            raise TypeError("the pipeline got a mapping; pass its text (or a list of texts) instead")
        if isinstance(inputs, (Iterable, types.GeneratorType)) or hasattr(inputs, "__getitem__"):
            return self._stream(inputs, **options)
        raise TypeError(f"the pipeline expects a string or an iterable of strings, got {type(inputs).__name__}")

    def _stream(self, texts: Iterable, chunk_size: int, **options) -> Iterator[list[dict]]:
        iterator = iter(texts)
        position = 0
        while True:
            chunk = list(itertools.islice(iterator, chunk_size))
            if not chunk:
                return
            yield from self._predict_chunk(chunk, position, **options)
            position += len(chunk)

    def _predict_chunk(
        self,
        texts: Sequence[str],
        position: int,
        batch_size: int,
        max_chunk_chars: int,
        aggregation_strategy: AggregationStrategy,
        ignore_labels: frozenset,
        num_workers: int = 0,
        chunk_size: int | None = None,
    ) -> list[list[dict]]:
        """Entities of each text of `texts` (the `position`-th input onwards, for error messages)."""
        pieces: list[tuple[int, int, str]] = []  # (text index, piece start, piece text)
        for index, text in enumerate(texts):
            _check_text(text, position + index)
            if not text or text.isspace():
                continue
            for start, end in split_long_text(text, max_chunk_chars):
                pieces.append((index, start, text if end - start == len(text) else text[start:end]))
        results: list[list[dict]] = [[] for _ in texts]
        if not pieces:
            return results
        offsets: list[list | None] = [None] * len(pieces)
        labels: list[list[int] | None] = [None] * len(pieces)
        scores: list[list[float] | None] = [None] * len(pieces)
        batches = self._encoded_batches(pieces, batch_size)
        if num_workers:
            batches = _prefetch(batches, depth=2)
        for batch, model_inputs, batch_offsets in batches:
            if not any(batch_offsets):
                continue  # nothing but spaces and controls: no word to tag
            best, best_scores = self._label_scores(model_inputs)
            for row, k in enumerate(batch):
                n = len(batch_offsets[row])
                offsets[k], labels[k], scores[k] = batch_offsets[row], best[row][:n], best_scores[row][:n]

        word_index = [0] * len(texts)
        for k, (index, start, _) in enumerate(pieces):
            if not offsets[k]:
                continue
            results[index].extend(
                self._entities(
                    texts[index], offsets[k], start, labels[k], scores[k], word_index[index],
                    aggregation_strategy, ignore_labels,
                )  # fmt: skip
            )
            word_index[index] += len(offsets[k])
        return results

    def _encoded_batches(self, pieces: Sequence[tuple[int, int, str]], batch_size: int):
        """(piece indices, padded model inputs, word offsets per piece) for each batch.

        Pieces are sorted by character length, a proxy for word count known before tokenizing, so
        that each batch is tokenized on its own (and, with `num_workers`, while the model runs the
        previous one) and the bi-LSTMs see batches of similar lengths.
        """
        order = sorted(range(len(pieces)), key=lambda k: len(pieces[k][2]))
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            encoding = self.tokenizer(
                [pieces[k][2] for k in batch], return_offsets_mapping=True, padding=True, return_tensors="pt"
            )
            padded_offsets = encoding.pop("offset_mapping").tolist()
            counts = encoding["attention_mask"].sum(dim=1).tolist()
            yield batch, encoding, [row[:n] for row, n in zip(padded_offsets, counts)]

    def _label_scores(self, model_inputs) -> tuple[list[list[int]], list[list[float]]]:
        """Best label id of each word, and its probability, for one padded batch."""
        names = [name for name in getattr(self.tokenizer, "model_input_names", ()) if name in model_inputs]
        tensors = {name: model_inputs[name].to(self.device) for name in names or model_inputs.keys()}
        with self.device_placement(), torch.inference_mode():
            output = self.model(**tensors)
            logits = output["logits"] if isinstance(output, dict) else output[0]
            return self._decode(logits, tensors.get("attention_mask"))

    def _decode(self, logits: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[list, list]:
        """Label ids and their probabilities, per sentence, from `logits` `(batch, words, labels)`.

        The labels are the model's `decode` (BIO-constrained Viterbi when `config.constrained_decoding`,
        else each word's argmax), exactly what `xlner evaluate` scores; the score of a word is the
        probability the model gives its label.
        """
        if attention_mask is None:
            attention_mask = torch.ones(logits.shape[:2], dtype=torch.long, device=logits.device)
        probabilities = logits.float().softmax(dim=-1)
        decode = getattr(self.model, "decode", None)
        if decode is None:  # a model saved before `decode` existed: plain argmax
            lengths = attention_mask.sum(dim=-1).tolist()
            labels = [row[: int(n)] for row, n in zip(logits.argmax(dim=-1).tolist(), lengths)]
        else:
            labels = decode(logits, attention_mask)
        index = torch.zeros(logits.shape[:2], dtype=torch.long)
        for row, ids in enumerate(labels):
            index[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        chosen = probabilities.gather(-1, index.to(logits.device).unsqueeze(-1)).squeeze(-1).tolist()
        return labels, [row[: len(ids)] for row, ids in zip(chosen, labels)]

    # ------------------------------------------------------------------ entities

    def _label_info(self) -> list[tuple[str, str, str]]:
        """Per label id: (label, "B" or "I", entity type), as transformers' `get_tag` splits them."""
        id2label = self.model.config.id2label
        if self._label_info_cache is None or self._label_info_cache[0] is not id2label:
            info = []
            for index in range(len(id2label)):
                label = id2label[index]
                info.append((label, *self.get_tag(label)))
            self._label_info_cache = (id2label, info)
        return self._label_info_cache[1]

    def _entities(
        self,
        text: str,
        offsets: Sequence[Sequence[int]],
        base: int,
        labels: Sequence[int],
        scores: Sequence[float],
        first_word: int,
        aggregation_strategy: AggregationStrategy,
        ignore_labels: frozenset,
    ) -> list[dict]:
        """Entities of one piece of `text` that starts at character `base` (words `first_word`...)."""
        info = self._label_info()
        entities = []
        if aggregation_strategy == AggregationStrategy.NONE:
            for position, (label_id, score) in enumerate(zip(labels, scores)):
                label = info[label_id][0]
                if label in ignore_labels:
                    continue
                start, end = offsets[position]
                start, end = start + base, end + base
                entities.append(
                    {"entity": label, "score": score, "index": first_word + position,
                     "word": text[start:end], "start": start, "end": end}
                )  # fmt: skip
            return entities

        # Group words as transformers' `group_entities` does (= seqeval's chunks for BIO tags).
        group_type, group_first, group_scores = None, 0, []
        for position in range(len(labels) + 1):
            if position < len(labels):
                _, bi, entity_type = info[labels[position]]
                if group_scores and entity_type == group_type and bi != "B":
                    group_scores.append(scores[position])
                    continue
            if group_scores and group_type not in ignore_labels:
                start = offsets[group_first][0] + base
                end = offsets[position - 1][1] + base
                entities.append(
                    {"entity_group": group_type, "score": sum(group_scores) / len(group_scores),
                     "word": text[start:end], "start": start, "end": end}
                )  # fmt: skip
            if position < len(labels):
                group_type, group_first, group_scores = entity_type, position, [scores[position]]
        return entities

    # ------------------------------------------------------------------ transformers' step-by-step interface
    # `__call__` above batches on its own; these keep `preprocess` / `forward` / `postprocess` (and
    # transformers' generic iterators built on them) consistent with it, one text at a time.

    def preprocess(self, sentence, max_chunk_chars=DEFAULT_MAX_CHUNK_CHARS, **_):
        _check_text(sentence, 0)
        pieces = split_long_text(sentence, max_chunk_chars) if sentence and not sentence.isspace() else [(0, 0)]
        width = getattr(self.tokenizer, "max_bigrams_per_word", None)
        for number, (start, end) in enumerate(pieces):
            encoding = self.tokenizer(sentence[start:end], return_offsets_mapping=True)
            words = len(encoding["input_ids"])
            # Fixed bigram width and at least one (masked) word, so transformers' collator can stack pieces.
            feature = {
                "input_ids": encoding["input_ids"] or [0],
                "char_ids": [ids + [0] * ((width or len(ids)) - len(ids)) for ids in encoding["char_ids"]]
                or [[0] * (width or 1)],
                "shape_ids": encoding["shape_ids"] or [0],
            }
            model_inputs = dict(self.tokenizer.pad(feature, return_tensors="pt"))
            if not words:
                model_inputs["attention_mask"] = torch.zeros_like(model_inputs["attention_mask"])
            model_inputs = {key: value.unsqueeze(0) for key, value in model_inputs.items()}
            model_inputs["offsets"] = [tuple(pair) for pair in encoding["offset_mapping"]]
            model_inputs["piece_start"] = start
            model_inputs["sentence"] = sentence if number == 0 else None
            model_inputs["is_last"] = number == len(pieces) - 1
            yield model_inputs

    def _forward(self, model_inputs):
        passthrough = {key: model_inputs.pop(key) for key in ("offsets", "piece_start", "sentence", "is_last")}
        output = self.model(**model_inputs)
        logits = output["logits"] if isinstance(output, dict) else output[0]
        return {"logits": logits, **passthrough}

    def postprocess(self, all_outputs, aggregation_strategy=AggregationStrategy.NONE, ignore_labels=None):
        ignore_labels = frozenset(["O"] if ignore_labels is None else ignore_labels)
        sentence = all_outputs[0]["sentence"]
        entities, first_word = [], 0
        for output in all_outputs:
            offsets = output["offsets"]
            if not offsets:
                continue
            labels, scores = self._decode(output["logits"][:1, : len(offsets)], None)
            entities.extend(
                self._entities(
                    sentence, offsets, output["piece_start"], labels[0], scores[0], first_word,
                    aggregation_strategy, ignore_labels,
                )  # fmt: skip
            )
            first_word += len(offsets)
        return entities


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


def _check_text(text, position: int) -> None:
    if not isinstance(text, str):
        what = "None" if text is None else f"a {type(text).__name__}"
        raise TypeError(f"input {position} is {what}; expected a string (use '' for an empty text)")


__all__ = ["XLNerTokenClassificationPipeline", "split_long_text"]
