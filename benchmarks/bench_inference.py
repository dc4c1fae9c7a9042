"""Inference speed of an XLNer model against GiNZA and a BERT-base stand-in, on the Stockmark test texts.

Command, from the repository root, with DIR a saved Japanese model (e.g. `xlner train --lang ja ...
--output-dir DIR`); the GiNZA peer needs `pip install ja-ginza ginza` (the `bench` extra):

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_inference.py --model DIR --threads 1 \
        --flat-memory-check 100000

It prints a table of sentences per second, the ratios to the peers, the thread count and the load
average (on a shared machine other processes slow every rate; compare rates from one run only).

Measured in one process, every system at the same torch thread count (`--threads`, default 1; the
OMP/MKL/OpenBLAS thread variables are set to the same number before numpy or torch is imported):

  (a) forward    our model's forward alone, batches of `--batch-size` (64) texts sorted by word count,
                 inputs tokenized and padded beforehand;
  (b) tokenizer  our tokenizer alone (`tokenizer(texts, return_offsets_mapping=True)`), with warm caches
                 (steady state) and cold ones (a freshly loaded tokenizer: every word type new);
  (c) pipeline   `pipeline("token-classification", model=DIR, trust_remote_code=True,
                 aggregation_strategy="simple")` on the raw texts, batch size `--batch-size`; once
                 tokenizing in the calling thread (num_workers=0, the default) and once in a background
                 thread while the model runs (num_workers=1, what `xlner predict` does);
  GiNZA          ja_ginza (from PyPI) with only the components its NER needs (tok2vec + ner; parser,
                 morphologizer, compound_splitter and bunsetu_recognizer excluded), `nlp.pipe`;
  BERT-base      a randomly initialised BertForTokenClassification of BERT-base size (12 layers, 768
                 hidden, 32,768 vocabulary) fed one token per character plus [CLS] and [SEP], as a
                 character-level Japanese BERT sees these texts; forward only, batches sorted by length,
                 on an evenly spaced subset of `--bert-sentences` texts (it is some 400 times slower).

  baseline       with `--baseline DIR`, (a) and (c) of a second saved model (say, the previous default's; or the
                 same model with `--baseline-revision REV`, whose remote code is then that of git revision REV),
                 in the same rounds: speed varies between days, so only a same-run ratio compares models;
Each rate is sentences per second over the whole set, the fastest of `--repeats` rounds after a warm-up;
in each round every measurement runs once, one after the other, so that changes in the machine's load
during the run do not favour one system.
With `--flat-memory-check N` the pipeline then streams N texts (the test texts repeated) and the
resident set size is sampled every `--rss-every` texts: the table shows it stays flat.
With `--profile` it also prints what bounds the forward: where one pass's time goes (torch.profiler),
its arithmetic per sentence, and the reference speeds of this machine at the same thread count.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ner-wikipedia-ja" / "test.jsonl"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved XLNer model directory (Japanese)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="JSON lines with a 'text' field")
    parser.add_argument("--threads", type=int, default=1, help="torch (and BLAS) threads for every system")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (the fastest counts)")
    parser.add_argument("--bert-sentences", type=int, default=64, help="texts timed for the BERT-base stand-in")
    parser.add_argument(
        "--baseline", metavar="DIR", help="a second saved model (e.g. the previous release's) timed in the same rounds"
    )
    parser.add_argument(
        "--baseline-revision", metavar="REV",
        help="run the baseline with the remote code of this git revision (e.g. HEAD~2): a same-run speed check of a code change",
    )  # fmt: skip
    parser.add_argument("--skip-ginza", action="store_true")
    parser.add_argument("--skip-bert", action="store_true")
    parser.add_argument("--flat-memory-check", type=int, default=0, metavar="N", help="stream N texts, sampling RSS")
    parser.add_argument("--rss-every", type=int, default=5000, metavar="K", help="sample RSS every K texts")
    parser.add_argument(
        "--keep-model-code", action="store_true",
        help="run the code files saved in --model (default: the model re-saved with this checkout's code)",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="also profile the forward (see above)")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    from thread_env import pin_threads  # before numpy / torch (/ thinc) are imported

    pin_threads(ARGS.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed(run) -> float:
    """Seconds one call of `run()` takes."""
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------------------------- systems
# Each `setup_*` loads a system and returns {measurement: (number of sentences, run)}, where `run()`
# returns the seconds its timed part took. `main` runs all of them round-robin, so that a change in the
# machine's load during the run affects every system alike, and keeps each one's fastest round.


def with_current_code(model_dir: str, revision: str | None = None) -> str:
    """A temporary copy of a saved model whose code files are this checkout's, or with `revision` those of
    that git revision (a saved model runs the remote code it was saved with, so an older model would
    otherwise time older code)."""
    import atexit
    import shutil
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from modeling_xlner import XLNerForTokenClassification, XLNerTokenizer

    copy = tempfile.mkdtemp(prefix="xlner-bench-")
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    XLNerForTokenClassification.from_pretrained(model_dir).save_pretrained(copy)
    XLNerTokenizer.from_pretrained(model_dir).save_pretrained(copy)
    if revision:
        import subprocess

        root = Path(__file__).resolve().parents[1]
        for code_file in Path(copy).glob("*.py"):  # remote code is flat: its files come from these two folders
            folder = next(f for f in ("modeling_xlner", "tokenization") if (root / f / code_file.name).is_file())
            show = ["git", "-C", str(root), "show", f"{revision}:{folder}/{code_file.name}"]
            shown = subprocess.run(show, capture_output=True, text=True)
            if shown.returncode:
                raise SystemExit(f"--baseline-revision {revision}: cannot read {folder}/{code_file.name}: {shown.stderr.strip()}")
            code_file.write_text(shown.stdout, encoding="utf-8")
    return copy


def setup_ours(args, texts: list[str], model_path: str | None = None) -> tuple[dict, object, dict, list]:
    from transformers import AutoTokenizer, pipeline

    revision = args.baseline_revision if model_path is not None else None  # a model_path: the baseline
    model_path = model_path or args.model
    model_dir = model_path if args.keep_model_code and not revision else with_current_code(model_path, revision)
    ner = pipeline(
        "token-classification", model=model_dir, trust_remote_code=True, aggregation_strategy="simple", device=-1
    )
    tokenizer, model = ner.tokenizer, ner.model.eval()
    n = len(texts)

    def cold_tokenizer() -> float:
        fresh = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True)
        fresh("東京タワー")  # loads the dictionaries; its few word types barely warm the caches
        return timed(lambda: fresh(texts, return_offsets_mapping=True))

    # (a) forward alone, on batches sorted by word count, tokenized and padded beforehand.
    encoding = tokenizer(texts, return_offsets_mapping=True)
    lengths = [len(ids) for ids in encoding["input_ids"]]
    features = [key for key in tokenizer.model_input_names if key in encoding and key != "attention_mask"]
    batches = [
        tokenizer.pad(
            [{key: encoding[key][i] for key in features} for i in batch],
            return_tensors="pt",
        )
        for batch in length_batches(lengths, args.batch_size)
    ]

    def forward():
        with torch.inference_mode():
            for batch in batches:
                model(**batch)

    runs = {
        "forward": (n, lambda: timed(forward)),
        "tokenizer": (n, lambda: timed(lambda: tokenizer(texts, return_offsets_mapping=True))),
        "tokenizer_cold": (n, cold_tokenizer),
        "pipeline": (n, lambda: timed(lambda: ner(texts, batch_size=args.batch_size))),
        "pipeline_worker": (n, lambda: timed(lambda: ner(texts, batch_size=args.batch_size, num_workers=1))),
    }
    return runs, ner, {"words_per_sentence": sum(lengths) / n}, batches


def forward_flops(config, batch) -> dict[str, int]:
    """Floating-point operations (multiply and add counted apart) of the matrix products of one forward,
    as the inference code computes them: word types de-duplicated per batch, bigram input products
    once per distinct bigram."""
    words = int(batch["attention_mask"].sum())
    char_ids = batch["char_ids"].flatten(0, 1)
    unique_words = torch.unique(char_ids[(char_ids != 0).any(dim=1)], dim=0)
    unique_bigrams = len(torch.unique(unique_words[unique_words != 0]))
    context_input = config.word_embedding_dim + 2 * config.char_hidden_size + config.shape_embedding_dim
    gates, char_gates = 4 * config.context_hidden_size, 4 * config.char_hidden_size
    char_steps = int((unique_words != 0).sum())
    return {  # bi-LSTMs: the factor 4 = 2 directions x (multiply, add)
        "context input": 4 * words * context_input * gates,
        "context recurrent": 4 * words * config.context_hidden_size * gates,
        "char input": 4 * unique_bigrams * config.bigram_embedding_dim * char_gates,
        "char recurrent": 4 * char_steps * config.char_hidden_size * char_gates,
        "classifier": 2 * words * 2 * config.context_hidden_size * config.num_labels,
    }


def profile_forward(model, batches: list, n_texts: int, forward_rate: float) -> dict:
    """Where one forward pass over the set spends its time, its arithmetic, and what this machine's one
    large matmul and elementwise tanh / sigmoid reach at the same thread count."""
    from torch.profiler import profile

    with torch.inference_mode(), profile() as profiler:
        for batch in batches:
            model(**batch)
    events = sorted(profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
    total_us = sum(event.self_cpu_time_total for event in events)
    ops = [(event.key, event.count, event.self_cpu_time_total / 1e3) for event in events[:10]]
    flops: dict[str, float] = {}
    for batch in batches:
        for part, count in forward_flops(model.config, batch).items():
            flops[part] = flops.get(part, 0) + count / n_texts

    def seconds_per_call(run, calls: int) -> float:
        run()
        start = time.perf_counter()
        for _ in range(calls):
            run()
        return (time.perf_counter() - start) / calls

    square = torch.randn(2048, 2048)
    gates = torch.randn(2, 64, 4 * model.config.context_hidden_size)
    matmul_s = seconds_per_call(lambda: square @ square, 10)
    return {
        "profiled_ms": total_us / 1e3,
        "ops": ops,
        "mflop_per_sentence": {part: count / 1e6 for part, count in flops.items()},
        "gflops_at_forward_rate": sum(flops.values()) * forward_rate / 1e9,
        "matmul_2048_gflops": 2 * 2048**3 / matmul_s / 1e9,
        "tanh_ns_per_value": seconds_per_call(lambda: torch.tanh(gates), 1000) / gates.numel() * 1e9,
        "sigmoid_ns_per_value": seconds_per_call(lambda: torch.sigmoid(gates), 1000) / gates.numel() * 1e9,
        "elementwise_shape": list(gates.shape),
    }


def setup_ginza(args, texts: list[str]) -> tuple[dict, dict]:
    import spacy

    spacy.require_cpu()
    excluded = ["parser", "morphologizer", "compound_splitter", "bunsetu_recognizer", "attribute_ruler"]
    nlp = spacy.load("ja_ginza", exclude=excluded)
    n_entities = sum(len(doc.ents) for doc in nlp.pipe(texts[:32]))
    runs = {"ginza": (len(texts), lambda: timed(lambda: list(nlp.pipe(texts, batch_size=args.batch_size))))}
    return runs, {"components": list(nlp.pipe_names), "entities_in_first_32": n_entities}


def setup_bert(args, texts: list[str], num_labels: int) -> tuple[dict, dict]:
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=32768, num_labels=num_labels)  # BERT-base: 12 x 768, 12 heads, 3072
    model = BertForTokenClassification(config).eval()
    step = max(1, len(texts) // max(1, args.bert_sentences))
    subset = texts[::step][: args.bert_sentences]
    lengths = [len(text) + 2 for text in subset]  # one token per character, plus [CLS] and [SEP]
    generator = torch.Generator().manual_seed(0)
    batches = []
    for batch in length_batches(lengths, args.batch_size):
        width = max(lengths[i] for i in batch)
        ids = torch.randint(5, config.vocab_size, (len(batch), width), generator=generator)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for row, i in enumerate(batch):
            mask[row, : lengths[i]] = 1
        batches.append({"input_ids": ids * mask, "attention_mask": mask})

    def forward():
        with torch.inference_mode():
            for batch in batches:
                model(**batch)

    info = {
        "sentences": len(subset),
        "chars_per_sentence": sum(lengths) / len(subset),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return {"bert": (len(subset), lambda: timed(forward))}, info


def run_rounds(runs: dict, repeats: int) -> dict[str, float]:
    """Sentences per second of each measurement: one warm-up, then `repeats` round-robin rounds; fastest."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for name, (_, run) in runs.items():
        run()
    for round_number in range(repeats):
        for name, (_, run) in runs.items():
            seconds[name].append(run())
        print(f"round {round_number + 1}/{repeats}: "
              + ", ".join(f"{name} {runs[name][0] / seconds[name][-1]:.1f}/s" for name in runs),
              file=sys.stderr, flush=True)  # fmt: skip
    return {name: runs[name][0] / min(times) for name, times in seconds.items()}


def flat_memory_check(ner, texts: list[str], total: int, every: int, batch_size: int) -> dict:
    def stream():
        for i in range(total):
            yield texts[i % len(texts)]

    gc.collect()
    try:  # reset the kernel's peak-RSS counter (VmHWM), so that the peak is this check's own
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
    samples = [(0, rss_mib())]
    start = time.perf_counter()
    n_entities = 0
    for done, entities in enumerate(ner(stream(), batch_size=batch_size), start=1):
        n_entities += len(entities)
        if done % every == 0 or done == total:
            samples.append((done, rss_mib()))
    seconds = time.perf_counter() - start
    return {"texts": total, "seconds": seconds, "rate": total / seconds, "samples": samples, "peak_rss_mib": peak_rss_mib(), "entities": n_entities}


# ---------------------------------------------------------------------------------- report


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    with open(args.data, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    n = len(texts)
    print(f"{n} texts from {args.data}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"{os.cpu_count()} CPU(s) visible; batch size {args.batch_size}; fastest of {args.repeats} rounds", flush=True)  # fmt: skip

    load_before = os.getloadavg()
    runs, ner, ours_info, forward_batches = setup_ours(args, texts)
    # Before the peers are loaded, so that the RSS is our pipeline's alone.
    memory = None
    if args.flat_memory_check:
        memory = flat_memory_check(ner, texts, args.flat_memory_check, args.rss_every, args.batch_size)
    baseline = None
    if args.baseline:
        baseline_runs, _, baseline, _ = setup_ours(args, texts, args.baseline)
        runs.update({f"baseline_{name}": baseline_runs[name] for name in ("forward", "pipeline")})
    ginza = bert = None
    if not args.skip_ginza:
        ginza_runs, ginza = setup_ginza(args, texts)
        runs.update(ginza_runs)
    if not args.skip_bert:
        bert_runs, bert = setup_bert(args, texts, ner.model.config.num_labels)
        runs.update(bert_runs)
    rates = run_rounds(runs, args.repeats)
    ours = {key: rates[key] for key in ("forward", "tokenizer", "tokenizer_cold", "pipeline", "pipeline_worker")}
    ours.update(ours_info)
    if ginza:
        ginza["pipeline"] = rates["ginza"]
    if bert:
        bert["forward"] = rates["bert"]

    rows = [
        ("(a) XLNer forward only, batch %d" % args.batch_size, ours["forward"]),
        ("(b) XLNer tokenizer only, warm caches", ours["tokenizer"]),
        ("(b) XLNer tokenizer only, cold caches", ours["tokenizer_cold"]),
        ("(c) XLNer whole pipeline, raw text", ours["pipeline"]),
        ("(c) ... tokenizing in a background thread", ours["pipeline_worker"]),
    ]
    if baseline:
        baseline.update(forward=rates["baseline_forward"], pipeline=rates["baseline_pipeline"])
        label = Path(args.baseline).name + (f" @ {args.baseline_revision}" if args.baseline_revision else "")
        rows.append((f"baseline ({label}) forward only", baseline["forward"]))
        rows.append((f"baseline ({label}) whole pipeline", baseline["pipeline"]))
    if ginza:
        rows.append(("GiNZA NER only (%s)" % "+".join(ginza["components"]), ginza["pipeline"]))
    if bert:
        rows.append(("BERT-base stand-in, forward only (%d texts)" % bert["sentences"], bert["forward"]))
    width = max(len(name) for name, _ in rows)
    print()
    print(f"{'system':<{width}}  sentences/s")
    print(f"{'-' * width}  -----------")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>11.1f}")
    print()
    print(f"torch threads: {args.threads} (same for every system; OMP/MKL/OpenBLAS threads = {args.threads})")
    load_after = os.getloadavg()
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPU(s)"
          " (other processes' load slows every rate)")  # fmt: skip
    print(f"words per sentence (ours): {ours['words_per_sentence']:.1f}")
    if baseline:
        print(f"ratio forward  ours/baseline: {ours['forward'] / baseline['forward']:6.2f}x")
        print(f"ratio pipeline ours/baseline: {ours['pipeline'] / baseline['pipeline']:6.2f}x")
    if ginza:
        print(f"ratio pipeline ours/GiNZA:  {ours['pipeline'] / ginza['pipeline']:8.1f}x"
              f"  (background tokenizing: {ours['pipeline_worker'] / ginza['pipeline']:.1f}x)")
    if bert:
        print(f"ratio pipeline ours/BERT:   {ours['pipeline'] / bert['forward']:8.1f}x"
              f"  (background tokenizing: {ours['pipeline_worker'] / bert['forward']:.1f}x)")
        print(f"ratio forward  ours/BERT:   {ours['forward'] / bert['forward']:8.1f}x")

    if memory:
        samples = memory["samples"]
        after_first = next((rss for done, rss in samples if done >= min(args.rss_every, args.flat_memory_check)), samples[-1][1])
        rss_values = [rss for done, rss in samples[1:]]
        print()
        print(f"flat-memory check: {memory['texts']} texts streamed through the pipeline in "
              f"{memory['seconds']:.0f} s ({memory['rate']:.0f}/s)")  # fmt: skip
        print("  texts done   RSS MiB")
        for done, rss in samples:
            print(f"  {done:>10}  {rss:8.1f}")
        print(f"  RSS after first sample {after_first:.1f} MiB, at the end {samples[-1][1]:.1f} MiB, "
              f"max of samples {max(rss_values):.1f} MiB (median {statistics.median(rss_values):.1f}); "
              f"process peak RSS (VmHWM) {memory['peak_rss_mib']:.1f} MiB")  # fmt: skip

    profile = None
    if args.profile:
        profile = profile_forward(ner.model, forward_batches, n, ours["forward"])
        print()
        print(f"forward profile (one pass over the {n} texts, torch.profiler, {args.threads} thread(s)): "
              f"{profile['profiled_ms']:.1f} ms")  # fmt: skip
        print(f"  {'op':<28} {'calls':>6} {'self ms':>8} {'share':>6}")
        for name, calls, ms in profile["ops"]:
            print(f"  {name:<28} {calls:>6} {ms:>8.1f} {ms / profile['profiled_ms']:>6.0%}")
        parts = profile["mflop_per_sentence"]
        print(f"  arithmetic: {sum(parts.values()):.1f} MFLOP per sentence ("
              + ", ".join(f"{part} {mflop:.2f}" for part, mflop in parts.items())
              + f"), {profile['gflops_at_forward_rate']:.1f} GFLOP/s at the forward's rate")  # fmt: skip
        print(f"  this machine, {args.threads} thread(s): 2048x2048 matmul {profile['matmul_2048_gflops']:.1f} GFLOP/s; "
              f"on a {tuple(profile['elementwise_shape'])} tensor tanh {profile['tanh_ns_per_value']:.2f} ns, "
              f"sigmoid {profile['sigmoid_ns_per_value']:.2f} ns per value")  # fmt: skip

    report = {"threads": args.threads, "texts": n, "ours": ours, "baseline": baseline, "ginza": ginza, "bert": bert, "memory": memory,
              "profile": profile}  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, ensure_ascii=False)
    return report


if __name__ == "__main__":
    main(ARGS)
