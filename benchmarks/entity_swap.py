"""English entity swap: a Japanese training subset written out with swapped copies, for `xlner transfer --train`.

The few Japanese training texts are copied with some of their mentions replaced by English entity
names of the same type written in katakana, so that a small Japanese set meets the many names English
labelled data holds (mention replacement, as in Dai & Adel 2020, with the replacements taken from the
other language). The names are CoNLL-2003's, every word transliterated (alkana, or a TSV dictionary)
and joined with a middle dot as Japanese writes foreign names (paul block → ポール・ブロック); a name
with a word the dictionary lacks is left out. Only types the label map pairs one to one are swapped
(人名 ↔ PER, 地名 ↔ LOC): 法人名 shares ORG with two other Japanese types. Each copy draws a name per
mention with probability `--rate`; copies in which nothing was swapped are dropped, the original texts
are always kept. `--lexicon self` swaps in the subset's own mentions instead (the control without English).

Command, from the repository root (the subset is `xlner transfer --max-train-samples N --seed S`'s; the
batch size is fixed to the unswapped subset's default, 8 at 250 sentences, so that only the data changes):

    python benchmarks/entity_swap.py --train ../shared/data/ner-wikipedia-ja/train.jsonl \
        --conll ../shared/data/conll2003/train.txt --size 250 --seed 1 --copies 3 --rate 0.5 --output swap.jsonl
    xlner transfer --source runs/s24/english --modules char,classifier --shared-bigrams --lang ja \
        --train swap.jsonl --validation VALID --test TEST --seed 1 --batch-size 8 --threads 1 --output-dir OUT

Measured (2026-12-03, char + classifier copied, 3 seeds, test F1 ×100): at 250 sentences, three swapped
copies at rate 0.5 give 59.5 ± 0.5 against 59.6 ± 1.2 for the plain copy (validation 60.7 against 59.5);
at 500 (batch size 8 as well), 66.3 ± 1.0 against 65.5 ± 0.7 (+2.2 over scratch's 64.1; validation 68.0
against 66.2). One copy at 250: 57.8 (seed 1; plain 58.4); the subset's own mentions, one copy: 59.1
(seed 1). Within a standard deviation of the plain copy at both sizes, so kept as this script only, not
as a transfer method (README, "Transfer methods with the default recipe").
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets

# Foreign names are written with a middle dot between their words (ポール・ブロック).
NAME_SEPARATOR = "・"


def one_to_one_types(label_map: Mapping[str, str]) -> dict[str, str]:
    """Target type → source type, for the source types exactly one target type maps to."""
    targets_of = Counter(label_map.values())
    return {target: source for target, source in label_map.items() if targets_of[source] == 1}


def katakana_name(words: Sequence[str], transliterations: Mapping[str, str]) -> str | None:
    """The name's katakana, its words' transliterations joined by a middle dot; None if one has none."""
    parts = [transliterations.get(word.lower()) for word in words]
    return None if any(part is None for part in parts) else NAME_SEPARATOR.join(parts)


@dataclass
class EntityLexicon:
    """Names to swap in, by target type, and what was left out (the script prints it)."""

    names: dict[str, list[str]]
    source_names: dict[str, int] = field(default_factory=dict)  # distinct source names per source type
    untransliterable: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "names": {target: len(names) for target, names in self.names.items()},
            "source_names": dict(self.source_names),
            "untransliterable": dict(self.untransliterable),
        }


def english_entity_lexicon(
    mentions: Iterable[tuple[Sequence[str], str]], transliterations: Mapping[str, str], type_map: Mapping[str, str]
) -> EntityLexicon:
    """The katakana names of English (words, source type) mentions, by target type (`type_map`: target → source).

    Each distinct name appears once, in first-seen order, so the draw does not favour frequent names.
    """
    target_of = {source: target for target, source in type_map.items()}
    names: dict[str, list[str]] = {target: [] for target in type_map}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    distinct: Counter = Counter()
    missing: Counter = Counter()
    for words, source_type in mentions:
        key = (source_type, tuple(words))
        if source_type not in target_of or key in seen:
            continue
        seen.add(key)
        distinct[source_type] += 1
        katakana = katakana_name(words, transliterations)
        if katakana is None:
            missing[source_type] += 1
        elif katakana not in names[target_of[source_type]]:
            names[target_of[source_type]].append(katakana)
    return EntityLexicon({t: n for t, n in names.items() if n}, dict(distinct), dict(missing))


def conll_mentions(sentences: Iterable[Mapping[str, Sequence[str]]]) -> Iterable[tuple[list[str], str]]:
    """(words, type) of each IOB2 entity of `read_conll`'s sentences."""
    from modeling_xlner.decoding_xlner import entity_chunks

    for sentence in sentences:
        for entity_type, first, last in entity_chunks(sentence["ner_tags"]):
            yield list(sentence["tokens"][first : last + 1]), entity_type


def swap_mentions(text: str, entities: Sequence[Mapping[str, Any]], names: Mapping[str, Sequence[str]], rate: float, rng: random.Random):
    """(text, entities, swapped): each mention of a type in `names` replaced, with probability `rate`, by a drawn name.

    `entities` are {"start", "end", "type"} spans (non-overlapping); the others keep their text, shifted.
    """
    pieces, out, cursor, shift, swapped = [], [], 0, 0, 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        start, end, entity_type = entity["start"], entity["end"], entity["type"]
        surface = text[start:end]
        if entity_type in names and rng.random() < rate:
            surface, swapped = rng.choice(names[entity_type]), swapped + 1
        pieces.append(text[cursor:start])
        new_start = start + shift
        out.append({"start": new_start, "end": new_start + len(surface), "type": entity_type})
        pieces.append(surface)
        shift += len(surface) - (end - start)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces), out, swapped


def swap_entities(train: datasets.Dataset, lexicon: EntityLexicon, copies: int, rate: float, seed: int) -> tuple[datasets.Dataset, int]:
    """`train` (span data) followed by `copies` swapped copies of its texts, and how many mentions were swapped."""
    if "text" not in train.column_names:
        raise ValueError("entity swap: the training data must be span data (text and entities), as Stockmark's")
    rng = random.Random(seed)
    rows, total = [], 0
    for _ in range(copies):
        for text, entities in zip(train["text"], train["entities"]):
            new_text, new_entities, swapped = swap_mentions(text, entities, lexicon.names, rate, rng)
            if swapped:
                rows.append({"text": new_text, "entities": new_entities})
                total += swapped
    if not rows:
        return train, 0
    added = datasets.Dataset.from_list(rows, features=train.features)
    return datasets.concatenate_datasets([train, added]), total


def own_lexicon(train: datasets.Dataset, types: Iterable[str]) -> EntityLexicon:
    """The subset's own mention texts of `types`, by type, sorted (the swap without English names)."""
    names: dict[str, set[str]] = {entity_type: set() for entity_type in types}
    for text, entities in zip(train["text"], train["entities"]):
        for entity in entities:
            if entity["type"] in names:
                names[entity["type"]].add(text[entity["start"] : entity["end"]])
    return EntityLexicon({t: sorted(n) for t, n in names.items() if n})


def span_records(train: datasets.Dataset) -> list[dict]:
    """`train` as Stockmark's span records (name, span, type), which `xlner transfer --train` reads back."""
    return [
        {"text": text, "entities": [{"name": text[e["start"] : e["end"]], "span": [e["start"], e["end"]], "type": e["type"]} for e in entities]}
        for text, entities in zip(train["text"], train["entities"])
    ]


def main() -> None:
    from modeling_xlner.training.data import load_data, read_conll
    from modeling_xlner.training.trainer import take_train_samples
    from modeling_xlner.training.translate_train import write_span_jsonl
    from modeling_xlner.training.word_space import load_transliterations
    from modeling_xlner.transfer_xlner import DEFAULT_LABEL_MAP

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="the Japanese span-JSON training file")
    parser.add_argument("--conll", required=True, help="the English CoNLL-2003 training file (the names)")
    parser.add_argument("--size", type=int, default=None, help="the seeded subset's size (None: every text)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the subset (as --max-train-samples) and of the draws")
    parser.add_argument("--copies", type=int, default=3, help="swapped copies of each text")
    parser.add_argument("--rate", type=float, default=0.5, help="chance that a mention of a swapped type is swapped")
    parser.add_argument("--lexicon", choices=("english", "self"), default="english")
    parser.add_argument("--transliterations", default="alkana", help="alkana, or a TSV file english<TAB>katakana")
    parser.add_argument("--output", required=True, help="the span-JSONL file to write")
    args = parser.parse_args()
    train = take_train_samples(load_data(args.train), args.size, args.seed)
    types = one_to_one_types(DEFAULT_LABEL_MAP)
    if args.lexicon == "english":
        mentions = conll_mentions(read_conll(args.conll))
        lexicon = english_entity_lexicon(mentions, load_transliterations(args.transliterations), types)
    else:
        lexicon = own_lexicon(train, types)
    swapped_train, swapped = swap_entities(train, lexicon, args.copies, args.rate, args.seed)
    write_span_jsonl(span_records(swapped_train), args.output)
    print(json.dumps({"lexicon": lexicon.record(), "texts": len(swapped_train), "swapped_mentions": swapped}, ensure_ascii=False))


if __name__ == "__main__":
    main()
