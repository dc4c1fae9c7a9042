"""How many words find a pretrained vector, with the rows a model keeps: training words only, or also the
most frequent rows (what `xlner train --vector-rows N` keeps); and how many words are out of vocabulary.

Command, from the repository root (needs the `vectors` extra):

    python benchmarks/vector_coverage.py --data-dir ../shared/data [--vector-rows 100000]

For each language (Stockmark ja with chiVe, our fugashi + unidic-lite words; CoNLL-2003 en with GloVe 6B
50d) and split it prints the share of word tokens (and of distinct words) that are in the training word
vocabulary, that have a vector, and that have neither (out of vocabulary for the model), once with the
rows of the training words only and once with the default extra rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modeling_xlner import XLNerTokenizer
from modeling_xlner.training.data import read_conll
from modeling_xlner.training.features import select_vector_rows, training_words
from modeling_xlner.training.vectors import load_vectors


def read_texts(path: Path) -> tuple[list, bool]:
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line)["text"] for line in handle if line.strip()], False
    return [sentence["tokens"] for sentence in read_conll(path)], True


def shares(tokenizer: XLNerTokenizer, texts: list, is_split: bool) -> dict[str, float]:
    """Token and type shares: in the word vocabulary, with a vector, with neither."""
    encoding = tokenizer(texts, is_split_into_words=is_split, return_offsets_mapping=True)
    counts = {"tokens": [0, 0, 0, 0], "types": [0, 0, 0, 0]}
    seen: set[str] = set()
    for text, ids, rows, offsets in zip(texts, encoding["input_ids"], encoding["vector_ids"], encoding["offset_mapping"]):
        joined = " ".join(text) if is_split else text
        for word_id, row, (start, end) in zip(ids, rows, offsets):
            flags = [1, word_id != 1, row != 0, word_id == 1 and row == 0]
            for index, flag in enumerate(flags):
                counts["tokens"][index] += flag
            if joined[start:end] not in seen:
                seen.add(joined[start:end])
                for index, flag in enumerate(flags):
                    counts["types"][index] += flag
    result = {}
    for unit, (total, known, vector, unknown) in counts.items():
        result[unit] = {"n": total, "in_vocabulary": known / total, "with_vector": vector / total, "oov": unknown / total}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--vector-rows", type=int, default=100_000, help="extra most frequent rows (the training default)")
    args = parser.parse_args()
    data = Path(args.data_dir)
    setups = {
        "ja": ("chive", data / "ner-wikipedia-ja" / "train.jsonl", data / "ner-wikipedia-ja" / "test.jsonl"),
        "en": ("glove-6b-50d", data / "conll2003" / "train.txt", data / "conll2003" / "test.txt"),
    }
    for language, (name, train_path, test_path) in setups.items():
        vectors = load_vectors(name)
        train_texts, is_split = read_texts(train_path)
        test_texts, _ = read_texts(test_path)
        words = training_words(train_texts, language, is_split)
        print(f"\n{language}: {name}, {vectors.num_rows} rows x {vectors.dim}, {len(vectors.rows)} keys")
        for label, extra in (("training words' rows only", 0), (f"+ {args.vector_rows} most frequent rows", args.vector_rows)):
            rows = select_vector_rows(vectors, words, extra)
            tokenizer = XLNerTokenizer.from_corpus(train_texts, language=language, is_split_into_words=is_split, vector_vocab=rows.vocab)
            print(f"  {label}: {len(rows.matrix)} rows kept, {len(rows.vocab)} keys, {rows.matrix.nbytes / 2**20:.1f} MiB")
            for split, texts in (("train", train_texts), ("test", test_texts)):
                result = shares(tokenizer, texts, is_split)
                for unit, values in result.items():
                    print(f"    {split:5} {unit:6} n={values['n']:>7}  in vocabulary {values['in_vocabulary']:6.1%}  "
                          f"with vector {values['with_vector']:6.1%}  neither (OOV) {values['oov']:6.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
