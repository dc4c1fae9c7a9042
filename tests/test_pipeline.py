"""The token-classification pipeline (modeling_xlner/pipeline_xlner.py) on raw text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import pipeline

from modeling_xlner.training.data import word_tags_to_spans
from tokenization.segmentation import split_long_text

from xlner_test_models import JA_DATA, random_model_dir, read_jsonl, trained_model_dir

STRATEGIES = ["none", "simple", "first", "average", "max"]
GROUPING = ["simple", "first", "average", "max"]

JA_TEXTS = [
    "大谷翔平はロサンゼルス・エンゼルスに所属する野球選手である。",
    "株式会社ナムコに入社し、ファミスタ'88等の作曲を手掛ける。",
    "1947年、ペイン陸軍飛行場の管理はアメリカ空軍に移管された。",
    "東京",
]
EN_TEXTS = [
    "EU rejects German call to boycott British lamb.",
    "Peter Blackburn met  the U.S. envoy in New York on Tuesday.",
    "Nadim Ladki",
]
BAD_INPUTS = [
    "",
    " ",
    " \t\n\u3000 ",
    "👍🏽 東京に行った 🇯🇵 👨\u200d👩\u200d👧",
    "\x00\x01東京\x7f\u200b大阪\ufeff\u202e京都\x1b[31m",
    "iPhone15を買ったAppleファンがMicrosoftの株を売却、NTTドコモも。",
    "ｿﾆｰｸﾞﾙｰﾌﾟとﾊﾟﾅｿﾆｯｸが提携",
    "ＩＢＭとＮＥＣ、ＵＳＡの１９９６年",
    "e\u0301cole ﾃﾞｼﾞﾀﾙ ㍿ナムコ ㌔ ﬁ Å",
    "\ud800 lone surrogate \udfff",
    "葛󠄀城市 ❤️ 〰️",
    "\n\n\n",
]


@pytest.fixture(scope="module")
def ner_ja():
    return pipeline("token-classification", model=random_model_dir("ja"), trust_remote_code=True)


@pytest.fixture(scope="module")
def ner_en():
    return pipeline("token-classification", model=random_model_dir("en"), trust_remote_code=True)


def model_spans(ner, text: str) -> list[tuple[int, int, str]]:
    """What `xlner evaluate` does: the model's `decode` of `model(**tokenizer(text))`, then word_tags_to_spans."""
    encoding = ner.tokenizer([text], return_offsets_mapping=True, return_tensors="pt")
    offsets = [tuple(pair) for pair in encoding.pop("offset_mapping")[0].tolist()]
    if not offsets:
        return []
    with torch.inference_mode():
        best = ner.model.decode(ner.model(**encoding).logits, encoding["attention_mask"])[0]
    return word_tags_to_spans(offsets, [ner.model.config.id2label[i] for i in best])


def assert_same(got: list[list[dict]], expected: list[list[dict]]) -> None:
    """Same entities; scores equal up to float noise (batch composition changes the last bits)."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert [{k: v for k, v in e.items() if k != "score"} for e in a] == [
            {k: v for k, v in e.items() if k != "score"} for e in b
        ]
        assert [e["score"] for e in a] == pytest.approx([e["score"] for e in b], abs=1e-5)


def check_entities(text: str, entities: list[dict], key: str = "entity_group", expected_at_least: int = 1) -> None:
    """At least `expected_at_least` entities; word == text[start:end], non-empty, in order, non-overlapping;
    scores are probabilities.

    Callers that allow "no entity" say so with `expected_at_least=0`: otherwise a pipeline that finds
    nothing would pass every check below.
    """
    assert len(entities) >= expected_at_least, f"{len(entities)} entities in {text[:80]!r}, expected at least {expected_at_least}"
    previous_end = 0
    for entity in entities:
        start, end = entity["start"], entity["end"]
        assert isinstance(start, int) and isinstance(end, int)
        assert previous_end <= start < end <= len(text), (entities, text)
        assert entity["word"] == text[start:end]
        assert 0.0 <= entity["score"] <= 1.0
        assert isinstance(entity[key], str) and entity[key] != "O"
        previous_end = end


# ------------------------------------------------------------------ loading and saving


def test_saved_model_carries_the_pipeline():
    folder = Path(random_model_dir("ja"))
    assert (folder / "pipeline_xlner.py").is_file()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["custom_pipelines"]["token-classification"] == {
        "impl": "pipeline_xlner.XLNerTokenClassificationPipeline",
        "pt": ["AutoModelForTokenClassification"],
        "type": "text",
    }


def test_pipeline_class_is_ours(ner_ja):
    assert type(ner_ja).__name__ == "XLNerTokenClassificationPipeline"
    # The remote copy, not the package: the saved folder works without the package.
    assert type(ner_ja).__module__.startswith("transformers_modules")


def test_task_is_inferred_from_the_config():
    ner = pipeline(model=random_model_dir("ja"), trust_remote_code=True, aggregation_strategy="simple")
    assert type(ner).__name__ == "XLNerTokenClassificationPipeline"
    entities = ner(JA_TEXTS[0])
    check_entities(JA_TEXTS[0], entities, expected_at_least=2)  # the random model tags 5 groups here
    # The very spans that the evaluation path (decode, then word_tags_to_spans) finds in this text.
    assert [(e["start"], e["end"], e["entity_group"]) for e in entities] == model_spans(ner, JA_TEXTS[0])


def test_fresh_process_without_the_package(tmp_path):
    """A saved folder runs in a new interpreter where `modeling_xlner` / `tokenization` cannot be imported."""
    script = textwrap.dedent(
        """
        import json, sys
        sys.modules["modeling_xlner"] = None  # any import of the package now fails
        sys.modules["tokenization"] = None
        from transformers import pipeline
        ner = pipeline("token-classification", model=sys.argv[1], trust_remote_code=True,
                       aggregation_strategy="simple")
        text = "大谷翔平はロサンゼルス・エンゼルスに所属する。"
        entities = ner(text)
        assert all(text[e["start"]:e["end"]] == e["word"] for e in entities), entities
        print(json.dumps({"cls": type(ner).__name__, "n": len(entities),
                          "batch": [len(x) for x in ner([text, "", text], batch_size=2)]}))
        """
    )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    environment["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    result = subprocess.run(
        [sys.executable, "-c", script, random_model_dir("ja")],
        capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["cls"] == "XLNerTokenClassificationPipeline"
    assert report["batch"][1] == 0 and report["batch"][0] == report["batch"][2] == report["n"]


def test_resaving_a_pipeline_model_keeps_the_pipeline(ner_ja, tmp_path):
    # pipeline() turns config.custom_pipelines' class names into classes; saving must still write JSON.
    ner_ja.model.save_pretrained(tmp_path)
    ner_ja.tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "pipeline_xlner.py").is_file()
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["custom_pipelines"]["token-classification"]["pt"] == ["AutoModelForTokenClassification"]
    reloaded = pipeline("token-classification", model=str(tmp_path), trust_remote_code=True)
    assert_same([reloaded(JA_TEXTS[0])], [ner_ja(JA_TEXTS[0])])


# ------------------------------------------------------------------ strategies and offsets


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_give_exact_offsets(ner_ja, ner_en, strategy):
    key = "entity" if strategy == "none" else "entity_group"
    for ner, texts in ((ner_ja, JA_TEXTS), (ner_en, EN_TEXTS)):
        found = 0
        for text in texts:
            entities = ner(text, aggregation_strategy=strategy)
            # Where the evaluation path finds entities in a text, the pipeline must find some too.
            check_entities(text, entities, key, expected_at_least=min(1, len(model_spans(ner, text))))
            found += len(entities)
        assert found >= len(texts)  # the random model tags plenty; an empty result would test nothing


def test_none_strategy_is_one_dict_per_tagged_word(ner_ja):
    text = JA_TEXTS[0]
    words = ner_ja.tokenizer.split_words(text)
    entities = ner_ja(text, aggregation_strategy="none")
    assert set(entities[0]) == {"entity", "score", "index", "word", "start", "end"}
    for entity in entities:
        word = words[entity["index"]]
        assert (entity["start"], entity["end"]) == (word.start, word.end)
        assert entity["entity"][:2] in ("B-", "I-")


@pytest.mark.parametrize("constrained", [True, False])
def test_grouping_equals_evaluation_spans(ner_ja, ner_en, constrained, monkeypatch):
    """Grouped entities are exactly seqeval's chunks of the model's decoded tags (what `xlner evaluate` scores)."""
    for ner in (ner_ja, ner_en):
        monkeypatch.setattr(ner.model.config, "constrained_decoding", constrained)
    for ner, texts in ((ner_ja, JA_TEXTS + BAD_INPUTS), (ner_en, EN_TEXTS + BAD_INPUTS)):
        for text in texts:
            expected = model_spans(ner, text)
            for strategy in GROUPING:
                entities = ner(text, aggregation_strategy=strategy)
                assert [(e["start"], e["end"], e["entity_group"]) for e in entities] == expected, (strategy, text)


def test_no_spaces_inserted_between_japanese_words(ner_ja):
    text = JA_TEXTS[0]
    for entity in ner_ja(text, aggregation_strategy="simple"):
        assert " " not in entity["word"]


def test_offsets_point_into_the_original_not_the_normalised_text(ner_ja):
    text = "ｿﾆｰｸﾞﾙｰﾌﾟの㍿ナムコとＩＢＭ"
    words = ner_ja.tokenizer.split_words(text)
    assert "".join(text[w.start : w.end] for w in words) == text.replace(" ", "")
    entities = ner_ja(text, aggregation_strategy="none")
    assert entities and all(e["word"] == text[e["start"] : e["end"]] for e in entities)


def test_ignore_labels(ner_ja):
    text = JA_TEXTS[0]
    everything = ner_ja(text, aggregation_strategy="simple", ignore_labels=[])
    assert "".join(e["word"] for e in everything) == "".join(text.split())  # all words, O groups included
    kinds = {e["entity_group"] for e in ner_ja(text, aggregation_strategy="simple")}
    some = sorted(kinds)[0]
    assert some not in {e["entity_group"] for e in ner_ja(text, aggregation_strategy="simple", ignore_labels=["O", some])}


def test_options_at_construction(ner_ja):
    ner = pipeline(
        "token-classification", model=random_model_dir("ja"), trust_remote_code=True,
        aggregation_strategy="max", batch_size=2,
    )  # fmt: skip
    assert_same([ner(JA_TEXTS[0])], [ner_ja(JA_TEXTS[0], aggregation_strategy="simple")])


def test_unsupported_options_are_clear(ner_ja):
    with pytest.raises(ValueError, match="aggregation_strategy"):
        ner_ja("東京", aggregation_strategy="longest")
    with pytest.raises(TypeError, match="list of words"):
        ner_ja([["東京", 3]], is_split_into_words=True)
    with pytest.raises(ValueError, match="stride"):
        ner_ja("東京", stride=4)
    with pytest.raises(ValueError, match="batch_size"):
        ner_ja(["東京"], batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        ner_ja(["東京"], num_workers=-1)


# ------------------------------------------------------------------ batches


def test_lists_and_batch_sizes_agree(ner_ja):
    texts = [JA_TEXTS[i % len(JA_TEXTS)] + "。" * (i % 3) for i in range(23)] + ["", " "]
    one_by_one = [ner_ja(text, aggregation_strategy="simple") for text in texts]
    for batch_size in (1, 4, 64):
        batched = ner_ja(texts, aggregation_strategy="simple", batch_size=batch_size, chunk_size=8)
        assert len(batched) == len(texts)
        assert_same(batched, one_by_one)


def test_tuples_generators_and_datasets_stream(ner_ja):
    texts = JA_TEXTS * 3
    expected = ner_ja(list(texts))
    assert_same(ner_ja(tuple(texts)), expected)
    lazy = ner_ja((text for text in texts), chunk_size=2, batch_size=2)
    assert not isinstance(lazy, list)
    assert_same(list(lazy), expected)
    from transformers.pipelines.pt_utils import KeyDataset

    dataset = [{"text": text} for text in texts]
    assert_same(list(ner_ja(KeyDataset(dataset, "text"))), expected)


def test_background_tokenization_gives_the_same_results(ner_ja):
    texts = [JA_TEXTS[i % len(JA_TEXTS)] * (i % 4 + 1) for i in range(50)] + ["", "\x00"]
    expected = ner_ja(texts, aggregation_strategy="simple", batch_size=8, chunk_size=16)
    # Same batches, tokenized in another thread: the very same logits, so exactly the same output.
    assert ner_ja(texts, aggregation_strategy="simple", batch_size=8, chunk_size=16, num_workers=1) == expected
    lazy = ner_ja(iter(texts), aggregation_strategy="simple", batch_size=8, chunk_size=16, num_workers=1)
    assert next(lazy) == expected[0]
    del lazy  # abandoned half-way: the worker thread must not hang the process


def test_errors_in_the_background_thread_reach_the_caller(ner_ja, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(type(ner_ja.tokenizer), "encode_words", broken)  # what preprocess calls
    with pytest.raises(RuntimeError, match="exploded"):
        ner_ja(JA_TEXTS * 5, batch_size=2, num_workers=1)


def test_pre_split_words(ner_ja):
    """A sentence given as words: one word per given word, offsets into the words joined by spaces."""
    words = ["大谷", "翔平", "は", "ロサンゼルス", "・", "エンゼルス", "に", "所属"]
    entities = ner_ja(words, is_split_into_words=True)
    assert entities == ner_ja([words], is_split_into_words=True)[0]
    joined = " ".join(words)
    assert entities and all(e["word"] == joined[e["start"] : e["end"]] == words[e["index"]] for e in entities)


def test_call_is_the_three_steps(ner_ja):
    """`__call__` is preprocess -> _forward -> postprocess; transformers' one-input loop (`run_single`) runs them too."""
    texts = JA_TEXTS + ["", "ﾃﾞｼﾞﾀﾙ" * 5]
    for strategy in ("none", "simple"):
        expected = ner_ja(texts, aggregation_strategy=strategy, max_chunk_chars=20)
        postprocess = {"aggregation_strategy": ner_ja._sanitize_parameters(aggregation_strategy=strategy)[2]["aggregation_strategy"]}
        by_hand = []
        for text in texts:
            pieces = ner_ja.preprocess(text, max_chunk_chars=20)
            tagged = ner_ja._forward([piece for piece in pieces if piece["input_ids"]]) if any(p["input_ids"] for p in pieces) else []
            assert all(piece in pieces for piece in tagged)
            by_hand.append(ner_ja.postprocess(pieces, **postprocess))
        single = [ner_ja.run_single(text, {"max_chunk_chars": 20}, {}, postprocess) for text in texts]
        for got in (by_hand, single):
            assert [[(e["start"], e["end"]) for e in x] for x in got] == [[(e["start"], e["end"]) for e in x] for x in expected]
    assert any(expected), "the random model tags something in these texts"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("text", BAD_INPUTS)
@pytest.mark.parametrize("strategy", ["none", "simple"])
def test_bad_input_gives_a_correct_result(ner_ja, ner_en, text, strategy):
    key = "entity" if strategy == "none" else "entity_group"
    for ner in (ner_ja, ner_en):
        entities = ner(text, aggregation_strategy=strategy)
        # A blank text has no entity; every other bad input here has words the random model tags.
        check_entities(text, entities, key, expected_at_least=min(1, len(model_spans(ner, text))))
        if not text.strip():
            assert entities == []


def test_empty_and_whitespace_skip_the_model(ner_ja, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the model must not run on texts without words")

    monkeypatch.setattr(ner_ja, "_forward", boom)
    assert ner_ja(["", " ", "\n\t\u3000"]) == [[], [], []]


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["nested"]])
def test_non_strings_in_a_batch_are_a_clear_error(ner_ja, bad):
    with pytest.raises(TypeError, match="input 1 is"):
        ner_ja(["東京", bad, "大阪"])


def test_none_alone_is_a_clear_error(ner_ja):
    with pytest.raises(TypeError, match="None"):
        ner_ja(None)


def test_long_text_is_chunked_at_sentence_boundaries(ner_ja, ner_en):
    sentence = "大谷翔平はロサンゼルス・エンゼルスに所属する野球選手である。"
    text = sentence * (20_000 // len(sentence) + 1)
    assert len(text) >= 20_000
    entities = ner_ja(text, aggregation_strategy="simple")
    # The random model tags 63 groups here (groups of one type merge across sentences).
    check_entities(text, entities, expected_at_least=30)
    # Pieces end at sentence ends, and each is tagged as if it were the whole input.
    pieces = split_long_text(text, 1000)
    assert len(pieces) > 20 and all(text[end - 1] == "。" and end - start <= 1000 for start, end in pieces)
    expected = []
    for start, end in pieces:
        for e in ner_ja(text[start:end], aggregation_strategy="simple"):
            expected.append((e["start"] + start, e["end"] + start, e["entity_group"]))
    assert [(e["start"], e["end"], e["entity_group"]) for e in entities] == expected

    english = " ".join(EN_TEXTS * 400)
    assert len(english) > 20_000
    check_entities(english, ner_en(english, aggregation_strategy="simple"), expected_at_least=1000)  # 2000 found


def test_long_text_without_boundaries(ner_ja):
    for text in ("あ" * 20_000, "ﾃﾞ" * 5_000, "e\u0301" * 3_000):
        entities = ner_ja(text, aggregation_strategy="simple", max_chunk_chars=700)
        check_entities(text, entities, expected_at_least=10)  # the random model tags 29, 2305 and 18 groups


def test_split_long_text():
    text = "一文目です。二文目です!  Third one. Fourth\nfifth"
    assert split_long_text(text, 100) == [(0, len(text))]
    pieces = split_long_text(text, 12)
    assert pieces[0] == (0, 12) and "".join(text[s:e] for s, e in pieces) == text
    assert all(e - s <= 12 for s, e in pieces)
    assert split_long_text("abcdef", 4) == [(0, 4), (4, 6)]
    assert split_long_text("abc\u0301\u0302def", 4) == [(0, 2), (2, 6), (6, 8)]
    assert split_long_text("葛\U000e0100" * 3, 3) == [(0, 2), (2, 4), (4, 6)]
    with pytest.raises(ValueError):
        split_long_text("abc", 0)


# ------------------------------------------------------------------ property


@settings(max_examples=int(os.environ.get("XLNER_PROPERTY_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=st.characters(codec=None, categories=None), max_size=80)
    | st.text(alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Co", "Cn", "Mn", "Me", "Zs", "Lo"]), max_size=40)
    | st.text(alphabet="あいうアイウ漢字東京ｱｲｳｰﾞﾟＡＢ１２ AB.。!?\n\u3000\u0301\u200d", max_size=80),
    strategy=st.sampled_from(STRATEGIES),
    max_chunk_chars=st.sampled_from([1, 7, 1000]),
)
def test_property_any_unicode_text(ner_ja, ner_en, text, strategy, max_chunk_chars):
    key = "entity" if strategy == "none" else "entity_group"
    for ner in (ner_ja, ner_en):
        entities = ner(text, aggregation_strategy=strategy, max_chunk_chars=max_chunk_chars)
        check_entities(text, entities, key, expected_at_least=0)  # arbitrary text: no entity is a valid answer


# ------------------------------------------------------------------ scores on real data


@pytest.mark.slow
def test_pipeline_f1_equals_evaluate_f1(shared_data):
    """On the Stockmark test texts, pipeline entities score exactly as `xlner evaluate` scores the model."""
    from modeling_xlner.training.metric import load_span_metric
    from modeling_xlner.training.evaluation import evaluate_model

    folder = trained_model_dir()
    ner = pipeline("token-classification", model=folder, trust_remote_code=True, aggregation_strategy="simple")
    test_file = JA_DATA / "test.jsonl"
    records = read_jsonl(test_file)
    texts = [record["text"] for record in records]
    gold = [[f"{e['span'][0]}:{e['span'][1]}:{e['type']}" for e in record["entities"]] for record in records]
    metric = load_span_metric()
    evaluated = evaluate_model(ner.model, ner.tokenizer, str(test_file), batch_size=64)
    assert evaluated["n_pred"] > 50  # a model that predicts entities, or the comparison means little
    command = [sys.executable, "-m", "modeling_xlner.cli", "evaluate", "--model", folder, "--data", str(test_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cli = json.loads(result.stdout.strip().splitlines()[-1])
    assert (cli["f1"], cli["n_pred"]) == (evaluated["f1"], evaluated["n_pred"])

    for batch_size in (64, 128, 7):
        predictions = [
            [f"{e['start']}:{e['end']}:{e['entity_group']}" for e in entities]
            for entities in ner(texts, batch_size=batch_size)
        ]
        scores = metric.compute(predictions=predictions, references=gold)
        assert scores["n_pred"] == evaluated["n_pred"]
        assert scores["f1"] == evaluated["f1"], batch_size
    print(f"test F1 {evaluated['f1']:.4f} ({evaluated['n_pred']} predicted, {evaluated['n_gold']} gold)")


@pytest.mark.slow
def test_trained_model_finds_the_known_entities(shared_data):
    """Entities a reader labels in these texts (Namco is a company, the US Air Force a political organisation),
    found by the small trained model with their exact offsets: a pipeline that drops or shifts entities fails."""
    ner = pipeline("token-classification", model=trained_model_dir(), trust_remote_code=True, aggregation_strategy="simple")
    known = {JA_TEXTS[1]: ("株式会社ナムコ", "法人名"), JA_TEXTS[2]: ("アメリカ空軍", "政治的組織名")}
    for text, (word, kind) in known.items():
        entities = ner(text)
        check_entities(text, entities)
        start = text.index(word)
        found = [(e["start"], e["end"], e["word"], e["entity_group"]) for e in entities]
        assert (start, start + len(word), word, kind) in found, found
