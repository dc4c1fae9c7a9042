"""`xlner predict --workers N`: throughput and memory of N processes against one, and identical output.

Command (run from the repository root; the figures in the report come from exactly this):

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_predict_workers.py --model runs/accuracy/jafull__default__seed1 \\
        --json runs/bench_predict_workers.json

It writes an input of `--sentences` (100,000) Stockmark sentences, the test texts of `--data`
repeated, as JSON lines in a temporary folder, then runs `python -m modeling_xlner.cli predict
--input ... --output ... --workers N --threads T` for each N of `--workers` (1 2), T = `--threads`
(1) torch threads per process. For each run: sentences per second over the whole command (model
loading and worker start included), seconds until the first output line, sentences per second
after it (the steady rate: output bytes written since then, as a share of all, over the time since
then; the input repeats the same texts, so bytes track sentences), and the memory of the whole
process tree (the command, its workers and multiprocessing's helper), sampled from /proc every
`--sample-every` seconds: the peak of the summed RSS (which counts pages shared between processes,
such as the mmapped MeCab dictionary, once per process), the peak of the summed PSS (shared pages
split between their processes), and the PSS median in each quarter of the run (the first quarter
holds the loading; a flat memory keeps the later quarters alike). CPU seconds of the whole tree
(getrusage of reaped children) per 1,000 sentences too: unlike the rates, they hardly move when other
jobs share the cores, so they tell the workers' overhead from the machine's load. The outputs must be
byte-identical to the first run's; the benchmark fails otherwise.
Prints a table and writes a JSON report (`--json`), with the machine's cores and load average: on
a shared machine the rates move with the load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ner-wikipedia-ja" / "test.jsonl"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a saved model folder, e.g. runs/accuracy/jafull__default__seed1")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help='JSON lines with a "text" each (Stockmark test)')
    parser.add_argument("--sentences", type=int, default=100_000, help="input size: the texts of --data repeated")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to run; ratios are to the first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--sample-every", type=float, default=0.25, help="seconds between memory samples")
    parser.add_argument("--json", default="runs/bench_predict_workers.json", help="where to write the report")
    return parser.parse_args(argv)


def write_input(data: Path, sentences: int, path: Path) -> None:
    """`sentences` JSON lines, the texts of `data` over and over."""
    with open(data, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    with open(path, "w", encoding="utf-8") as out:
        for index in range(sentences):
            out.write(json.dumps({"text": texts[index % len(texts)]}, ensure_ascii=False) + "\n")


def process_tree(root: int) -> list[int]:
    """`root` and its descendants, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def rss_and_pss_bytes(pid: int) -> tuple[int, int]:
    """Resident and proportional set sizes of `pid` (0, 0 once it is gone)."""
    sizes = {"Rss:": 0, "Pss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
            for line in handle:
                name, _, rest = line.partition(" ")
                if name in sizes:
                    sizes[name] = int(rest.split()[0]) * 1024  # kB
    except (OSError, IndexError, ValueError):
        pass  # gone between listing and reading
    return sizes["Rss:"], sizes["Pss:"]


def run_predict(model: str, source: Path, output: Path, workers: int, threads: int, sample_every: float) -> dict:
    """One `xlner predict` run, timed and sampled."""
    command = [
        sys.executable, "-m", "modeling_xlner.cli", "predict", "--model", model, "--input", str(source),
        "--output", str(output), "--workers", str(workers), "--threads", str(threads), "--no-progress",
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                   "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    errors = output.with_suffix(".stderr")
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    with open(errors, "wb") as stderr:  # a file, not a pipe: a full pipe would stall the command
        process = subprocess.Popen(command, env=environment, stderr=stderr)
        samples = _sample_until_done(process, output, start, sample_every)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"xlner predict --workers {workers} failed ({process.returncode}):\n{errors.read_text()[-3000:]}")
    cpu_seconds = _children_cpu_seconds() - cpu_before  # workers are reaped by the command, the command by us
    return {"workers": workers, "threads": threads, "seconds": seconds, "cpu_seconds": cpu_seconds, "samples": samples}


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sample_until_done(process: subprocess.Popen, output: Path, start: float, every: float) -> list[dict]:
    """Every `every` seconds until `process` ends: seconds, the tree's summed RSS and PSS, its size, output bytes."""
    samples = []
    while process.poll() is None:
        tree = process_tree(process.pid)
        sizes = [rss_and_pss_bytes(pid) for pid in tree]
        samples.append({
            "at": time.perf_counter() - start, "rss": sum(rss for rss, _ in sizes), "pss": sum(pss for _, pss in sizes),
            "processes": len(tree), "output_bytes": output.stat().st_size if output.exists() else 0,
        })  # fmt: skip
        time.sleep(every)
    return samples


def steady_rate(samples: list[dict], sentences: int, seconds: float, output_bytes: int) -> tuple[float | None, float | None]:
    """(seconds to the first output, sentences per second after it), from the output's growth."""
    first = next((sample for sample in samples if sample["output_bytes"] > 0), None)
    if first is None or seconds <= first["at"]:
        return None, None
    remaining = sentences * (output_bytes - first["output_bytes"]) / output_bytes
    return first["at"], (remaining / (seconds - first["at"]) if remaining else None)  # None: written all at once


def memory_summary(samples: list[dict], seconds: float) -> dict:
    mib = 1 << 20
    quarters = [[s["pss"] for s in samples if q * seconds / 4 <= s["at"] < (q + 1) * seconds / 4] for q in range(4)]
    return {
        "peak_tree_rss_mib": max((s["rss"] for s in samples), default=0) / mib,
        "peak_tree_pss_mib": max((s["pss"] for s in samples), default=0) / mib,
        "tree_pss_mib_median_by_quarter": [statistics.median(q) / mib if q else None for q in quarters],
        "max_processes": max((s["processes"] for s in samples), default=0),
        "memory_samples": len(samples),
    }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def print_table(report: dict) -> None:
    print(f"\n{report['sentences']:,} sentences, {report['threads']} torch thread(s) per process, "
          f"{report['cpu_count']} cores, load average before {report['load_average_before']}")  # fmt: skip
    print("| workers | sentences/s (whole command) | ratio | seconds | first output s | sentences/s after it | ratio |"
          " CPU s per 1,000 | peak tree RSS / PSS MiB | tree PSS by quarter MiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in report["runs"]:
        quarters = " / ".join("-" if q is None else f"{q:,.0f}" for q in run["tree_pss_mib_median_by_quarter"])
        first, steady, steady_ratio = (
            "-" if run[key] is None else f"{run[key]:{form}}"
            for key, form in (("first_output_s", ".1f"), ("steady_sentences_per_s", ",.0f"), ("steady_ratio", ".2f"))
        )
        print(f"| {run['workers']} | {run['sentences_per_s']:,.0f} | {run['ratio']:.2f} | {run['seconds']:.1f} | {first} | "
              f"{steady} | {steady_ratio} | {1000 * run['cpu_seconds'] / report['sentences']:.2f} | {run['peak_tree_rss_mib']:,.0f} / {run['peak_tree_pss_mib']:,.0f} | {quarters} |")  # fmt: skip
    print(f"outputs identical: {report['outputs_identical']}")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    report = {"model": args.model, "data": args.data, "sentences": args.sentences, "threads": args.threads,
              "cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()], "runs": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="xlner-bench-workers-") as folder:
        source = Path(folder) / "input.jsonl"
        write_input(Path(args.data), args.sentences, source)
        digests = []
        for workers in args.workers:
            output = Path(folder) / f"output-{workers}.jsonl"
            run = run_predict(args.model, source, output, workers, args.threads, args.sample_every)
            if count_lines(output) != args.sentences:
                raise SystemExit(f"--workers {workers}: {count_lines(output)} output lines for {args.sentences} sentences")
            samples = run.pop("samples")
            run["sentences_per_s"] = args.sentences / run["seconds"]
            run["first_output_s"], run["steady_sentences_per_s"] = steady_rate(
                samples, args.sentences, run["seconds"], output.stat().st_size
            )
            run.update(memory_summary(samples, run["seconds"]))
            run["output_sha256"] = sha256(output)
            digests.append(run["output_sha256"])
            report["runs"].append(run)
            output.unlink()  # one output at a time on disk
    first = report["runs"][0]
    for run in report["runs"]:
        run["ratio"] = run["sentences_per_s"] / first["sentences_per_s"]
        steady = run["steady_sentences_per_s"], first["steady_sentences_per_s"]
        run["steady_ratio"] = steady[0] / steady[1] if None not in steady else None
    report["outputs_identical"] = len(set(digests)) == 1
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_table(report)
    if not report["outputs_identical"]:
        raise SystemExit("outputs differ between worker counts")
    return report


if __name__ == "__main__":
    main()
